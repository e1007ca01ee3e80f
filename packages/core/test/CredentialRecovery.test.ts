/**
 * Credential recovery bounded in time, on Effect's clock: a source that lags a revocation, new keys that propagate,
 * rotations faster than a backoff, a provider that fails once, a dead static key and a provider whose expiration is
 * not a date. "AWS" here is a table of keys with the times they become valid and stop being valid; the source is a
 * real `CredentialsProvider` on the same clock. The same cases against the real local stack are in the dynamodb
 * package's `CredentialRecovery.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Duration } from "effect"
import { Cause, Clock, Effect, Exit, FastCheck as fc, Fiber, Layer, Option } from "effect"
import type { AwsError, CredentialsProvider } from "../src/index.js"
import { Credentials, ManagedClient, Resilience, RetryPolicy } from "../src/index.js"
import { FakeClient, sdkError, settle } from "./fixtures.js"

interface Key {
  readonly id: string
  /** Test-clock ms from which AWS accepts it (issue time plus propagation). */
  readonly validFrom: number
  /** When AWS stops accepting it. */
  revokedAt: number
}

interface WorldOptions {
  /** After a revocation the source keeps serving the revoked key this long. */
  readonly lagMs?: number
  /** A new key is refused for this long after it is issued. */
  readonly propagationMs?: number
  /** The source's loads that fail (1-based), as an endpoint's hiccup. */
  readonly failingLoads?: ReadonlySet<number>
  /** What the source answers as the expiration. */
  readonly expiration?: unknown
  /** A static key: the source never has another one. */
  readonly static?: boolean
}

/** The source and AWS, on the test clock. */
const world = (options: WorldOptions = {}) =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const keys: Array<Key> = []
    let loads = 0
    const issue = () => {
      const key: Key = {
        id: `ASIAKEY${String(keys.length + 1).padStart(9, "0")}`,
        validFrom: keys.length === 0 ? 0 : now() + (options.propagationMs ?? 0),
        revokedAt: Infinity
      }
      keys.push(key)
      return key
    }
    issue()
    const current = () => keys[keys.length - 1]!
    const provider: CredentialsProvider.Provider = {
      name: "lagging",
      load: Effect.suspend(() => {
        loads++
        if (options.failingLoads?.has(loads)) return Effect.fail(new Error("the credentials endpoint answered 500"))
        // A revoked key is served until the lag has passed, then a new one is issued.
        if (!options.static && now() >= current().revokedAt + (options.lagMs ?? 0)) issue()
        return Effect.succeed({
          accessKeyId: current().id,
          secretAccessKey: "secret",
          sessionToken: `token-${current().id}`,
          ...(options.expiration !== undefined ? { expiration: options.expiration as Date } : {})
        })
      })
    }
    const accepts = (id: string) => {
      const key = keys.find((k) => k.id === id)
      return key !== undefined && now() >= key.validFrom && now() < key.revokedAt
    }
    return {
      provider,
      loads: () => loads,
      keys: () => keys.length,
      revoke: () => {
        current().revokedAt = now()
      },
      /** One request to AWS with the client's key. */
      send: (client: FakeClient): Promise<string> =>
        accepts(client.accessKeyId)
          ? Promise.resolve(client.accessKeyId)
          : Promise.reject(sdkError("UnrecognizedClientException"))
    }
  })

const setup = (options: WorldOptions = {}, policy: RetryPolicy.Options = {}) =>
  Effect.gen(function*() {
    const aws = yield* world(options)
    const managed = yield* ManagedClient.make({
      service: "fake",
      region: "us-east-1",
      build: (config) => new FakeClient(0, config.credentials.accessKeyId)
    }).pipe(Effect.provide(Credentials.layer({ provider: aws.provider })))
    const call = Resilience.execute(managed, { name: "Op", run: (client) => aws.send(client) }).pipe(
      Effect.provide(Layer.succeed(RetryPolicy.RetryPolicy, RetryPolicy.make(policy)))
    )
    return { aws, managed, call }
  })

/** Forks `n` calls at once and drives the clock until they are all done. */
const many = <A, E>(call: Effect.Effect<A, E>, n: number, step: Duration.DurationInput = "50 millis") =>
  Effect.gen(function*() {
    const fibers = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(Effect.exit(call)))
    return yield* settle(Fiber.all(fibers), step, 2_000)
  })

const failures = <A, E>(exits: ReadonlyArray<Exit.Exit<A, E>>) => exits.filter(Exit.isFailure)

describe("credential recovery, bounded in time", () => {
  it.effect.prop(
    "a source that lags a revocation: every call waits it out, and the source is polled with backoff",
    [fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 1, max: 60 })],
    ([lagMs, n]) =>
      Effect.scoped(Effect.gen(function*() {
        const { aws, call } = yield* setup({ lagMs })
        assert.isTrue(Exit.isSuccess((yield* many(call, 1))[0]!))
        const before = aws.loads()
        aws.revoke()
        const exits = yield* many(call, n)
        assert.deepStrictEqual(failures(exits).map((e) => Cause.pretty(e.cause)), [])
        // One poll when the rejection is seen, then at most the backoff's slots while the source lags, and one more.
        const polls = aws.loads() - before
        assert.isAtMost(polls, 2 + pollSlots(lagMs))
        assert.strictEqual(aws.keys(), 2, "the revoked key served again is no new set")
      })),
    { fastCheck: { numRuns: 25 } }
  )

  it.effect.prop(
    "a new key refused for its first moments is tried again within the bound, not given up",
    [fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 1, max: 40 })],
    ([propagationMs, n]) =>
      Effect.scoped(Effect.gen(function*() {
        const { aws, call } = yield* setup({ propagationMs })
        assert.isTrue(Exit.isSuccess((yield* many(call, 1))[0]!))
        aws.revoke()
        const exits = yield* many(call, n)
        assert.deepStrictEqual(failures(exits).map((e) => Cause.pretty(e.cause)), [])
        assert.strictEqual(aws.keys(), 2, "the new key was kept while it propagated")
      })),
    { fastCheck: { numRuns: 25 } }
  )

  it.effect.prop(
    "rotations faster than any backoff: calls across them all succeed",
    [fc.integer({ min: 100, max: 1_000 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 0, max: 300 })],
    ([everyMs, rotations, lagMs]) =>
      Effect.scoped(Effect.gen(function*() {
        const { aws, call } = yield* setup({ lagMs })
        const fibers = []
        for (let r = 0; r < rotations; r++) {
          fibers.push(...(yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(Effect.exit(call)))))
          aws.revoke()
          fibers.push(...(yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(Effect.exit(call)))))
          yield* settle(yield* Effect.fork(Effect.sleep(everyMs)), "50 millis", 100)
        }
        const exits = yield* settle(Fiber.all(fibers), "50 millis", 2_000)
        assert.deepStrictEqual(failures(exits).map((e) => Cause.pretty(e.cause)), [])
      })),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect("one transient failure of the provider is ridden out under the default policy", () =>
    Effect.scoped(Effect.gen(function*() {
      const { aws, call } = yield* setup({ failingLoads: new Set([2]) })
      assert.isTrue(Exit.isSuccess((yield* many(call, 1))[0]!))
      aws.revoke()
      const exits = yield* many(call, 20)
      assert.deepStrictEqual(failures(exits).map((e) => Cause.pretty(e.cause)), [])
      assert.strictEqual(aws.loads(), 3)
    })))

  it.effect("a provider failing on the first resolution is ridden out too", () =>
    Effect.scoped(Effect.gen(function*() {
      const { aws, call } = yield* setup({ failingLoads: new Set([1]) })
      const exits = yield* many(call, 20)
      assert.deepStrictEqual(failures(exits).map((e) => Cause.pretty(e.cause)), [])
      assert.strictEqual(aws.loads(), 2)
    })))

  it.effect("a dead static key fails within the bound, saying what was tried, the source asked with backoff", () =>
    Effect.scoped(Effect.gen(function*() {
      const { aws, call } = yield* setup({ static: true }, { credentialsTimeout: "10 seconds" })
      aws.revoke()
      const started = yield* Clock.currentTimeMillis
      const [exit] = yield* many(call, 1, "100 millis")
      const waited = (yield* Clock.currentTimeMillis) - started
      assert.isTrue(Exit.isFailure(exit!))
      const error = Option.getOrThrow(Cause.failureOption((exit as Exit.Failure<unknown, AwsError.AwsError>).cause))
      assert.strictEqual(error._tag, "CredentialsError")
      if (error._tag !== "CredentialsError") return
      assert.strictEqual(error.reason, "UnrecognizedClient")
      assert.isDefined(error.recovery)
      assert.strictEqual(error.recovery!.sets, 1)
      assert.isAtLeast(error.recovery!.waitedMillis, 10_000)
      assert.isAtMost(waited, 11_000)
      assert.include(error.message, "no usable credentials within 10.0 s")
      // The source: once for the first set, then at 0, 0.5, 1.5, 3.5 and 7.5 s of the recovery.
      assert.isAtMost(aws.loads(), 1 + 1 + pollSlots(10_000))
      assert.strictEqual(aws.keys(), 1)
    })))

  it.effect("a call's credentials deadline (a Lambda invocation's) bounds the recovery instead", () =>
    Effect.scoped(Effect.gen(function*() {
      const { aws, managed } = yield* setup({ static: true })
      aws.revoke()
      const now = yield* Clock.currentTimeMillis
      const policy = { ...RetryPolicy.make(), credentialsDeadline: now + 2_500 }
      const call = Resilience.execute(managed, { name: "Op", run: (client) => aws.send(client) }).pipe(
        RetryPolicy.with(policy)
      )
      const [exit] = yield* many(call, 1, "100 millis")
      const error = Option.getOrThrow(Cause.failureOption((exit as Exit.Failure<unknown, AwsError.AwsError>).cause))
      assert.strictEqual(error._tag, "CredentialsError")
      assert.isAtMost((yield* Clock.currentTimeMillis) - now, 3_000)
    })))

  it.effect("an expiration that is not a date is a typed CredentialsError naming the field, for every caller", () =>
    Effect.scoped(Effect.gen(function*() {
      const { call } = yield* setup({ expiration: new Date("soon") }, { credentialsTimeout: "2 seconds" })
      const exits = yield* many(call, 10)
      assert.strictEqual(failures(exits).length, 10)
      for (const exit of exits) {
        assert.isTrue(Exit.isFailure(exit))
        if (!Exit.isFailure(exit)) continue
        assert.isFalse(Cause.isDie(exit.cause), "no defect")
        const error = Option.getOrThrow(Cause.failureOption(exit.cause))
        assert.strictEqual(error._tag, "CredentialsError")
        assert.include(error.message, "expiration: an invalid Date")
        assert.include(error.message, "not a date")
      }
    })))

  it.effect("a string expiration is refused the same way by Credentials.get", () =>
    Effect.gen(function*() {
      const aws = yield* world({ expiration: "soon" })
      const credentials = yield* Credentials.make({ provider: aws.provider })
      const error = yield* Effect.flip(credentials.get)
      assert.strictEqual(error._tag, "CredentialsError")
      assert.include(error.message, `expiration: "soon"`)
    }))

  it.effect("a bad duration for the poll or the recovery bound is a ConfigurationError naming it, when built", () =>
    Effect.gen(function*() {
      const bad = [
        [Credentials.layer({ pollInterval: Number.NaN }), "Credentials pollInterval"],
        [Credentials.layer({ maxPollInterval: 0 }), "Credentials maxPollInterval"],
        [Credentials.layer({ timeout: -1 }), "Credentials timeout"],
        [RetryPolicy.layer({ credentialsTimeout: "soon" as Duration.DurationInput }), "RetryPolicy credentialsTimeout"],
        [RetryPolicy.layer({ credentialsTimeout: Number.NaN }), "RetryPolicy credentialsTimeout"]
      ] as const
      for (const [layer, setting] of bad) {
        const error = yield* Effect.flip(Layer.build(layer as Layer.Layer<unknown, AwsError.ConfigurationError>))
        assert.strictEqual(error._tag, "ConfigurationError")
        assert.strictEqual(error.setting, setting)
      }
    }).pipe(Effect.scoped))

  it.effect("a provider answering with the set it already gave makes no new generation", () =>
    Effect.gen(function*() {
      const aws = yield* world()
      const credentials = yield* Credentials.make({ provider: aws.provider })
      const first = yield* credentials.get
      const again = yield* credentials.refresh(first.generation)
      assert.strictEqual(again.generation, first.generation)
      assert.strictEqual(again.accessKeyId, first.accessKeyId)
      aws.revoke()
      const renewed = yield* settle(yield* Effect.fork(credentials.refresh(first.generation)), "100 millis", 100)
      assert.strictEqual(renewed.generation, first.generation + 1)
    }))
})

/** How many polls the default backoff allows after the first, within `elapsedMs`: at 500 ms, 1.5 s, 3.5 s, 7.5 s... */
const pollSlots = (elapsedMs: number): number => {
  let slots = 0
  for (let at = 500, gap = 500; at <= elapsedMs; gap = Math.min(4_000, gap * 2), at += gap) slots++
  return slots
}
