/**
 * An emulator of the Lambda Runtime API (`/2018-06-01/runtime/...`), the HTTP interface a runtime interface client
 * such as `aws-lambda-ric` polls for invocations, for running real handlers the way Lambda runs them. What holds:
 *
 * - `invoke` queues an invocation; a runtime takes the oldest one with `GET .../invocation/next` (a long poll), and
 *   its deadline (`Lambda-Runtime-Deadline-Ms`) starts then, as Lambda's does when it hands the event over.
 * - Each invocation ends once: with the runtime's response, its error, a timeout when its deadline passes first, an
 *   init error (the invocation waiting when the runtime reports `init/error` fails with it, as it does on Lambda), or
 *   the runtime's exit (`reportExit`, `Runtime.ExitError`). Anything the runtime posts afterwards is refused.
 * - Requests a runtime has no business making (an unknown request id, a second result) are refused as Lambda
 *   refuses them, and recorded in `violations`.
 *
 * It listens on loopback (an ephemeral port by default), keeps wall-clock time as every server of the testkit does,
 * and stops when its scope closes; invocations not finished by then fail with `RuntimeApiClosedError`.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { randomBytes, randomUUID } from "node:crypto"
import * as Http from "node:http"
import { listen } from "./internal/httpServer.js"
import { withLiveClock } from "./internal/liveClock.js"
import type * as StackError from "./StackError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/testkit/LambdaRuntimeApiError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What makes an invocation invalid: an event JSON cannot carry, a timeout that is not a positive duration, or a
 * request id already used.
 *
 * @since 0.1.0
 * @category models
 */
export type InvalidInvocationReason = "EventNotJson" | "InvalidTimeout" | "DuplicateRequestId"

/**
 * `invoke` was called with something Lambda would refuse; nothing was queued.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInvocationError extends Data.TaggedError("InvalidInvocationError")<{
  readonly reason: InvalidInvocationReason
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `invalid invocation (${this.reason}): ${this.detail}`
  }
}

/**
 * The emulator stopped (its scope closed) before the invocation ended, or before it was queued.
 *
 * @since 0.1.0
 * @category errors
 */
export class RuntimeApiClosedError extends Data.TaggedError("RuntimeApiClosedError")<{
  readonly requestId: string
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `invocation ${this.requestId}: the Lambda Runtime API emulator was closed`
  }
}

/**
 * Any error of this module.
 *
 * @since 0.1.0
 * @category errors
 */
export type LambdaRuntimeApiError = InvalidInvocationError | RuntimeApiClosedError

/**
 * @since 0.1.0
 * @category guards
 */
export const isLambdaRuntimeApiError = (u: unknown): u is LambdaRuntimeApiError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isInvalidInvocationError = (u: unknown): u is InvalidInvocationError =>
  isLambdaRuntimeApiError(u) && u._tag === "InvalidInvocationError"

/**
 * @since 0.1.0
 * @category guards
 */
export const isRuntimeApiClosedError = (u: unknown): u is RuntimeApiClosedError =>
  isLambdaRuntimeApiError(u) && u._tag === "RuntimeApiClosedError"

/**
 * The handler's result: `body` is the posted payload parsed as JSON (or the raw text, if it is not JSON).
 *
 * @since 0.1.0
 * @category models
 */
export interface InvocationResponse {
  readonly _tag: "Response"
  readonly requestId: string
  readonly body: unknown
  readonly payload: string
}

/**
 * Where an invocation's error comes from: the handler (`invoke`), a failed init (`init`), or the runtime's exit
 * while it held the invocation (`exit`).
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorPhase = "invoke" | "init" | "exit"

/**
 * The invocation failed. `errorType` is the runtime's `Lambda-Runtime-Function-Error-Type` (else the body's
 * `errorType`); for an exit it is `Runtime.ExitError`, as Lambda reports it.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvocationError {
  readonly _tag: "Error"
  readonly requestId: string
  readonly phase: ErrorPhase
  readonly errorType: string
  readonly errorMessage: string
  readonly trace: ReadonlyArray<string>
  /** The posted payload parsed as JSON, or the raw text. */
  readonly body: unknown
}

/**
 * The deadline passed before the runtime answered. Lambda would now end the execution environment.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvocationTimeout {
  readonly _tag: "Timeout"
  readonly requestId: string
  readonly timeoutMs: number
}

/**
 * How an invocation ended.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = InvocationResponse | InvocationError | InvocationTimeout

/**
 * An error a runtime reported with `POST /runtime/init/error`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InitError {
  readonly errorType: string
  readonly errorMessage: string
  readonly body: unknown
  /** The invocation that failed with it, if one was waiting. */
  readonly requestId: string | undefined
}

/**
 * A request the runtime should not have made: a result for a request id never handed out (`UnknownRequestId`), or a
 * second result for one (`AlreadyCompleted`). A result for an invocation the emulator had ended (a timeout, an exit
 * it was told of) is not one of them: it is counted in `Stats.lateResults`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Violation {
  readonly kind: "UnknownRequestId" | "AlreadyCompleted"
  readonly method: string
  readonly path: string
  readonly requestId: string
}

/**
 * Counts since the emulator started.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Invocations queued by `invoke`. */
  readonly invocations: number
  /** Invocations handed to a runtime by `invocation/next`. */
  readonly dispatched: number
  readonly responses: number
  /** Invocation errors the runtime posted. */
  readonly errors: number
  readonly timeouts: number
  /** Invocations failed because the runtime exited while it held them. */
  readonly exits: number
  /** `init/error` posts. */
  readonly initErrors: number
  /** Results posted after the emulator had ended their invocation (a timeout, an exit), and refused. */
  readonly lateResults: number
  /** Invocations queued now, not yet handed to a runtime. */
  readonly waiting: number
  /** Invocations a runtime holds now. */
  readonly inFlight: number
}

/**
 * Options of one invocation.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvokeOptions {
  /** The function's timeout: the deadline is this long after the runtime takes the invocation. Default "3 seconds". */
  readonly timeout?: Duration.DurationInput | undefined
  /** Default: a random UUID. */
  readonly requestId?: string | undefined
  /** Default: a random X-Ray trace header. */
  readonly traceId?: string | undefined
}

/**
 * How the runtime ended, for `reportExit`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExitStatus {
  readonly code?: number | null | undefined
  readonly signal?: string | null | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Loopback host to listen on (default "127.0.0.1"). */
  readonly host?: string | undefined
  /** Port to listen on (default 0: any free port). */
  readonly port?: number | undefined
  /** Sent as `Lambda-Runtime-Invoked-Function-Arn` (default `arn:aws:lambda:us-east-1:000000000000:function:local`). */
  readonly functionArn?: string | undefined
  /** Timeout of invocations that do not set one (default "3 seconds", Lambda's default). */
  readonly defaultTimeout?: Duration.DurationInput | undefined
}

/**
 * The running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`. */
  readonly runtimeApi: string
  /** `http://host:port`. */
  readonly url: string
  readonly functionArn: string
  /** Queues an invocation and waits for how it ends. Interrupting it withdraws an invocation still queued. */
  readonly invoke: (event: unknown, options?: InvokeOptions) => Effect.Effect<Outcome, LambdaRuntimeApiError>
  /**
   * Tells the emulator that the runtime process ended: the invocations it held fail with `Runtime.ExitError`, as
   * Lambda reports them. Returns how many did.
   */
  readonly reportExit: (status?: ExitStatus) => Effect.Effect<number>
  readonly stats: Effect.Effect<Stats>
  /** The init errors the runtime reported, oldest first. */
  readonly initErrors: Effect.Effect<ReadonlyArray<InitError>>
  readonly violations: Effect.Effect<ReadonlyArray<Violation>>
  /**
   * When each `invocation/next` request arrived, oldest first, in epoch milliseconds with sub-millisecond precision
   * (`performance.timeOrigin + performance.now()`). A runtime sends its first one when its init has ended, so the
   * first after a runtime's start marks the end of its init phase.
   */
  readonly nextRequests: Effect.Effect<ReadonlyArray<number>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class LambdaRuntimeApi extends Context.Tag("@aws-resilience/testkit/LambdaRuntimeApi")<
  LambdaRuntimeApi,
  Service
>() {}

const PREFIX = "/2018-06-01/runtime"

interface Entry {
  readonly requestId: string
  readonly payload: string
  readonly timeoutMs: number
  readonly traceId: string
  readonly done: Deferred.Deferred<Outcome, RuntimeApiClosedError>
  state: "queued" | "withdrawn" | "dispatched" | "done"
  /** Whether a runtime was given it. */
  handedOut: boolean
  /** Who ended it: the runtime's own result, or the emulator (a timeout, an init error, an exit). */
  endedBy: "runtime" | "emulator" | undefined
}

type Counts = Omit<Stats, "waiting" | "inFlight">

const zero: Counts = {
  invocations: 0,
  dispatched: 0,
  responses: 0,
  errors: 0,
  timeouts: 0,
  exits: 0,
  initErrors: 0,
  lateResults: 0
}

const parsePayload = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const stringField = (body: unknown, key: string): string | undefined =>
  Predicate.hasProperty(body, key) && typeof body[key] === "string" ? body[key] : undefined

const traceOf = (body: unknown): ReadonlyArray<string> =>
  Predicate.hasProperty(body, "trace") && Array.isArray(body.trace) ? body.trace.map(String) : []

const hex = (bytes: number): string => randomBytes(bytes).toString("hex")

const newTraceId = (): string =>
  `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${hex(12)};Parent=${hex(8)};Sampled=0`

// The shapes Lambda's own Runtime API answers with.
const accepted = HttpServerResponse.unsafeJson({ status: "OK" }, { status: 202 })
const refused = (status: number, errorType: string, errorMessage: string) =>
  HttpServerResponse.unsafeJson({ errorType, errorMessage }, { status })

type Encoded = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly cause: unknown }

const encodeEvent = (event: unknown): Encoded => {
  try {
    const payload = JSON.stringify(event)
    return typeof payload === "string" ? { ok: true, value: payload } : { ok: false, cause: undefined }
  } catch (cause) {
    return { ok: false, cause }
  }
}

/**
 * Starts the emulator; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, StackError.StackError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const functionArn = options.functionArn ?? "arn:aws:lambda:us-east-1:000000000000:function:local"
    const defaultTimeoutMs = Duration.toMillis(options.defaultTimeout ?? "3 seconds")

    const queue = yield* Queue.unbounded<Entry>()
    // Every invocation ever queued, by request id, in the order queued.
    const entries = new Map<string, Entry>()
    const counts = yield* Ref.make(zero)
    const initErrors = yield* Ref.make<ReadonlyArray<InitError>>([])
    const violations = yield* Ref.make<ReadonlyArray<Violation>>([])
    const timers = yield* FiberSet.make()
    const nextRequests: Array<number> = []
    let closed = false

    const count = (key: keyof Counts) => Ref.update(counts, (c) => ({ ...c, [key]: c[key] + 1 }))

    // Ends the invocation with `outcome` unless it has ended already; true when this call ended it.
    const finish = (entry: Entry, outcome: Outcome, by: "runtime" | "emulator") =>
      Effect.flatMap(Deferred.succeed(entry.done, outcome), (first) =>
        Effect.sync(() => {
          if (first) {
            entry.state = "done"
            entry.endedBy = by
          }
          return first
        }))

    const deadlineTimer = (entry: Entry) =>
      Effect.sleep(Duration.millis(entry.timeoutMs)).pipe(
        Effect.zipRight(
          finish(entry, { _tag: "Timeout", requestId: entry.requestId, timeoutMs: entry.timeoutMs }, "emulator")
        ),
        Effect.flatMap((first) => first ? count("timeouts") : Effect.void),
        // Nothing to wait for once the invocation has ended otherwise.
        Effect.raceFirst(Deferred.await(entry.done).pipe(Effect.ignore)),
        withLiveClock
      )

    // Takes the oldest invocation still queued. Once taken it is in flight, whatever becomes of the request (the take
    // and the hand-over cannot be separated by an interruption): should the runtime never read the answer, the
    // invocation ends by its deadline or by `reportExit`, as on Lambda, rather than vanishing.
    const takeNext: Effect.Effect<{ readonly entry: Entry; readonly deadline: number }> = Effect.uninterruptibleMask((
      restore
    ) =>
      Effect.flatMap(restore(Queue.take(queue)), (entry) => {
        if (entry.state !== "queued") return restore(takeNext)
        entry.state = "dispatched"
        entry.handedOut = true
        const deadline = Date.now() + entry.timeoutMs
        return count("dispatched").pipe(
          // The timer is forked from an uninterruptible region, and must not inherit it.
          Effect.zipRight(FiberSet.run(timers, Effect.interruptible(deadlineTimer(entry)))),
          Effect.as({ entry, deadline })
        )
      })
    )

    const polled = Effect.sync(() => {
      nextRequests.push(performance.timeOrigin + performance.now())
    })

    const next = Effect.zipRight(polled, takeNext).pipe(
      Effect.map(({ deadline, entry }) =>
        HttpServerResponse.text(entry.payload, {
          status: 200,
          contentType: "application/json",
          headers: {
            "lambda-runtime-aws-request-id": entry.requestId,
            "lambda-runtime-deadline-ms": String(deadline),
            "lambda-runtime-invoked-function-arn": functionArn,
            "lambda-runtime-trace-id": entry.traceId
          }
        })
      )
    )

    const violation = (kind: Violation["kind"], request: HttpServerRequest.HttpServerRequest, requestId: string) =>
      Ref.update(violations, (all) => [...all, { kind, method: request.method, path: request.url, requestId }])

    // `respond` builds the outcome from the posted body; the result is refused unless the invocation is in flight.
    const result = (respond: (entry: Entry, text: string, errorType: string | undefined) => Outcome) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const { id } = yield* HttpRouter.params
        const requestId = id ?? ""
        const text = yield* Effect.orElseSucceed(request.text, () => "")
        const entry = entries.get(requestId)
        if (entry === undefined || !entry.handedOut) {
          yield* violation("UnknownRequestId", request, requestId)
          return refused(400, "InvalidRequestID", `Invalid request ID: ${requestId}`)
        }
        const outcome = respond(entry, text, request.headers["lambda-runtime-function-error-type"])
        if (yield* finish(entry, outcome, "runtime")) {
          yield* count(outcome._tag === "Response" ? "responses" : "errors")
          return accepted
        }
        if (entry.endedBy === "emulator") yield* count("lateResults")
        else yield* violation("AlreadyCompleted", request, requestId)
        return refused(403, "InvalidStateTransition", `Invocation ${requestId} has already ended`)
      })

    const response = result((entry, text) => ({
      _tag: "Response",
      requestId: entry.requestId,
      body: parsePayload(text),
      payload: text
    }))

    const invocationError = result((entry, text, header) => {
      const body = parsePayload(text)
      return {
        _tag: "Error",
        requestId: entry.requestId,
        phase: "invoke",
        errorType: header ?? stringField(body, "errorType") ?? "Unhandled",
        errorMessage: stringField(body, "errorMessage") ?? "",
        trace: traceOf(body),
        body
      }
    })

    // The oldest invocation still waiting fails with the init error, as the invocation that started the init does on
    // Lambda.
    const initError = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const body = parsePayload(yield* Effect.orElseSucceed(request.text, () => ""))
      const errorType = request.headers["lambda-runtime-function-error-type"] ?? stringField(body, "errorType") ??
        "Runtime.Unknown"
      const errorMessage = stringField(body, "errorMessage") ?? ""
      let waiting: Entry | undefined
      for (const entry of entries.values()) {
        if (entry.state === "queued") {
          waiting = entry
          break
        }
      }
      if (waiting !== undefined) {
        yield* finish(waiting, {
          _tag: "Error",
          requestId: waiting.requestId,
          phase: "init",
          errorType,
          errorMessage,
          trace: traceOf(body),
          body
        }, "emulator")
      }
      yield* Ref.update(initErrors, (all) => [...all, { errorType, errorMessage, body, requestId: waiting?.requestId }])
      yield* count("initErrors")
      return accepted
    })

    const router = HttpRouter.empty.pipe(
      HttpRouter.get(`${PREFIX}/invocation/next`, next),
      HttpRouter.post(`${PREFIX}/invocation/:id/response`, response),
      HttpRouter.post(`${PREFIX}/invocation/:id/error`, invocationError),
      HttpRouter.post(`${PREFIX}/init/error`, initError)
    )
    const handler = yield* NodeHttpServer.makeHandler(router.pipe(withLiveClock))

    // Registered before the server, so it runs after the server has stopped: nothing can end an invocation then.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return Effect.forEach(
          entries.values(),
          (entry) => Deferred.fail(entry.done, new RuntimeApiClosedError({ requestId: entry.requestId })),
          { discard: true }
        )
      })
    )
    const { port } = yield* listen(() => Http.createServer(handler), {
      component: "Lambda Runtime API",
      host,
      port: options.port ?? 0
    })

    const invoke = (event: unknown, invokeOptions: InvokeOptions = {}): Effect.Effect<Outcome, LambdaRuntimeApiError> =>
      Effect.suspend((): Effect.Effect<Outcome, LambdaRuntimeApiError> => {
        const requestId = invokeOptions.requestId ?? randomUUID()
        const encoded = encodeEvent(event)
        if (!encoded.ok) {
          return Effect.fail(
            new InvalidInvocationError({
              reason: "EventNotJson",
              detail: "the event has no JSON representation",
              cause: encoded.cause
            })
          )
        }
        const timeout = invokeOptions.timeout === undefined
          ? Option.some(Duration.millis(defaultTimeoutMs))
          : Duration.decodeUnknown(invokeOptions.timeout)
        const timeoutMs = Option.match(timeout, { onNone: () => Number.NaN, onSome: Duration.toMillis })
        if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) {
          return Effect.fail(
            new InvalidInvocationError({
              reason: "InvalidTimeout",
              detail: `the timeout must be a positive, finite duration, not ${String(invokeOptions.timeout)}`
            })
          )
        }
        if (entries.has(requestId)) {
          return Effect.fail(
            new InvalidInvocationError({ reason: "DuplicateRequestId", detail: `${requestId} is already in use` })
          )
        }
        if (closed) return Effect.fail(new RuntimeApiClosedError({ requestId }))
        const entry: Entry = {
          requestId,
          payload: encoded.value,
          timeoutMs: Math.ceil(timeoutMs),
          traceId: invokeOptions.traceId ?? newTraceId(),
          done: Deferred.unsafeMake(FiberId.none),
          state: "queued",
          handedOut: false,
          endedBy: undefined
        }
        entries.set(requestId, entry)
        return count("invocations").pipe(
          Effect.zipRight(Queue.offer(queue, entry)),
          Effect.zipRight(Deferred.await(entry.done)),
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              if (entry.state === "queued") entry.state = "withdrawn"
            })
          )
        )
      })

    const reportExit = (status: ExitStatus = {}): Effect.Effect<number> =>
      Effect.suspend(() => {
        const held = Array.from(entries.values()).filter((entry) => entry.state === "dispatched")
        const how = status.signal != null
          ? `signal: ${status.signal}`
          : `exit status ${status.code ?? "unknown"}`
        return Effect.reduce(held, 0, (n, entry) =>
          Effect.map(
            finish(entry, {
              _tag: "Error",
              requestId: entry.requestId,
              phase: "exit",
              errorType: "Runtime.ExitError",
              errorMessage: `RequestId: ${entry.requestId} Error: Runtime exited with error: ${how}`,
              trace: [],
              body: undefined
            }, "emulator"),
            (first) => first ? n + 1 : n
          )).pipe(Effect.tap((n) => Ref.update(counts, (c) => ({ ...c, exits: c.exits + n }))))
      })

    const stats = Effect.map(Ref.get(counts), (c): Stats => {
      let waiting = 0
      let inFlight = 0
      for (const entry of entries.values()) {
        if (entry.state === "queued") waiting++
        else if (entry.state === "dispatched") inFlight++
      }
      return { ...c, waiting, inFlight }
    })

    return LambdaRuntimeApi.of({
      runtimeApi: `${host}:${port}`,
      url: `http://${host}:${port}`,
      functionArn,
      invoke,
      reportExit,
      stats,
      initErrors: Ref.get(initErrors),
      violations: Ref.get(violations),
      nextRequests: Effect.sync(() => nextRequests.slice())
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<LambdaRuntimeApi, StackError.StackError> =>
  Layer.scoped(LambdaRuntimeApi, make(options))
