/**
 * Test doubles for lifecycle properties: a client that records its own destruction, and a credentials provider
 * that counts its calls and runs on Effect's clock. Neither stands in for an AWS service: the SDK's real error
 * handling is exercised in AwsError.test.ts and against real servers in integration.test.ts.
 */
import { assert } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, FastCheck as fc, Fiber, Option, Ref, Runtime, TestClock } from "effect"
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

/** Concurrent calls for a property: how long each one's request is held, and when its call is interrupted, if ever. */
export const heldCalls = fc.array(
  fc.record({
    hold: fc.integer({ min: 2, max: 100 }),
    interruptAt: fc.option(fc.integer({ min: 1, max: 99 }), { nil: undefined })
  }),
  { minLength: 1, maxLength: 30 }
)

/**
 * A request held for `hold` ms of the runtime's (test) time, then answered with `answer()`; when `signal` aborts
 * first, `onAbort` runs and the request fails with an `AbortError`, as the SDK's handlers do.
 */
export const heldRequest = <A>(
  runtime: Runtime.Runtime<never>,
  hold: number,
  signal: AbortSignal | undefined,
  answer: () => A,
  onAbort: () => void
): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const cancel = Runtime.runCallback(runtime)(Effect.sleep(hold), { onExit: () => resolve(answer()) })
    signal?.addEventListener("abort", () => {
      onAbort()
      cancel()
      reject(Object.assign(new Error("aborted"), { name: "AbortError" }))
    })
  })

/**
 * Interrupts the fiber of each call whose `interruptAt` comes strictly before its request ends, lets test time run
 * past every hold, and checks that exactly those calls had their requests `aborted` and that every other call
 * succeeded.
 */
export const interruptSome = (
  calls: ReadonlyArray<{ readonly hold: number; readonly interruptAt: number | undefined }>,
  fibers: ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>,
  aborted: ReadonlySet<number>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const interrupted = new Set(
      calls.flatMap(({ hold, interruptAt }, i) => interruptAt !== undefined && interruptAt < hold ? [i] : [])
    )
    yield* Effect.forEach(
      interrupted,
      (i) => Effect.fork(Effect.delay(Fiber.interrupt(fibers[i]!), calls[i]!.interruptAt!)),
      { discard: true }
    )
    yield* TestClock.adjust("200 millis")
    const exits = yield* Effect.forEach(fibers, Fiber.await)
    assert.deepStrictEqual([...aborted].sort((a, b) => a - b), [...interrupted].sort((a, b) => a - b))
    exits.forEach((exit, i) =>
      assert.strictEqual(Exit.isSuccess(exit), !interrupted.has(i), `call ${i} ended as it should`)
    )
  })
