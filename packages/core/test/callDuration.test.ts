import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Metric, TestClock } from "effect"
import { Credentials, ManagedClient, Metrics, Resilience, RetryPolicy } from "../src/index.js"
import { countingProvider, FakeClient, sdkError } from "./fixtures.js"

const durations = (operation: string) =>
  Effect.map(Metric.value(Metrics.callDuration("fake", operation)), (state) => state.count)

const call = (operation: string, run: () => Promise<string>, maxAttempts = 2) =>
  Effect.gen(function*() {
    const provider = yield* countingProvider()
    const managed = yield* ManagedClient.make({
      service: "fake",
      region: "us-east-1",
      build: (config) => new FakeClient(0, config.credentials.accessKeyId)
    }).pipe(Effect.provide(Credentials.layer({ provider })))
    return yield* Resilience.execute(managed, { name: operation, run }).pipe(
      Effect.provide(Layer.succeed(RetryPolicy.RetryPolicy, RetryPolicy.make({ maxAttempts })))
    )
  })

describe("aws_resilience_call_duration", () => {
  it.scoped("records a call the policy gave up on, retries included", () =>
    Effect.gen(function*() {
      const before = yield* durations("GivenUp")
      const fiber = yield* Effect.fork(Effect.either(call("GivenUp", () => Promise.reject(sdkError("Throttling")))))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Left")
      assert.strictEqual((yield* durations("GivenUp")) - before, 1)
    }))

  it.scoped("does not record a call that was interrupted", () =>
    Effect.gen(function*() {
      const before = yield* durations("Interrupted")
      const fiber = yield* Effect.fork(call("Interrupted", () => new Promise<string>(() => {})))
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.interrupt(fiber)
      assert.strictEqual((yield* durations("Interrupted")) - before, 0)
    }))
})
