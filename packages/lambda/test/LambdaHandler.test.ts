/**
 * The handler runtime: the layer built once, a failed build built again after its spacing, the deadline, and the
 * poisoned sandbox; AWS calls go to the local stack.
 */
import { AwsError, Credentials, CredentialsProvider, RetryPolicy } from "@aws-resilience/core"
import { DynamoDB } from "@aws-resilience/dynamodb"
import { LocalAws } from "@aws-resilience/testkit"
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Data, Effect, Either, Fiber, Layer, Logger, Redacted, TestClock } from "effect"
import { LambdaHandler, LambdaHandlerError } from "../src/index.js"
import { AppLayer, fixedDelayPolicy, idsIn, invoke, lambdaContext, newTable, Stack, turns } from "./utils.js"

class Greeting extends Context.Tag("test/Greeting")<Greeting, { readonly text: string }>() {}

class BuildFailed extends Data.TaggedError("BuildFailed")<{ readonly attempt: number }> {}

// Blocks on the TestClock come before the `layer(...)` block: @effect/vitest's `layer` assigns its own `effect` and
// `scoped` (without the test services, with `excludeTestServices`) onto the shared `it` of every block collected after.
describe("LambdaHandler, its layer", () => {
  it.scoped("a failed build is not kept: invocations within the spacing report it, the first one after builds again", () =>
    Effect.gen(function*() {
      let attempts = 0
      const Flaky = Layer.effect(
        Greeting,
        Effect.suspend(() => {
          attempts++
          return attempts < 3 ? Effect.fail(new BuildFailed({ attempt: attempts })) : Effect.succeed({ text: "hi" })
        })
      )
      const handler = yield* LambdaHandler.makeScoped(Flaky, () => Effect.map(Greeting, (g) => g.text), {
        rebuildDelay: "1 second"
      })
      yield* Effect.promise(() => handler.ready)
      assert.strictEqual(attempts, 1, "the build starts when the handler is made")

      const failure = (effect: Effect.Effect<string, unknown>) =>
        Effect.map(Effect.flip(effect), (error) => {
          assert.instanceOf(error, BuildFailed)
          return (error as BuildFailed).attempt
        })

      // The init build failed: the first invocation reports that failure, without building again.
      assert.strictEqual(yield* failure(invoke(handler, {})), 1)
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(yield* failure(invoke(handler, {})), 1)
      assert.strictEqual(attempts, 1)
      // Past the spacing, the invocation builds, and reports its own build's failure.
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* failure(invoke(handler, {})), 2)
      assert.strictEqual(attempts, 2)
      // The spacing doubled: 2 seconds now.
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(yield* failure(invoke(handler, {})), 2)
      assert.strictEqual(attempts, 2)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* invoke(handler, {}), "hi")
      assert.strictEqual(yield* invoke(handler, {}), "hi")
      assert.strictEqual(attempts, 3)
    }))

  it.scoped("an invocation waits for a build in flight only until its deadline; the build goes on for the next one", () =>
    Effect.gen(function*() {
      let builds = 0
      const Slow = Layer.effect(
        Greeting,
        Effect.sleep("5 seconds").pipe(Effect.zipRight(Effect.sync(() => ({ text: `build ${++builds}` }))))
      )
      const handler = yield* LambdaHandler.makeScoped(Slow, () => Effect.map(Greeting, (g) => g.text), {
        deadlineMargin: "500 millis"
      })
      const first = yield* Effect.fork(Effect.either(invoke(handler, {}, lambdaContext(2_000, "fixed"))))
      yield* TestClock.adjust("1500 millis")
      const timedOut = yield* Fiber.join(first)
      assert.isTrue(Either.isLeft(timedOut) && LambdaHandlerError.isDeadlineExceededError(timedOut.left))
      assert.strictEqual(
        (timedOut as Either.Left<LambdaHandlerError.DeadlineExceededError, string>).left.reason,
        "building"
      )
      yield* TestClock.adjust("3500 millis")
      yield* Effect.promise(() => handler.ready)
      assert.strictEqual(yield* invoke(handler, {}), "build 1")
      assert.strictEqual(builds, 1)
    }))

  it.scoped("a handler still running at the deadline is interrupted, with a DeadlineExceededError", () =>
    Effect.gen(function*() {
      let interrupted = false
      const handler = yield* LambdaHandler.makeScoped(
        Layer.empty,
        () => Effect.sleep("10 seconds").pipe(Effect.onInterrupt(() => Effect.sync(() => (interrupted = true)))),
        { deadlineMargin: "500 millis" }
      )
      const fiber = yield* Effect.fork(Effect.flip(invoke(handler, {}, lambdaContext(2_000, "fixed"))))
      yield* TestClock.adjust("1499 millis")
      assert.isNull(yield* Fiber.poll(fiber).pipe(Effect.map((o) => o._tag === "Some" ? "done" : null)))
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.isTrue(LambdaHandlerError.isDeadlineExceededError(error))
      assert.strictEqual((error as LambdaHandlerError.DeadlineExceededError).reason, "running")
      assert.strictEqual((error as LambdaHandlerError.DeadlineExceededError).budgetMs, 1_500)
      assert.isTrue(interrupted)
    }))

  it.effect("SIGTERM releases the layer", () =>
    Effect.gen(function*() {
      let released = false
      const Releasing = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => (released = true))))
      const handler = LambdaHandler.make(Releasing, () => Effect.succeed("ok"))
      yield* Effect.promise(() => handler.ready)
      assert.strictEqual(yield* invoke(handler, {}), "ok")
      // Another listener: the process is left running (ours ends it only when it is the only one).
      const keepAlive = () => {}
      process.on("SIGTERM", keepAlive)
      try {
        process.emit("SIGTERM")
        yield* turns(5)
      } finally {
        process.off("SIGTERM", keepAlive)
      }
      assert.isTrue(released)
    }))
})

layer(Stack, { excludeTestServices: true })("LambdaHandler on the local stack", (it) => {
  it.effect("builds the layer once, when the handler is made, and keeps it across invocations", () =>
    Effect.gen(function*() {
      const table = yield* newTable("once")
      let builds = 0
      const Counted = Layer.effectDiscard(Effect.sync(() => builds++))
      const handler = LambdaHandler.make(
        Layer.merge(AppLayer, Counted),
        (event: { readonly id: string }) =>
          Effect.gen(function*() {
            yield* DynamoDB.putItem({ TableName: table, Item: { id: { S: event.id } } })
            const client = yield* DynamoDB.DynamoDB
            const credentials = yield* Credentials.Credentials
            return { clients: yield* client.builds, resolutions: yield* credentials.resolutions }
          }),
        { disposeOnSigterm: false }
      )
      try {
        yield* Effect.promise(() => handler.ready)
        assert.strictEqual(builds, 1, "built before the first invocation")
        // Two parameters: aws-lambda-ric refuses handlers of three (the deprecated callback style).
        assert.strictEqual(handler.length, 2)
        const results = yield* Effect.forEach(["a", "b", "c"], (id) => invoke(handler, { id }))
        assert.strictEqual(builds, 1)
        // One SDK client and one credentials resolution, for every invocation.
        assert.deepStrictEqual(results, [1, 1, 1].map(() => ({ clients: 1, resolutions: 1 })))
        assert.deepStrictEqual(yield* idsIn(table), ["a", "b", "c"])
      } finally {
        yield* Effect.promise(() => handler.dispose())
      }
    }))

  const throttled = (stack: LocalAws.Service, times?: number) =>
    stack.gateway.setPlan({
      seed: 1,
      rules: [{
        service: "dynamodb",
        operation: "PutItem",
        fault: "throttle",
        probability: 1,
        ...(times !== undefined ? { times } : {})
      }]
    })
  const throttles = (stack: LocalAws.Service) =>
    Effect.map(stack.gateway.stats, (stats) => stats.byService.dynamodb?.byOutcome.throttle ?? 0)

  /** A handler that puts one item, warmed up (credentials resolved, client built) before any fault is planned. */
  const putting = (table: string, policy: RetryPolicy.Policy) =>
    Effect.tap(
      LambdaHandler.makeScoped(
        Layer.merge(AppLayer, Layer.succeed(RetryPolicy.RetryPolicy, policy)),
        (event: { readonly id: string }) => DynamoDB.putItem({ TableName: table, Item: { id: { S: event.id } } }),
        { deadlineMargin: "100 millis" }
      ),
      (handler) => invoke(handler, { id: "warm-up" })
    )

  it.scoped("a deadline too short for a retry fails fast with DeadlineExceededError, without sleeping", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("deadline")
      const handler = yield* putting(table, fixedDelayPolicy("2 seconds"))
      yield* throttled(stack)
      yield* stack.gateway.resetStats
      const started = Date.now()
      const error = yield* Effect.flip(invoke(handler, { id: "a" }, lambdaContext(1_500))).pipe(
        Effect.ensuring(stack.gateway.clearPlan)
      )
      const elapsed = Date.now() - started
      assert.isTrue(LambdaHandlerError.isDeadlineExceededError(error), String(error))
      const deadline = error as LambdaHandlerError.DeadlineExceededError
      assert.strictEqual(deadline.reason, "retry")
      assert.strictEqual(deadline.lastError?._tag, "ThrottlingError")
      assert.strictEqual(deadline.delayMs, 2_000)
      assert.isTrue(AwsError.isAwsError(deadline.cause))
      assert.isBelow(elapsed, 1_000, "it did not sleep towards the deadline")
      assert.strictEqual(yield* throttles(stack), 1, "no retry was started")
      assert.include(deadline.message, "not retried")
    }))

  it.scoped("retries that fit before the deadline run; the one that would not is not started", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("deadline")
      const handler = yield* putting(table, fixedDelayPolicy("600 millis"))
      yield* throttled(stack)
      yield* stack.gateway.resetStats
      const started = Date.now()
      // 1000 ms to the deadline: the first retry starts at about 600 ms, a second one would at about 1200 ms.
      const error = yield* Effect.flip(invoke(handler, { id: "a" }, lambdaContext(1_100))).pipe(
        Effect.ensuring(stack.gateway.clearPlan)
      )
      const elapsed = Date.now() - started
      assert.isTrue(LambdaHandlerError.isDeadlineExceededError(error), String(error))
      assert.strictEqual((error as LambdaHandlerError.DeadlineExceededError).reason, "retry")
      assert.strictEqual(yield* throttles(stack), 2)
      assert.isBelow(elapsed, 1_000)
    }))

  it.scoped("a source lagging a revocation by 1 s: the invocation waits for the new set within its deadline", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("lagging")
      const handler = yield* putting(table, RetryPolicy.make())
      yield* stack.authority.revoke({ lag: "1 second" })
      yield* invoke(handler, { id: "after" }, lambdaContext(5_000))
      assert.deepStrictEqual(yield* idsIn(table), ["after", "warm-up"])
    }))

  it.scoped("a source lagging past the deadline: a CredentialsError before the deadline, not after 10 s", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("lagging")
      const handler = yield* putting(table, RetryPolicy.make())
      yield* stack.authority.revoke({ lag: "3 seconds" })
      const started = Date.now()
      const error = yield* Effect.flip(invoke(handler, { id: "late" }, lambdaContext(1_500)))
      const elapsed = Date.now() - started
      assert.isTrue(AwsError.isCredentialsError(error), String(error))
      assert.include((error as AwsError.CredentialsError).message, "no usable credentials within")
      assert.isBelow(elapsed, 1_500, "recovery ended by the invocation's deadline")
      assert.isAtLeast(elapsed, 1_000, "it waited for most of the invocation's time")
      // The lag ends before the next test.
      yield* Effect.sleep("2 seconds")
    }))

  it.scoped("with time enough, throttled calls are retried through to success", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("deadline")
      const handler = yield* putting(table, fixedDelayPolicy("100 millis"))
      yield* throttled(stack, 2)
      yield* stack.gateway.resetStats
      yield* invoke(handler, { id: "a" }, lambdaContext(5_000)).pipe(Effect.ensuring(stack.gateway.clearPlan))
      assert.strictEqual(yield* throttles(stack), 2)
      assert.deepStrictEqual(yield* idsIn(table), ["a", "warm-up"])
    }))

  /** Sets the variables for the scope, and puts the previous values back when it closes. */
  const withEnv = (vars: Record<string, string>) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const saved = Object.keys(vars).map((key) => [key, process.env[key]] as const)
        Object.assign(process.env, vars)
        return saved
      }),
      (saved) =>
        Effect.sync(() => {
          for (const [key, value] of saved) {
            if (value === undefined) delete process.env[key]
            else process.env[key] = value
          }
        })
    )

  /** The authority's current set in the environment variables, as Lambda hands a function its role's credentials. */
  const environmentCredentials = Effect.gen(function*() {
    const stack = yield* LocalAws.LocalAws
    const set = yield* stack.authority.currentStatic
    yield* withEnv({
      AWS_ACCESS_KEY_ID: set.accessKeyId,
      AWS_SECRET_ACCESS_KEY: set.secretAccessKey,
      AWS_SESSION_TOKEN: set.sessionToken
    })
    return set
  })

  const EnvironmentLayer = DynamoDB.layerConfig().pipe(
    Layer.provideMerge(Credentials.layer({ provider: CredentialsProvider.environment() }))
  )

  const capturedLogs = (lines: Array<string>) =>
    Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => lines.push(String(message))))

  it.scoped("revoked environment credentials poison the sandbox: a PoisonedSandboxError, logged once, no exit", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("poison")
      const set = yield* environmentCredentials
      const lines: Array<string> = []
      const exits: Array<number> = []
      const handler = yield* LambdaHandler.makeScoped(
        EnvironmentLayer,
        (event: { readonly id: string }) => DynamoDB.putItem({ TableName: table, Item: { id: { S: event.id } } }),
        { exit: (code) => exits.push(code) }
      ).pipe(Effect.provide(capturedLogs(lines)))
      yield* invoke(handler, { id: "before" })

      yield* stack.authority.revoke(set.accessKeyId)
      const errors = yield* Effect.forEach(["a", "b"], (id) => Effect.flip(invoke(handler, { id })))
      for (const error of errors) {
        assert.isTrue(LambdaHandlerError.isPoisonedSandboxError(error), String(error))
        const poisoned = error as LambdaHandlerError.PoisonedSandboxError
        assert.isTrue(AwsError.isCredentialsError(poisoned.cause))
        assert.isFalse(poisoned.exiting)
        assert.strictEqual(poisoned.accessKeyId, Credentials.maskAccessKeyId(set.accessKeyId))
        assert.include(poisoned.message, "re-reading the environment gives the same set")
        assert.notInclude(poisoned.message, set.accessKeyId)
      }
      assert.strictEqual(lines.filter((line) => line.includes("cannot recover")).length, 1, "logged once")
      yield* turns(5)
      assert.deepStrictEqual(exits, [])
      assert.deepStrictEqual(yield* idsIn(table), ["before"])
    }))

  it.scoped("with exitOnPoisonedCredentials, the layer is released before the response and the process ends after it", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("poison")
      const set = yield* environmentCredentials
      const order: Array<string> = []
      const Releasing = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => order.push("released"))))
      const handler = yield* LambdaHandler.makeScoped(
        Layer.merge(EnvironmentLayer, Releasing),
        (event: { readonly id: string }) => DynamoDB.putItem({ TableName: table, Item: { id: { S: event.id } } }),
        { exitOnPoisonedCredentials: true, exit: (code) => order.push(`exit ${code}`) }
      )
      yield* invoke(handler, { id: "before" })
      yield* stack.authority.revoke(set.accessKeyId)
      // What aws-lambda-ric does with the handler's promise: once it settles, post the response in a setImmediate.
      const error = yield* Effect.promise(() =>
        handler({ id: "a" }, lambdaContext()).then(
          () => undefined,
          async (error: unknown) => {
            order.push("settled")
            await new Promise((resolve) => setImmediate(resolve))
            order.push("posted")
            return error
          }
        )
      )
      yield* turns(5)
      assert.isTrue(LambdaHandlerError.isPoisonedSandboxError(error), String(error))
      assert.isTrue((error as LambdaHandlerError.PoisonedSandboxError).exiting)
      assert.deepStrictEqual(order, ["released", "settled", "posted", "exit 1"])
    }))

  it.scoped("rejected credentials from a source other than the environment are not a poisoned sandbox", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("not-poisoned")
      const set = yield* stack.authority.currentStatic
      const exits: Array<number> = []
      // The same set as the environment would give, and just as impossible to renew, but static.
      const StaticLayer = DynamoDB.layerConfig().pipe(
        Layer.provideMerge(Credentials.layer({
          provider: CredentialsProvider.fromStatic({
            accessKeyId: set.accessKeyId,
            secretAccessKey: Redacted.make(set.secretAccessKey),
            sessionToken: Redacted.make(set.sessionToken)
          })
        }))
      )
      const handler = yield* LambdaHandler.makeScoped(
        StaticLayer,
        (event: { readonly id: string }) => DynamoDB.putItem({ TableName: table, Item: { id: { S: event.id } } }),
        { exitOnPoisonedCredentials: true, exit: (code) => exits.push(code) }
      )
      yield* invoke(handler, { id: "before" })
      yield* stack.authority.revoke(set.accessKeyId)
      const error = yield* Effect.flip(invoke(handler, { id: "a" }))
      assert.isTrue(AwsError.isCredentialsError(error), String(error))
      yield* turns(5)
      assert.deepStrictEqual(exits, [])
    }))
})
