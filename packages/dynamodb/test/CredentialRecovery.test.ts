/**
 * Credential trouble absorbed on the real local stack (dynalite behind the SigV4 gateway, container credentials from
 * the testkit's authority): a source that lags a revocation, a new set refused while it propagates, revocations
 * every second, rejections the SDK cannot parse, a provider that fails for a moment, and a source lagging longer
 * than the call can wait. Every put is written once, and none fails because of credentials.
 */
import { AwsError, Credentials, RetryPolicy } from "@aws-resilience/core"
import { GroundTruth, LocalAws } from "@aws-resilience/testkit"
import { assert, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Schema } from "effect"
import { DynamoDB, EventStore } from "../src/index.js"

const Event = Schema.Struct({ id: Schema.String, amount: Schema.Number })
type Event = typeof Event.Type

let tables = 0
const store = Effect.gen(function*() {
  const store = yield* EventStore.make({ tableName: `recovery-${Date.now().toString(36)}-${tables++}`, schema: Event })
  yield* store.ensureTable
  return store
})

const Live = DynamoDB.layerConfig().pipe(
  Layer.provideMerge(Credentials.layer()),
  Layer.provideMerge(LocalAws.layerWithEnv())
)

/**
 * `n` puts, `concurrency` at a time, with `trouble` started once a tenth of them are done; then every event must be
 * stored exactly once and no put may have failed.
 */
const putsThrough = <R>(
  n: number,
  concurrency: number,
  trouble: Effect.Effect<void, never, R>
) =>
  Effect.gen(function*() {
    const events = yield* store
    let done = 0
    let started = false
    const exits = yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => ({ id: `e-${i}`, amount: i })),
      (event) =>
        Effect.gen(function*() {
          if (!started && done >= n / 10) {
            started = true
            yield* trouble
          }
          const exit = yield* Effect.exit(events.put(event))
          done++
          return exit
        }),
      { concurrency }
    )
    const failed = exits.filter(Exit.isFailure).map((exit) => Cause.pretty(exit.cause).split("\n")[0])
    assert.deepStrictEqual(failed, [], "no put failed")
    const items = yield* GroundTruth.scanTable(events.tableName)
    assert.strictEqual(items.length, n, "every event stored once")
  })

layer(Live, { excludeTestServices: true, timeout: "120 seconds" })("credential recovery on the local stack", (it) => {
  it.effect("a source that keeps serving the revoked set for 1 s: nothing fails, the source polled with backoff", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const before = yield* stack.authority.lagStats
      yield* putsThrough(300, 30, stack.authority.revoke({ lag: "1 second" }))
      const lag = yield* stack.authority.lagStats
      const fetches = lag.fetches - before.fetches
      const seconds = (lag.lagMs - before.lagMs) / 1000
      assert.isAbove(seconds, 0.9)
      // One poll when the rejection is seen, one 500 ms later; the next (at 1.5 s) brings the new set.
      assert.isAtMost(fetches / seconds, 2.5, `${fetches} source calls during ${seconds} s of lag`)
    }))

  it.effect("a new set refused for its first second is tried again, not given up", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      yield* putsThrough(300, 30, Effect.asVoid(stack.authority.rotate({ propagation: "1 second" })))
    }))

  it.effect("a revocation every 300 ms, 1,500 puts at 300 in flight: nothing fails", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      yield* Effect.scoped(putsThrough(1_500, 300, stack.authority.revokeEvery("300 millis")))
    }))

  it.effect("rejections answered as an HTML 403 with an XML body are credentials rejections, renewed and retried", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      yield* stack.gateway.setRejectionShape("malformed")
      yield* putsThrough(200, 20, stack.authority.revoke()).pipe(
        Effect.ensuring(stack.gateway.setRejectionShape("aws"))
      )
    }))

  it.effect("the credentials endpoint failing for 4 s during a renewal, default policy: nothing fails", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      yield* putsThrough(
        200,
        20,
        Effect.zipRight(stack.authority.outage({ mode: "fail", for: "4 seconds" }), stack.authority.revoke())
      )
    }))

  it.effect("a source lagging longer than the bound: the call fails in time, saying what it tried", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const events = yield* store
      yield* events.put({ id: "first", amount: 0 })
      yield* stack.authority.revoke({ lag: "20 seconds" })
      const fetches = yield* stack.authority.fetchCount
      const started = Date.now()
      const error = yield* Effect.flip(
        events.put({ id: "late", amount: 1 }).pipe(
          RetryPolicy.with(RetryPolicy.make({ credentialsTimeout: "3 seconds" }))
        )
      )
      const waited = Date.now() - started
      assert.strictEqual(error._tag, "CredentialsError")
      if (!AwsError.isCredentialsError(error)) return
      assert.deepStrictEqual(Option.fromNullable(error.recovery).pipe(Option.map((r) => r.sets)), Option.some(1))
      assert.include(error.message, "no usable credentials within 3.")
      assert.isAtLeast(waited, 2_900)
      // At 0, 0.5 and 1.5 s of the recovery, and perhaps at 3.5 s: never once per retry.
      assert.isAtMost((yield* stack.authority.fetchCount) - fetches, 4)
    }))
  // Last: the source still lags for a while after this test.
})
