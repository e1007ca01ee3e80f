/**
 * Test doubles for lifecycle properties: a client that records its own destruction, and a credentials provider
 * that counts its calls and runs on Effect's clock. Neither stands in for an AWS service: the SDK's real error
 * handling is exercised in AwsError.test.ts and against real servers in integration.test.ts.
 */
import { Clock, Duration, Effect, Fiber, Option, Ref, TestClock } from "effect"
import type { CredentialsProvider } from "../src/index.js"

export class FakeClient {
  destroyed = false
  constructor(readonly generation: number, readonly accessKeyId: string) {}
  destroy(): void {
    this.destroyed = true
  }
}

/** An error shaped as the SDK raises it for this AWS error code. */
export const sdkError = (name: string, status = 400): Error =>
  Object.assign(new Error(`${name} from the service`), { name, $metadata: { httpStatusCode: status, requestId: "r" } })

export interface CountingProvider extends CredentialsProvider.Provider {
  readonly calls: Effect.Effect<number>
}

/**
 * Each call issues a new key after `latency`; with `lifetime` the set expires that long after it was issued, with
 * `expiredBy` it had already expired that long before (a stale set, or a clock behind the provider's).
 */
export const countingProvider = (options: {
  readonly latency?: Duration.DurationInput
  readonly lifetime?: Duration.DurationInput
  readonly expiredBy?: Duration.DurationInput
  readonly fail?: Effect.Effect<boolean>
} = {}): Effect.Effect<CountingProvider> =>
  Effect.map(Ref.make(0), (calls) => ({
    name: "counting",
    calls: Ref.get(calls),
    load: Effect.gen(function*() {
      const n = yield* Ref.updateAndGet(calls, (k) => k + 1)
      if (options.latency) yield* Effect.sleep(options.latency)
      if (options.fail && (yield* options.fail)) return yield* Effect.fail(new Error("provider is down"))
      const now = yield* Clock.currentTimeMillis
      return {
        accessKeyId: `ASIAFAKE${String(n).padStart(8, "0")}`,
        secretAccessKey: `secret-${n}`,
        sessionToken: `token-${n}`,
        ...(options.lifetime ? { expiration: new Date(now + Duration.toMillis(options.lifetime)) } : {}),
        ...(options.expiredBy ? { expiration: new Date(now - Duration.toMillis(options.expiredBy)) } : {})
      }
    })
  }))

/**
 * Drives a fiber whose work mixes real promises with Effect sleeps: lets the event loop run, then moves the
 * TestClock, until the fiber is done (at most `steps` times).
 */
export const settle = <A, E>(fiber: Fiber.Fiber<A, E>, step: Duration.DurationInput = "1 second", steps = 600) =>
  Effect.gen(function*() {
    for (let i = 0; i < steps; i++) {
      if (Option.isSome(yield* Fiber.poll(fiber))) break
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })
