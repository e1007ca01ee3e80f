import { DescribeLimitsCommand, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb"
import { assert, describe, it } from "@effect/vitest"
import { FetchHttpHandler } from "@smithy/fetch-http-handler"
import {
  Clock,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  Layer,
  Metric,
  MetricLabel,
  Option,
  Redacted,
  Ref,
  Runtime,
  Scope,
  TestClock,
  Tracer
} from "effect"
import * as Http from "node:http"
import { Credentials, CredentialsProvider, ManagedClient, Metrics, Resilience, RetryPolicy } from "../src/index.js"
import type { AwsError } from "../src/index.js"
import { countingProvider, FakeClient, heldCalls, heldRequest, interruptSome, sdkError, settle } from "./fixtures.js"

const retryableFaults = {
  throttle: () => sdkError("ThrottlingException"),
  server: () => sdkError("InternalServerError", 500),
  reset: () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
  credentials: () => sdkError("UnrecognizedClientException")
} as const
type Fault = keyof typeof retryableFaults

const setup = (
  options: {
    readonly policy?: RetryPolicy.Options
    readonly budget?: { capacity?: number }
    readonly drainTimeout?: Duration.DurationInput
    readonly provider?: Parameters<typeof countingProvider>[0]
  } = {}
) =>
  Effect.gen(function*() {
    const provider = yield* countingProvider(options.provider)
    const built: Array<FakeClient> = []
    const managed = yield* ManagedClient.make({
      service: "fake",
      region: "us-east-1",
      budget: options.budget,
      drainTimeout: options.drainTimeout,
      build: (config) => {
        // `make` checks `build` once with placeholder credentials; that probe is not one of the clients served.
        if (config.credentials.accessKeyId === "probe") return new FakeClient(0, "probe")
        const client = new FakeClient(built.length + 1, config.credentials.accessKeyId)
        built.push(client)
        return client
      }
    }).pipe(Effect.provide(Credentials.layer({ provider })))
    return { provider, managed, built, policy: RetryPolicy.make(options.policy) }
  })

const run = <A>(
  managed: ManagedClient.ManagedClient<FakeClient>,
  policy: RetryPolicy.Policy,
  f: (client: FakeClient) => Promise<A>
) =>
  Resilience.execute(managed, { name: "Op", run: (client) => f(client) }).pipe(
    Effect.provide(Layer.succeed(RetryPolicy.RetryPolicy, policy))
  )

describe("Resilience.withSpanWhenTraced", () => {
  it.effect("makes no span under Effect's default tracer, and the span under any other", () =>
    Effect.gen(function*() {
      const inside = Effect.map(Effect.currentSpan.pipe(Effect.option), Option.map((span) => span.name))
      assert.isTrue(Option.isNone(yield* Resilience.withSpanWhenTraced(inside, "untraced")))
      const started: Array<string> = []
      const native = yield* Effect.tracer
      const recording = Tracer.make({
        span: (name, ...rest) => {
          started.push(name)
          return native.span(name, ...rest)
        },
        context: (f) => f()
      })
      const name = yield* inside.pipe(Resilience.withSpanWhenTraced("traced"), Effect.withTracer(recording))
      assert.deepStrictEqual(name, Option.some("traced"))
      assert.deepStrictEqual(started, ["traced"])
    }))
})

describe("Resilience.execute", () => {
  it.effect.prop(
    "k retryable failures then a success take exactly k+1 attempts, within the schedule's delay bounds",
    [
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.constantFrom<Fault>("throttle", "server", "reset", "credentials"), { maxLength: 5 })
    ],
    ([maxAttempts, faults]) =>
      Effect.scoped(Effect.gen(function*() {
        const k = Math.min(faults.length, maxAttempts - 1)
        const plan = faults.slice(0, k)
        const { managed, policy } = yield* setup({ policy: { maxAttempts } })
        let attempts = 0
        const fiber = yield* Effect.fork(Effect.gen(function*() {
          const start = yield* Clock.currentTimeMillis
          const value = yield* run(managed, policy, async () => {
            const fault = plan[attempts++]
            if (fault) throw retryableFaults[fault]()
            return "ok"
          })
          return { value, elapsed: (yield* Clock.currentTimeMillis) - start }
        }))
        yield* TestClock.adjust("10 minutes")
        const { elapsed, value } = yield* Fiber.join(fiber)
        assert.strictEqual(value, "ok")
        assert.strictEqual(attempts, k + 1)
        const tagOf = (fault: Fault) =>
          ({ _tag: fault === "throttle" ? "ThrottlingError" : "TransientError" }) as AwsError.AwsError
        const bound = plan.reduce((sum, fault, i) => sum + Duration.toMillis(policy.maxDelayBefore(i, tagOf(fault))), 0)
        assert.isAtLeast(elapsed, 0)
        assert.isAtMost(elapsed, bound)
      })),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect.prop(
    "N concurrent calls failing on the same generation cause one refresh and one rebuild, then all succeed",
    [fc.integer({ min: 1, max: 200 })],
    ([n]) =>
      Effect.scoped(Effect.gen(function*() {
        const { built, managed, policy, provider } = yield* setup()
        // Generation 1's key is revoked: every call made with it is rejected.
        const fiber = yield* Effect.fork(Effect.all(
          Array.from({ length: n }, () =>
            run(managed, policy, async (client) => {
              await new Promise((resolve) => setImmediate(resolve))
              if (client.generation === 1) throw retryableFaults.credentials()
              return client.generation
            })),
          { concurrency: "unbounded" }
        ))
        const results = yield* settle(fiber)
        assert.strictEqual(results.length, n)
        assert.isTrue(results.every((g) => g === 2))
        assert.strictEqual(yield* provider.calls, 2, "one initial resolution and one refresh")
        assert.strictEqual(built.length, 2, "one initial client and one rebuild")
        assert.isTrue(built[0]!.destroyed, "the revoked client is destroyed once unused")
        assert.isFalse(built[1]!.destroyed)
      })),
    { fastCheck: { numRuns: 25 } }
  )

  it.effect.prop(
    "non-retryable errors are attempted once",
    [fc.constantFrom(
      "AccessDeniedException",
      "ConditionalCheckFailedException",
      "ValidationException",
      "ResourceNotFoundException"
    )],
    ([name]) =>
      Effect.scoped(Effect.gen(function*() {
        const { managed, policy } = yield* setup({ policy: { maxAttempts: 5 } })
        let attempts = 0
        const error = yield* Effect.flip(run(managed, policy, async () => {
          attempts++
          throw sdkError(name)
        }))
        assert.strictEqual(attempts, 1)
        assert.include(["AccessDeniedError", "ServiceError"], error._tag)
      }))
  )

  it.effect.prop(
    "an exhausted budget stops retries",
    [fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 12 }), fc.constantFrom<Fault>("throttle", "server")],
    ([capacity, calls, fault]) =>
      Effect.scoped(Effect.gen(function*() {
        const { managed, policy } = yield* setup({ policy: { maxAttempts: 100 }, budget: { capacity } })
        let attempts = 0
        const fiber = yield* Effect.fork(Effect.forEach(
          Array.from({ length: calls }),
          () =>
            Effect.exit(run(managed, policy, async () => {
              attempts++
              throw retryableFaults[fault]()
            }))
        ))
        yield* TestClock.adjust("1 hour")
        const exits = yield* Fiber.join(fiber)
        assert.isTrue(exits.every(Exit.isFailure))
        const cost = fault === "throttle" ? 5 : 10
        assert.strictEqual(attempts, calls + Math.floor(capacity / cost))
        assert.strictEqual(yield* managed.budget.available, capacity % cost)
      }))
  )

  it.effect("a success refunds the budget", () =>
    Effect.scoped(Effect.gen(function*() {
      const { managed, policy } = yield* setup({ budget: { capacity: 500 } })
      // Start partly drained, so that an over-refund would show instead of being capped at the capacity.
      yield* managed.budget.acquire({ _tag: "TransientError" } as AwsError.AwsError)
      yield* managed.budget.acquire({ _tag: "TransientError" } as AwsError.AwsError)
      let attempts = 0
      const fiber = yield* Effect.fork(run(managed, policy, async () => {
        if (attempts++ === 0) throw retryableFaults.server()
        return "ok"
      }))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* managed.budget.available, 480, "the retry's 10 tokens came back, no more")
    })))

  it.effect("records retries by error tag, and call durations", () =>
    Effect.scoped(Effect.gen(function*() {
      const { managed, policy } = yield* setup({ policy: { maxAttempts: 4 } })
      const labels = (tag: string) => [
        MetricLabel.make("error", tag),
        MetricLabel.make("service", "fake"),
        MetricLabel.make("operation", "Op")
      ]
      const count = (tag: string) =>
        Effect.map(Metric.value(Metric.taggedWithLabels(Metrics.retries, labels(tag))), (s) => s.count)
      const before = { throttling: yield* count("ThrottlingError"), transient: yield* count("TransientError") }
      const durationsBefore = (yield* Metric.value(Metrics.callDuration("fake", "Op"))).count
      const faults: Array<Fault> = ["throttle", "server", "throttle"]
      const fiber = yield* Effect.fork(run(managed, policy, async () => {
        const fault = faults.shift()
        if (fault) throw retryableFaults[fault]()
        return "ok"
      }))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.strictEqual((yield* count("ThrottlingError")) - before.throttling, 2)
      assert.strictEqual((yield* count("TransientError")) - before.transient, 1)
      assert.strictEqual((yield* Metric.value(Metrics.callDuration("fake", "Op"))).count - durationsBefore, 1)
    })))

  it.effect.prop(
    "credentials rotations do not use up the attempts meant for service failures",
    [
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 2 }),
      fc.array(fc.constantFrom<Fault>("throttle", "server", "reset"), { maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 2 })
    ],
    ([maxAttempts, rotations, serviceFaults, positions]) =>
      Effect.scoped(Effect.gen(function*() {
        // Up to maxAttempts-1 service failures, and `rotations` credentials rejections each followed by a renewal
        // that brings a newer generation, in any order: the call succeeds.
        const plan: Array<Fault> = serviceFaults.slice(0, maxAttempts - 1)
        for (let i = 0; i < rotations; i++) plan.splice((positions[i] ?? 0) % (plan.length + 1), 0, "credentials")
        const { managed, policy } = yield* setup({ policy: { maxAttempts } })
        let attempts = 0
        const fiber = yield* Effect.fork(run(managed, policy, async () => {
          const fault = plan[attempts++]
          if (fault) throw retryableFaults[fault]()
          return "ok"
        }))
        const value = yield* settle(fiber, "1 minute", 50)
        assert.strictEqual(value, "ok")
        assert.strictEqual(attempts, plan.length + 1)
      })),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("without a policy in context, AWS_MAX_ATTEMPTS is read through the ConfigProvider", () =>
    Effect.scoped(Effect.gen(function*() {
      const { managed } = yield* setup()
      let attempts = 0
      const fiber = yield* Effect.fork(
        Resilience.execute(managed, {
          name: "Op",
          run: async () => {
            if (attempts++ < 4) throw retryableFaults.server()
            return "ok"
          }
        }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AWS_MAX_ATTEMPTS", "5"]]))))
      )
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual(yield* Fiber.join(fiber), "ok")
      assert.strictEqual(attempts, 5)
    })))

  // The first call of a client takes the general path (credentials resolved, client built); later ones the fused
  // fast path. Both must abort.
  for (const warm of [false, true]) {
    it.effect(`interrupting the fiber aborts the request (${warm ? "a later call" : "the first call"})`, () =>
      Effect.scoped(Effect.gen(function*() {
        const { managed } = yield* setup()
        if (warm) yield* Resilience.execute(managed, { name: "Warm", run: () => Promise.resolve("ok") })
        const started = yield* Deferred.make<AbortSignal>()
        const probe = yield* Effect.fork(
          Resilience.execute(managed, {
            name: "Probe",
            run: (_client, signal) => {
              Deferred.unsafeDone(started, Exit.succeed(signal))
              return new Promise<never>(() => {})
            }
          })
        )
        const signal = yield* Deferred.await(started)
        assert.isFalse(signal.aborted)
        yield* Fiber.interrupt(probe)
        assert.isTrue(signal.aborted)
      })))
  }

  // Many calls on one client's fast path, some interrupted while their request runs: the client's one canceler must
  // find each interrupted call's own borrow among all those in flight.
  it.effect.prop(
    "among concurrent calls, exactly the interrupted ones are aborted, and every borrow is given back",
    [heldCalls],
    ([calls]) =>
      Effect.scoped(Effect.gen(function*() {
        const { built, managed } = yield* setup()
        yield* Resilience.execute(managed, { name: "Warm", run: () => Promise.resolve("ok") })
        const runtime = yield* Effect.runtime<never>()
        const aborted = new Set<number>()
        const fibers = yield* Effect.forEach(calls, ({ hold }, i) =>
          Effect.fork(Resilience.execute(managed, {
            name: "Op",
            run: (_client, signal) => heldRequest(runtime, hold, signal, () => i, () => aborted.add(i))
          })))
        yield* interruptSome(calls, fibers, aborted)
        // No borrow is left: after a renewal the old client goes at once.
        yield* managed.renew(1)
        assert.isTrue(built[0]!.destroyed, "the first client had no borrower left")
      })),
    { fastCheck: { numRuns: 100 } }
  )
})

describe("ManagedClient", () => {
  type Action = { readonly at: number; readonly kind: "borrow"; readonly hold: number } | {
    readonly at: number
    readonly kind: "rebuild"
  }
  const action: fc.Arbitrary<Action> = fc.oneof(
    fc.record({
      at: fc.integer({ min: 0, max: 50 }),
      kind: fc.constant("borrow" as const),
      hold: fc.integer({ min: 0, max: 30 })
    }),
    fc.record({ at: fc.integer({ min: 0, max: 50 }), kind: fc.constant("rebuild" as const) })
  )

  // Two ways to borrow: `use`, and a call through `Resilience.execute`, whose fused fast path takes the borrow
  // itself once the client exists (hence the warm-up call).
  const borrowers = {
    use: <A>(managed: ManagedClient.ManagedClient<FakeClient>, f: (client: FakeClient) => Effect.Effect<A>) =>
      managed.use(f),
    execute: <A>(managed: ManagedClient.ManagedClient<FakeClient>, f: (client: FakeClient) => Effect.Effect<A>) =>
      Effect.flatMap(
        Effect.runtime<never>(),
        (runtime) =>
          Resilience.execute(managed, { name: "Op", run: (client) => Runtime.runPromise(runtime)(f(client)) })
      )
  }
  const warmUp = (managed: ManagedClient.ManagedClient<FakeClient>) =>
    Resilience.execute(managed, { name: "Warm", run: () => Promise.resolve() })

  for (const [via, borrow] of Object.entries(borrowers)) {
    it.effect.prop(
      `no borrower ever holds a destroyed client, and closing destroys every client built (${via})`,
      [fc.array(action, { minLength: 1, maxLength: 40 })],
      ([actions]) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const { built, managed } = yield* setup().pipe(Scope.extend(scope))
          yield* warmUp(managed)
          const violations = yield* Ref.make(0)
          const fiber = yield* Effect.fork(Effect.forEach(actions, (a) =>
            Effect.delay(
              a.kind === "borrow"
                ? borrow(managed, (client) =>
                  Effect.gen(function*() {
                    if (client.destroyed) yield* Ref.update(violations, (n) => n + 1)
                    yield* Effect.sleep(a.hold)
                    if (client.destroyed) yield* Ref.update(violations, (n) => n + 1)
                  }))
                : Effect.flatMap(managed.generation, (g) => managed.renew(g)),
              a.at
            ), { concurrency: "unbounded", discard: true }))
          yield* TestClock.adjust("1 second")
          yield* Fiber.join(fiber)
          assert.strictEqual(yield* Ref.get(violations), 0)
          const live = built.filter((c) => !c.destroyed)
          assert.strictEqual(live.length, 1, "only the current client is alive once every borrower is done")
          yield* Scope.close(scope, Exit.void)
          assert.isTrue(built.every((c) => c.destroyed))
        }),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect.prop(
      `closing the scope with calls in flight lets them finish before any client is destroyed (${via})`,
      [fc.array(fc.integer({ min: 1, max: 9_000 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 3 })],
      ([holds, renewals]) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const { built, managed } = yield* setup().pipe(Scope.extend(scope))
          yield* warmUp(managed)
          const violations = yield* Ref.make(0)
          const started = yield* Deferred.make<void>()
          let running = 0
          const calls = yield* Effect.fork(Effect.forEach(holds, (hold) =>
            borrow(managed, (client) =>
              Effect.gen(function*() {
                if (++running === holds.length) yield* Deferred.succeed(started, undefined)
                yield* Effect.sleep(hold)
                if (client.destroyed) yield* Ref.update(violations, (n) => n + 1)
                return client.generation
              })), { concurrency: "unbounded" }))
          yield* Deferred.await(started)
          for (let i = 0; i < renewals; i++) {
            yield* Effect.flatMap(managed.generation, (g) =>
              managed.renew(g))
          }
          const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
          yield* TestClock.adjust("9 seconds")
          yield* Fiber.join(closing)
          const exit = yield* Fiber.await(calls)
          assert.isTrue(Exit.isSuccess(exit), "every call in flight finished")
          assert.strictEqual(yield* Ref.get(violations), 0, "no call saw its client destroyed")
          assert.isTrue(built.every((c) => c.destroyed), "closing destroyed every client")
        }),
      { fastCheck: { numRuns: 50 } }
    )

    it.effect(`a call still running after drainTimeout is interrupted, and only then is its client destroyed (${via})`, () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const { built, managed } = yield* setup({ drainTimeout: "2 seconds" }).pipe(Scope.extend(scope))
        yield* warmUp(managed)
        const inUse = yield* Deferred.make<FakeClient>()
        const seenAtInterrupt = yield* Ref.make<boolean | undefined>(undefined)
        const hold = (client: FakeClient) =>
          Deferred.succeed(inUse, client).pipe(Effect.zipRight(Effect.never), Effect.asVoid)
        const call = yield* Effect.fork(
          via === "use"
            ? managed.use((client) =>
              Effect.onInterrupt(hold(client), () => Ref.set(seenAtInterrupt, client.destroyed))
            )
            : Resilience.execute(managed, {
              name: "Op",
              run: (client, signal) => {
                // The request learns of the interruption through its abort signal.
                signal.addEventListener("abort", () => Effect.runSync(Ref.set(seenAtInterrupt, client.destroyed)))
                return Effect.runPromise(hold(client))
              }
            })
        )
        const client = yield* Deferred.await(inUse)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("1 second")
        assert.isFalse(client.destroyed, "not destroyed within the drain timeout")
        assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "closing waits for the call")
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(closing)
        assert.isTrue(Exit.isInterrupted(yield* Fiber.await(call)))
        assert.strictEqual(yield* Ref.get(seenAtInterrupt), false, "the borrower was interrupted before destruction")
        assert.isTrue(built.every((c) => c.destroyed))
      }))
  }

  it.effect("an interrupted call gives its client back: the next rebuild destroys the old client at once", () =>
    Effect.scoped(Effect.gen(function*() {
      const { built, managed } = yield* setup()
      yield* warmUp(managed)
      const started = yield* Deferred.make<void>()
      const call = yield* Effect.fork(Resilience.execute(managed, {
        name: "Op",
        run: () => {
          Deferred.unsafeDone(started, Exit.void)
          return new Promise<never>(() => {})
        }
      }))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(call)
      yield* Effect.flatMap(managed.generation, (g) => managed.renew(g))
      assert.strictEqual(built.length, 2)
      assert.isTrue(built[0]!.destroyed, "no borrow of the first client is left")
      assert.isFalse(built[1]!.destroyed)
    })))

  const invalid: ReadonlyArray<readonly [string, Partial<ManagedClient.Options<FakeClient>>, string]> = [
    ["an empty region", { region: "" }, "region"],
    ["a region with spaces", { region: "us east 1" }, "region"],
    ["a malformed endpoint", { endpoint: "not a url" }, "endpoint"],
    ["a build that throws", {
      build: () => {
        throw new Error("unsupported retryMode")
      }
    }, "fake client"]
  ]
  for (const [name, override, setting] of invalid) {
    it.effect(`${name} fails the layer with a ConfigurationError naming ${setting}, before any provider call`, () =>
      Effect.gen(function*() {
        const provider = yield* countingProvider()
        const error = yield* Effect.flip(Effect.scoped(ManagedClient.make({
          service: "fake",
          region: "us-east-1",
          build: () => new FakeClient(1, "k"),
          ...override
        }))).pipe(Effect.provide(Credentials.layer({ provider })))
        assert.strictEqual(error._tag, "ConfigurationError")
        assert.strictEqual(error.setting, setting)
        assert.strictEqual(yield* provider.calls, 0)
      }))
  }
})

describe("ManagedClient after a rejection", () => {
  const nextTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

  it.effect.prop(
    "calls that start while the renewal after a rejection runs wait for it, instead of sending with the rejected key",
    [fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5 }), fc.boolean()],
    ([n, latencySeconds, providerFailsOnce]) =>
      Effect.scoped(Effect.gen(function*() {
        let loads = 0
        const { built, managed, policy } = yield* setup({
          // Up to two loads of 5 s: longer than the default bound of credential recovery.
          policy: { maxAttempts: 10, credentialsTimeout: "30 seconds" },
          provider: {
            latency: Duration.seconds(latencySeconds),
            // The load of the renewal fails once; the next one works.
            fail: Effect.sync(() => providerFailsOnce && ++loads === 2)
          }
        })
        const revoked = new Set<string>()
        const sentWith: Array<string> = []
        const op = run(managed, policy, async (client) => {
          sentWith.push(client.accessKeyId)
          if (revoked.has(client.accessKeyId)) throw sdkError("UnrecognizedClientException")
          return client.generation
        })
        assert.strictEqual(yield* settle(yield* Effect.fork(op)), 1)
        const rejected = built[0]!.accessKeyId
        revoked.add(rejected)
        const first = yield* Effect.fork(op)
        yield* nextTurn
        // The first call has been rejected, and its renewal waits for the provider.
        assert.deepStrictEqual(sentWith, [rejected, rejected])
        const others = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(op))
        yield* nextTurn
        assert.strictEqual(sentWith.length, 2, "no call sent anything while the renewal ran")
        const [one, rest] = yield* settle(Fiber.zip(first, Fiber.all(others)))
        const final = yield* managed.generation
        assert.isAbove(final, 1)
        assert.deepStrictEqual(
          [one, ...rest],
          Array.from({ length: n + 1 }, () => final),
          "all succeed on the new client"
        )
        if (!providerFailsOnce) {
          // One renewal: the calls that waited for it never used the rejected key.
          assert.strictEqual(sentWith.filter((key) => key === rejected).length, 2)
          assert.strictEqual(built.length, 2)
        }
      })),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("when the call renewing after a rejection is interrupted, the calls waiting for it go on", () =>
    Effect.scoped(Effect.gen(function*() {
      const { built, managed, policy } = yield* setup({ provider: { latency: "1 second" } })
      const revoked = new Set<string>()
      const op = run(managed, policy, async (client) => {
        if (revoked.has(client.accessKeyId)) throw sdkError("UnrecognizedClientException")
        return client.generation
      })
      yield* settle(yield* Effect.fork(op))
      revoked.add(built[0]!.accessKeyId)
      const first = yield* Effect.fork(op)
      yield* nextTurn
      const others = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(op))
      yield* nextTurn
      yield* Fiber.interrupt(first)
      const generations = yield* settle(Fiber.all(others))
      assert.deepStrictEqual(generations, [2, 2, 2, 2, 2])
    })))
})

// A server that answers DescribeLimits at once and never answers anything else: only an abort ends such a request.
// `received` completes when one arrives, `closed` when its connection closes.
const hangingServer = Effect.gen(function*() {
  const received = yield* Deferred.make<void>()
  const closed = yield* Deferred.make<void>()
  const server = yield* Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        if (String(request.headers["x-amz-target"]).endsWith("DescribeLimits")) {
          response.writeHead(200, { "content-type": "application/x-amz-json-1.0" }).end("{}")
          return
        }
        Deferred.unsafeDone(received, Exit.void)
        request.socket.once("close", () => Deferred.unsafeDone(closed, Exit.void))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
  return { received, closed, port: (server.address() as { port: number }).port }
})

// A call through a client built by `build`, after `warmCalls` calls, is interrupted while the server holds it: the
// server must see its connection close.
const interruptingAborts = (
  build: (config: ManagedClient.ClientConfig) => DynamoDBClient,
  warmCalls: number
) =>
  Effect.gen(function*() {
    const { closed, port, received } = yield* hangingServer
    const managed = yield* ManagedClient.make({
      service: "dynamodb",
      region: "us-east-1",
      endpoint: `http://127.0.0.1:${port}`,
      build
    }).pipe(Effect.provide(Credentials.layer({
      provider: CredentialsProvider.fromStatic({ accessKeyId: "AKIATEST", secretAccessKey: Redacted.make("s") })
    })))
    for (let i = 0; i < warmCalls; i++) yield* Resilience.send(managed, new DescribeLimitsCommand({}))
    const call = yield* Effect.fork(
      Resilience.send(managed, new GetItemCommand({ TableName: "t", Key: { id: { S: "1" } } }))
    )
    yield* Deferred.await(received)
    yield* Fiber.interrupt(call)
    const sawClose = yield* Deferred.await(closed).pipe(Effect.timeout("5 seconds"), Effect.option)
    assert.isTrue(Option.isSome(sawClose), "the request's connection was closed by the abort")
  }).pipe(Effect.scoped)

describe("Resilience.send over HTTP", () => {
  for (const warm of [false, true]) {
    it.live(
      `interrupting a call aborts the real HTTP request: the server sees the connection close (${
        warm ? "a later call" : "the first call"
      })`,
      () => interruptingAborts((config) => new DynamoDBClient(config), warm ? 1 : 0)
    )
  }

  // The fetch handler hands the signal to `fetch`, which takes only a real AbortSignal. Two calls first: the first
  // takes the general path, the second the fast one; both must succeed.
  it.live("with the SDK's FetchHttpHandler a call succeeds, and interrupting one aborts its request", () =>
    interruptingAborts((config) => new DynamoDBClient({ ...config, requestHandler: new FetchHttpHandler() }), 2))
})
