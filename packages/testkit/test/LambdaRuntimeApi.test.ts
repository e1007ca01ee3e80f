/**
 * The Lambda Runtime API emulator alone: a test plays the runtime with plain HTTP requests, as a runtime interface
 * client makes them.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as LambdaRuntimeApi from "../src/LambdaRuntimeApi.js"

interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** One request of the runtime's; `signal` lets a test abandon a long poll. */
const request = (
  api: LambdaRuntimeApi.Service,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Reply> =>
  Effect.promise(async (signal) => {
    const response = await fetch(`${api.url}/2018-06-01/runtime${path}`, {
      method,
      signal,
      headers: { "content-type": "application/json", ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

const next = (api: LambdaRuntimeApi.Service) => request(api, "GET", "/invocation/next")
const respond = (api: LambdaRuntimeApi.Service, id: string, body: unknown) =>
  request(api, "POST", `/invocation/${id}/response`, body)

const requestIdOf = (reply: Reply): string => reply.headers.get("lambda-runtime-aws-request-id")!

const Api = LambdaRuntimeApi.make({ functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:orders" })

describe("LambdaRuntimeApi", () => {
  it.scopedLive("hands an invocation to the polling runtime with Lambda's headers, and returns its response", () =>
    Effect.gen(function*() {
      const api = yield* Api
      // The runtime polls first: its request waits for an invocation.
      const poll = yield* Effect.fork(next(api))
      const invocation = yield* Effect.fork(api.invoke({ order: 1 }, { timeout: "10 seconds", requestId: "req-1" }))
      const handed = yield* Fiber.join(poll)
      assert.strictEqual(handed.status, 200)
      assert.deepStrictEqual(JSON.parse(handed.text), { order: 1 })
      assert.strictEqual(requestIdOf(handed), "req-1")
      assert.strictEqual(
        handed.headers.get("lambda-runtime-invoked-function-arn"),
        "arn:aws:lambda:eu-west-1:123456789012:function:orders"
      )
      assert.match(handed.headers.get("lambda-runtime-trace-id")!, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=/)
      const deadline = Number(handed.headers.get("lambda-runtime-deadline-ms"))
      assert.isAbove(deadline, Date.now())
      assert.isAtMost(deadline, Date.now() + 10_000)
      assert.deepStrictEqual((yield* api.stats).inFlight, 1)

      const posted = yield* respond(api, "req-1", { stored: true })
      assert.strictEqual(posted.status, 202)
      assert.deepStrictEqual(yield* Fiber.join(invocation), {
        _tag: "Response",
        requestId: "req-1",
        body: { stored: true },
        payload: JSON.stringify({ stored: true })
      })
      const stats = yield* api.stats
      assert.deepStrictEqual(
        [stats.invocations, stats.dispatched, stats.responses, stats.waiting, stats.inFlight],
        [1, 1, 1, 0, 0]
      )
    }))

  it.scopedLive("invocations are handed out oldest first; one withdrawn while queued is never handed out", () =>
    Effect.gen(function*() {
      const api = yield* Api
      const first = yield* Effect.fork(api.invoke("first", { requestId: "a" }))
      const withdrawn = yield* Effect.fork(api.invoke("withdrawn", { requestId: "b" }))
      const third = yield* Effect.fork(api.invoke("third", { requestId: "c" }))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(withdrawn)
      const ids: Array<string> = []
      for (let i = 0; i < 2; i++) {
        const handed = yield* next(api)
        ids.push(requestIdOf(handed))
        yield* respond(api, requestIdOf(handed), JSON.parse(handed.text))
      }
      assert.deepStrictEqual(ids, ["a", "c"])
      assert.strictEqual(((yield* Fiber.join(first)) as LambdaRuntimeApi.InvocationResponse).body, "first")
      assert.strictEqual(((yield* Fiber.join(third)) as LambdaRuntimeApi.InvocationResponse).body, "third")
      assert.strictEqual((yield* api.stats).waiting, 0)
    }))

  it.scopedLive("an error the runtime posts ends the invocation with its type, message and trace", () =>
    Effect.gen(function*() {
      const api = yield* Api
      const invocation = yield* Effect.fork(api.invoke({}))
      const id = requestIdOf(yield* next(api))
      const posted = yield* request(
        api,
        "POST",
        `/invocation/${id}/error`,
        { errorType: "Body", errorMessage: "throttled", trace: ["at handler"] },
        { "Lambda-Runtime-Function-Error-Type": "DeadlineExceededError" }
      )
      assert.strictEqual(posted.status, 202)
      const outcome = yield* Fiber.join(invocation)
      assert.deepStrictEqual(outcome, {
        _tag: "Error",
        requestId: id,
        phase: "invoke",
        errorType: "DeadlineExceededError",
        errorMessage: "throttled",
        trace: ["at handler"],
        body: { errorType: "Body", errorMessage: "throttled", trace: ["at handler"] }
      })
      assert.strictEqual((yield* api.stats).errors, 1)
    }))

  it.scopedLive("an init error fails the invocation waiting for the runtime, and is recorded", () =>
    Effect.gen(function*() {
      const api = yield* Api
      // Reported before anything waits: only recorded.
      yield* request(api, "POST", "/init/error", { errorType: "Runtime.ImportModuleError", errorMessage: "gone" })
      const invocation = yield* Effect.fork(api.invoke({}, { requestId: "cold" }))
      yield* Effect.yieldNow()
      const posted = yield* request(
        api,
        "POST",
        "/init/error",
        { errorType: "Error", errorMessage: "no table" },
        { "Lambda-Runtime-Function-Error-Type": "Runtime.UserCodeError" }
      )
      assert.strictEqual(posted.status, 202)
      const outcome = yield* Fiber.join(invocation)
      assert.strictEqual(outcome._tag, "Error")
      assert.deepStrictEqual(
        outcome._tag === "Error" ? [outcome.phase, outcome.errorType, outcome.errorMessage] : [],
        ["init", "Runtime.UserCodeError", "no table"]
      )
      const initErrors = yield* api.initErrors
      assert.deepStrictEqual(initErrors.map((e) => [e.errorType, e.requestId]), [
        ["Runtime.ImportModuleError", undefined],
        ["Runtime.UserCodeError", "cold"]
      ])
      assert.strictEqual((yield* api.stats).initErrors, 2)
    }))

  it.scopedLive("the deadline passing first is a timeout; a result posted after it is refused", () =>
    Effect.gen(function*() {
      const api = yield* Api
      const invocation = yield* Effect.fork(api.invoke({}, { timeout: "50 millis" }))
      const id = requestIdOf(yield* next(api))
      const outcome = yield* Fiber.join(invocation)
      assert.deepStrictEqual(outcome, { _tag: "Timeout", requestId: id, timeoutMs: 50 })
      const late = yield* respond(api, id, "too late")
      assert.strictEqual(late.status, 403)
      assert.strictEqual(JSON.parse(late.text).errorType, "InvalidStateTransition")
      const stats = yield* api.stats
      assert.deepStrictEqual([stats.timeouts, stats.lateResults, stats.responses], [1, 1, 0])
      assert.deepStrictEqual(yield* api.violations, [])
    }))

  it.scopedLive("results for unknown request ids, or a second result, are refused and recorded as violations", () =>
    Effect.gen(function*() {
      const api = yield* Api
      const unknown = yield* respond(api, "nobody", {})
      assert.strictEqual(unknown.status, 400)
      assert.strictEqual(JSON.parse(unknown.text).errorType, "InvalidRequestID")
      // Queued but not handed out: the runtime cannot know its id.
      const queued = yield* Effect.fork(api.invoke({}, { requestId: "queued" }))
      yield* Effect.yieldNow()
      assert.strictEqual((yield* respond(api, "queued", {})).status, 400)
      const id = requestIdOf(yield* next(api))
      assert.strictEqual((yield* respond(api, id, 1)).status, 202)
      const again = yield* request(api, "POST", `/invocation/${id}/error`, { errorType: "E", errorMessage: "" })
      assert.strictEqual(again.status, 403)
      assert.strictEqual(((yield* Fiber.join(queued)) as LambdaRuntimeApi.InvocationResponse).body, 1)
      assert.deepStrictEqual((yield* api.violations).map((v) => [v.kind, v.requestId]), [
        ["UnknownRequestId", "nobody"],
        ["UnknownRequestId", "queued"],
        ["AlreadyCompleted", "queued"]
      ])
    }))

  it.scopedLive("the runtime's exit fails the invocations it held with Runtime.ExitError; queued ones wait on", () =>
    Effect.gen(function*() {
      const api = yield* Api
      const held = yield* Effect.fork(api.invoke({}, { requestId: "held" }))
      const waiting = yield* Effect.fork(api.invoke({}, { requestId: "waiting" }))
      yield* next(api)
      assert.strictEqual(yield* api.reportExit({ code: 1 }), 1)
      const outcome = yield* Fiber.join(held)
      assert.deepStrictEqual(
        outcome._tag === "Error" ? [outcome.phase, outcome.errorType, outcome.errorMessage] : [],
        ["exit", "Runtime.ExitError", "RequestId: held Error: Runtime exited with error: exit status 1"]
      )
      // A new runtime takes the one still queued.
      const handed = yield* next(api)
      assert.strictEqual(requestIdOf(handed), "waiting")
      yield* respond(api, "waiting", "ok")
      assert.strictEqual((yield* Fiber.join(waiting))._tag, "Response")
      assert.strictEqual((yield* api.stats).exits, 1)
    }))

  it.scopedLive("bad use fails with typed errors and queues nothing", () =>
    Effect.gen(function*() {
      const api = yield* Api
      const reasons = yield* Effect.forEach([
        api.invoke({ amount: 1n }),
        api.invoke(undefined),
        api.invoke({}, { timeout: "0 millis" }),
        api.invoke({}, { timeout: "forever" as never })
      ], (invocation) =>
        Effect.map(Effect.flip(invocation), (error) => {
          assert.isTrue(LambdaRuntimeApi.isInvalidInvocationError(error))
          return (error as LambdaRuntimeApi.InvalidInvocationError).reason
        }))
      assert.deepStrictEqual(reasons, ["EventNotJson", "EventNotJson", "InvalidTimeout", "InvalidTimeout"])
      const first = yield* Effect.fork(api.invoke({}, { requestId: "same" }))
      yield* Effect.yieldNow()
      const duplicate = yield* Effect.flip(api.invoke({}, { requestId: "same" }))
      assert.strictEqual((duplicate as LambdaRuntimeApi.InvalidInvocationError).reason, "DuplicateRequestId")
      assert.include(duplicate.message, "same")
      assert.strictEqual((yield* api.stats).invocations, 1)
      yield* Fiber.interrupt(first)
    }))

  it.live("closing the emulator fails the invocations not yet ended, and ends a runtime's long poll", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const api = yield* Scope.extend(Api, scope)
      const held = yield* Effect.fork(api.invoke({}, { requestId: "held" }))
      yield* next(api)
      // A second poll finds nothing to take, and waits.
      const poll = yield* Effect.fork(
        Effect.exit(Effect.tryPromise(() => fetch(`${api.url}/2018-06-01/runtime/invocation/next`)))
      )
      yield* Effect.sleep("20 millis")
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(Fiber.join(held))
      assert.isTrue(LambdaRuntimeApi.isRuntimeApiClosedError(error))
      // Either a refused connection or an aborted response: the point is that it ends.
      yield* Fiber.join(poll)
      const late = yield* Effect.flip(api.invoke({}))
      assert.isTrue(LambdaRuntimeApi.isRuntimeApiClosedError(late))
    }))
})
