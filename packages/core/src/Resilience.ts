/**
 * Runs SDK calls through a `ManagedClient` with a retry policy: an abort signal per attempt, a span per call,
 * a budget per client, and credential renewal (refresh, then rebuild, each once per generation) before a
 * retry after a `CredentialsError`.
 *
 * @since 0.1.0
 */
import type { StaticSchemaIdOperation } from "@smithy/types"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import type * as Tracer from "effect/Tracer"
import * as AwsError from "./AwsError.js"
import * as ConnectionPool from "./internal/connectionPool.js"
import type * as ManagedClient from "./ManagedClient.js"
import * as Metrics from "./Metrics.js"
import * as RetryPolicy from "./RetryPolicy.js"

/**
 * One operation on a client: its name, and how to run it given an abort signal. Hand the signal to the SDK with
 * `Resilience.sendCommand(client, command, signal)` (or `client.send(command, Resilience.sendOptions(signal))`):
 * through a managed client's connection pool only the request handler sees it, which is what interrupting the call
 * needs and costs the SDK nothing per call, and `sendCommand` also keeps the SDK's handler cache in use.
 *
 * @since 0.1.0
 * @category models
 */
export interface Operation<C, A> {
  readonly name: string
  readonly run: (client: C, signal: AbortSignal) => Promise<A>
}

/**
 * The shape of an SDK v3 command: what `client.send` takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Command<Input, Output> {
  readonly input: Input
  /** Phantom: the SDK's commands carry their output type here. */
  readonly resolveMiddleware: (...args: Array<any>) => (...args: Array<any>) => Promise<{ output: Output }>
}

/**
 * What `send` needs of an SDK v3 client.
 *
 * @since 0.1.0
 * @category models
 */
export interface SdkClient {
  send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any>
  destroy(): void
}

const operationSchemaId: StaticSchemaIdOperation = 9

/**
 * The operation a command is for, e.g. `PutItem`, as the SDK's command builder recorded it in the command's
 * operation schema (`command.schema`: `[9, namespace, name, ...]`, or an object with a `name`). The class name is
 * only a fallback, for commands built without a schema: a minifier renames classes (`PutItemCommand` becomes `NB`).
 *
 * @since 0.1.0
 * @category utils
 */
export const operationName = (command: object): string => {
  const schema: unknown = (command as { readonly schema?: unknown }).schema
  if (Array.isArray(schema)) {
    if (schema[0] === operationSchemaId && typeof schema[2] === "string") return schema[2]
  } else if (Predicate.hasProperty(schema, "name") && typeof schema.name === "string") {
    return schema.name
  }
  return command.constructor.name.replace(/Command$/, "")
}

/**
 * The retry driver of one call, shared by `execute` and `retryRemaining`. After a `CredentialsError` the
 * credentials and the client are renewed (each once per generation, however many calls ask); when that brought a
 * newer generation the call is retried at once without using an attempt, up to the policy's
 * `maxCredentialRenewals`. Otherwise the policy's schedule decides, and anything but a credentials failure pays
 * the budget. Every retry is counted. `refund` gives back what the last retry cost, once the call has succeeded.
 */
const retryDriver = <C>(self: ManagedClient.ManagedClient<C>, operation: string, policy: RetryPolicy.Policy) =>
  Effect.suspend(() => {
    let lastCost = Option.none<number>()
    let renewals = 0
    const count = (error: AwsError.AwsError) =>
      Metric.increment(Metric.taggedWithLabels(Metrics.retries, [
        MetricLabel.make("error", error._tag),
        MetricLabel.make("service", self.service),
        MetricLabel.make("operation", operation)
      ]))
    // Renewal is not load on the service, so it is not charged to the budget.
    const renewed = (error: AwsError.CredentialsError): Effect.Effect<boolean> =>
      self.renew(error.generation, error.reason).pipe(
        Effect.catchAll((e) =>
          Effect.logWarning("credentials renewal failed; the next attempt will retry it", e.message)
        ),
        Effect.zipRight(self.generation),
        Effect.map((generation) => {
          if (generation <= error.generation || renewals >= policy.maxCredentialRenewals) return false
          renewals++
          return true
        })
      )
    const beforeRetry = (error: AwsError.AwsError): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        if (error._tag !== "CredentialsError") {
          const cost = yield* self.budget.acquire(error)
          if (Option.isNone(cost)) {
            yield* Effect.logDebug("retry budget exhausted; not retrying", error.message)
            return false
          }
          lastCost = cost
        }
        yield* count(error)
        return true
      })
    return Effect.map(Schedule.driver(policy.schedule.pipe(Schedule.checkEffect(beforeRetry))), (driver) => ({
      next: (error: AwsError.AwsError): Effect.Effect<unknown, Option.Option<never>> =>
        Effect.gen(function*() {
          // Only after a failure: the SDK client may have learnt the server's clock from this response.
          yield* self.syncClockOffset
          if (error._tag === "CredentialsError" && policy.isRetryable(error) && (yield* renewed(error))) {
            return yield* count(error)
          }
          return yield* driver.next(error)
        }),
      refund: Effect.suspend(() => self.budget.release(lastCost))
    }))
  })

/** The slow path, entered after a first failure. */
const retryAfter = <C, A>(
  self: ManagedClient.ManagedClient<C>,
  operation: string,
  attempt: Effect.Effect<A, AwsError.AwsError>,
  policy: RetryPolicy.Policy,
  first: AwsError.AwsError
): Effect.Effect<A, AwsError.AwsError> =>
  Effect.flatMap(retryDriver(self, operation, policy), (driver) => {
    const loop = (error: AwsError.AwsError): Effect.Effect<A, AwsError.AwsError> =>
      driver.next(error).pipe(
        Effect.matchEffect({
          onFailure: () => Effect.fail(error),
          onSuccess: () => Effect.catchAll(attempt, loop)
        })
      )
    return Effect.tap(loop(first), () => driver.refund)
  })

// The request id AWS gave the response (the last attempt's), as OpenTelemetry's AWS conventions name it.
const requestIdOf = (output: unknown): string | undefined =>
  (output as { readonly $metadata?: { readonly requestId?: string } } | null | undefined)?.$metadata?.requestId

const annotateRequestId = (requestId: string | undefined): Effect.Effect<void> =>
  requestId === undefined ? Effect.void : Effect.annotateCurrentSpan("aws.request_id", requestId)

// Effect's default tracer keeps spans nowhere: without another tracer installed, a call opens no span.
const nativeTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

/**
 * `Effect.withSpan`, but only when a tracer other than Effect's default one is installed: the default tracer keeps
 * its spans nowhere, yet making one (two random ids, a map, a copy of the fiber's context) costs about as much as
 * the rest of a call's overhead. With a real tracer (e.g. `@effect/opentelemetry`'s) the span is made as usual.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withSpanWhenTraced: {
  (
    name: string,
    options?: Tracer.SpanOptions
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string, options?: Tracer.SpanOptions): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string, options?: Tracer.SpanOptions): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime<A, E, R>((fiber) =>
      fiber.currentTracer === nativeTracer ? self : Effect.withSpan(self, name, options)
    )
)

/**
 * An abort signal that costs nothing until it is used, in the SDK's own minimal shape (`aborted` and `onabort`, its
 * former `AbortSignal` type), for Node's HTTP handlers, which keep the signal to themselves: without
 * `addEventListener` they set `onabort` instead of adding a listener and a `close` listener on the request to remove
 * it, which saves a few per cent of a round trip. Both the retry middleware and the handler set `onabort`, so each
 * setting is kept, and all are fired when the call is interrupted.
 */
class OnabortSignal {
  /** Whether the client sends through a connection pool's view, which takes this signal under `callSignal`. */
  viaPool = false
  /** Whether the client also carries the signal from a call's arguments to the view (its handler cache is on). */
  viaArguments = false
  aborted = false
  reason: unknown = undefined
  protected listeners: Array<unknown> | undefined
  get onabort(): null {
    return null
  }
  set onabort(handler: unknown) {
    if (typeof handler === "function") (this.listeners ??= []).push(handler)
  }
  abort(): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = new DOMException("The operation was aborted because its fiber was interrupted", "AbortError")
    const event = { type: "abort", target: this }
    for (const listener of this.listeners ?? []) {
      if (typeof listener === "function") listener.call(this, event)
      else (listener as { handleEvent(event: unknown): void }).handleEvent(event)
    }
  }
}

/**
 * The same with `addEventListener`, which is what `fetch` (the SDK's `FetchHttpHandler`, or a custom handler) checks
 * before taking a signal. The listeners are kept in an array: on Node's `AbortSignal`, an `EventTarget`, adding them
 * costs tens of µs per call.
 */
class LightAbortSignal extends OnabortSignal {
  addEventListener(_type: string, listener: unknown): void {
    ;(this.listeners ??= []).push(listener)
  }
  removeEventListener(_type: string, listener: unknown): void {
    if (this.listeners !== undefined) this.listeners = this.listeners.filter((l) => l !== listener)
  }
  dispatchEvent(): boolean {
    return true
  }
  throwIfAborted(): void {
    if (this.aborted) throw this.reason
  }
}

/**
 * The cheapest signal the client's request handler can take: `OnabortSignal` for Node's own handlers
 * (`NodeHttpHandler`, `NodeHttp2Handler`, the default on Node), `LightAbortSignal` for any other.
 */
const signalFor = (client: unknown): LightAbortSignal | OnabortSignal => {
  const handler = (client as { readonly config?: { readonly requestHandler?: unknown } } | null | undefined)?.config
    ?.requestHandler
  const protocol = (handler as { readonly metadata?: { readonly handlerProtocol?: unknown } } | undefined)?.metadata
    ?.handlerProtocol
  const signal = protocol === "http/1.1" || protocol === "h2" ? new OnabortSignal() : new LightAbortSignal()
  signal.viaPool = ConnectionPool.isView(handler)
  signal.viaArguments = signal.viaPool && ConnectionPool.carriesCallSignals(client)
  return signal
}

/**
 * The options for `client.send` that hand it `signal`: under the connection pool's own key when the client sends
 * through the pool (only its request handler sees the signal: the SDK's retry middleware would race the call
 * against it, a cost on every call), as `abortSignal` otherwise.
 *
 * @since 0.1.0
 * @category utils
 */
export const sendOptions = (signal: AbortSignal): { readonly abortSignal?: AbortSignal } =>
  signal instanceof OnabortSignal && signal.viaPool
    ? { [ConnectionPool.callSignal]: signal } as { readonly abortSignal?: AbortSignal }
    : { abortSignal: signal }

/**
 * Sends `command` through `client` with `signal` the cheapest way the client allows: with the SDK's handler cache on
 * (`cacheMiddleware: true` in the managed client's `clientConfig`) and the client sending through its managed
 * client's connection pool, as arguments that carry the signal, with no options (the SDK uses its cache only for a
 * call without options); otherwise with `sendOptions(signal)`. What `send` does; for an `Operation` of your own.
 *
 * @since 0.1.0
 * @category utils
 */
export const sendCommand = <O>(client: SdkClient, command: Command<any, O>, signal: AbortSignal): Promise<O> =>
  signal instanceof OnabortSignal && signal.viaArguments
    ? client.send(ConnectionPool.callArguments(command, signal))
    : client.send(command, sendOptions(signal))

// `Effect.tryPromise` with the light signal: interrupting the fiber aborts the request.
const request = <A>(
  client: unknown,
  run: (signal: AbortSignal) => Promise<A>,
  onError: (error: unknown) => AwsError.AwsError
): Effect.Effect<A, AwsError.AwsError> =>
  Effect.async<A, AwsError.AwsError>((resume) => {
    const signal = signalFor(client)
    let promise: Promise<A>
    try {
      promise = run(signal as unknown as AbortSignal)
    } catch (error) {
      resume(Effect.fail(onError(error)))
      return
    }
    promise.then((value) => resume(Effect.succeed(value)), (error) => resume(Effect.fail(onError(error))))
    return Effect.sync(() => signal.abort())
  })

/**
 * One call of `execute`: what its fast path needs, in one object rather than a closure each, and its slow path,
 * built only after a failure.
 */
class Call<C, A> {
  private readonly start: bigint
  constructor(
    readonly self: ManagedClient.ManagedClient<C>,
    readonly operation: Operation<C, A>,
    readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    private readonly clock: Clock.Clock,
    readonly traced: boolean
  ) {
    this.start = clock.unsafeCurrentTimeNanos()
  }
  // The call's duration, in milliseconds, into the cached histogram of its service and operation.
  record(): void {
    Metrics.unsafeCallDurationMillis(this.self.service, this.operation.name).unsafeUpdate(
      Number(this.clock.unsafeCurrentTimeNanos() - this.start) / 1e6,
      this.fiber.getFiberRef(FiberRef.currentMetricLabels)
    )
  }
  classify(error: unknown, generation: number): AwsError.AwsError {
    return AwsError.classify(error, { service: this.self.service, operation: this.operation.name, generation })
  }
  succeeded(value: A): Effect.Effect<A> {
    this.self.budget.unsafeRefundSuccess()
    this.record()
    return this.traced ? Effect.as(annotateRequestId(requestIdOf(value)), value) : Effect.succeed(value)
  }
  // One attempt through `use`, the general borrow: what the slow path retries.
  attempt(): Effect.Effect<A, AwsError.AwsError> {
    return this.self.use((client, generation) =>
      request(client, (signal) => this.operation.run(client, signal), (error) => this.classify(error, generation))
    )
  }
  // The slow path, after a first failure: the policy's schedule, renewal, the budget.
  failed(first: AwsError.AwsError): Effect.Effect<A, AwsError.AwsError> {
    return Effect.flatMap(
      RetryPolicy.current,
      (policy) => retryAfter(this.self, this.operation.name, this.attempt(), policy, first)
    ).pipe(
      Effect.onExit((exit) => {
        if (!Exit.isInterrupted(exit)) this.record()
        if (!this.traced) return Effect.void
        return Exit.match(exit, {
          onSuccess: (value) => annotateRequestId(requestIdOf(value)),
          onFailure: (cause) => {
            const error = Cause.failureOption(cause)
            return error._tag === "Some" && "requestId" in error.value
              ? annotateRequestId(error.value.requestId)
              : Effect.void
          }
        })
      })
    )
  }
  // After the fast path's failure or interruption: an interruption gives back the fiber's borrow and aborts its
  // request (the client's canceler; nothing when the request had already settled).
  readonly onCause = (cause: Cause.Cause<AwsError.AwsError>): Effect.Effect<never, AwsError.AwsError> =>
    Cause.isInterrupted(cause)
      ? Effect.zipRight(this.self.unsafeCanceler, Effect.failCause(cause))
      : Effect.failCause(cause)
  // The general path, when no client can be lent at once.
  general(): Effect.Effect<A, AwsError.AwsError> {
    return Effect.matchEffect(this.attempt(), {
      onSuccess: (value) => this.succeeded(value),
      onFailure: (error) => this.failed(error)
    })
  }
}

/**
 * Runs one operation through the client with the policy in context (or the standard mode, honouring
 * `AWS_MAX_ATTEMPTS`). The call's duration is recorded (however it ended, unless interrupted), and with a tracer
 * installed it is one client span with the region and the request id.
 *
 * @since 0.1.0
 * @category combinators
 */
export const execute: {
  <C, A>(operation: Operation<C, A>): (self: ManagedClient.ManagedClient<C>) => Effect.Effect<A, AwsError.AwsError>
  <C, A>(self: ManagedClient.ManagedClient<C>, operation: Operation<C, A>): Effect.Effect<A, AwsError.AwsError>
} = dual(
  2,
  <C, A>(self: ManagedClient.ManagedClient<C>, operation: Operation<C, A>) =>
    Effect.withFiberRuntime<A, AwsError.AwsError>((fiber) => {
      const traced = fiber.currentTracer !== nativeTracer
      const call = new Call(self, operation, fiber, Context.get(fiber.currentDefaultServices, Clock.Clock), traced)
      // The fast path, fused into one step: the borrow, the request and its light signal are plain code, and a call
      // that succeeds at once builds no schedule and refunds the budget in place. The borrow is taken in the register
      // function, where no interruption can come between taking it and arranging its release; it is released when
      // the request settles, or when the fiber is interrupted (the client's one canceler, which aborts the request,
      // run by `onCause` below).
      const fast = Effect.async<A, AwsError.AwsError>((resume) => {
        const borrow = self.unsafeBorrow(fiber)
        if (borrow === undefined) {
          // No client to lend at once (credentials to resolve or refresh, a client to build, the scope closing).
          resume(call.general())
          return
        }
        const signal = signalFor(borrow.client)
        borrow.aborter = signal
        let promise: Promise<A>
        try {
          promise = operation.run(borrow.client, signal as unknown as AbortSignal)
        } catch (error) {
          borrow.release()
          resume(call.failed(call.classify(error, borrow.generation)))
          return
        }
        promise.then(
          (value) => {
            if (borrow.release()) resume(call.succeeded(value))
          },
          (error) => {
            if (borrow.release()) resume(call.failed(call.classify(error, borrow.generation)))
          }
        )
      })
      // Interrupting the call aborts its request (the client's canceler). What `Effect.async` does with a canceler,
      // but with a handler only on failure: the wait is interruptible (as far as the caller's region allows) inside
      // an uninterruptible step whose failure handler sees the interruption; a call that succeeds costs it nothing.
      const abortable = Effect.uninterruptibleMask((restore) => Effect.catchAllCause(restore(fast), call.onCause))
      return traced
        // A stack trace per call would cost more than the rest of our overhead together.
        ? Effect.withSpan(abortable, `${self.service}.${operation.name}`, {
          kind: "client",
          captureStackTrace: false,
          attributes: {
            "rpc.system": "aws-api",
            "rpc.service": self.service,
            "rpc.method": operation.name,
            "cloud.region": self.region
          }
        })
        : abortable
    })
)

/**
 * Sends one SDK command through a managed client with the policy in context; the output type is the command's.
 *
 * @example
 * ```ts
 * import { type ManagedClient, Resilience } from "@aws-resilience/core"
 * import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts"
 * import { Context, Effect } from "effect"
 *
 * class STS extends Context.Tag("app/STS")<STS, ManagedClient.ManagedClient<STSClient>>() {}
 *
 * export const whoAmI = Effect.gen(function*() {
 *   const sts = yield* STS
 *   const identity = yield* Resilience.send(sts, new GetCallerIdentityCommand({}))
 *   return identity.Arn
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const send: {
  <I, O>(
    command: Command<I, O>
  ): <C extends SdkClient>(self: ManagedClient.ManagedClient<C>) => Effect.Effect<O, AwsError.AwsError>
  <C extends SdkClient, I, O>(
    self: ManagedClient.ManagedClient<C>,
    command: Command<I, O>
  ): Effect.Effect<O, AwsError.AwsError>
} = dual(2, <C extends SdkClient, I, O>(self: ManagedClient.ManagedClient<C>, command: Command<I, O>) =>
  execute(self, {
    name: operationName(command),
    run: (client, signal) => sendCommand(client, command, signal)
  }))

/**
 * Retries what is left of a partly successful call (unprocessed items, failed batch entries) with the policy's
 * backoff, charged to the client's budget like any retry. `step(pending)` sends and returns what is still
 * pending together with the error to back off from, or `None` when nothing is left. When the policy or the
 * budget gives up, the result is what is still pending, with its error.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retryRemaining = <C, W, E, R>(
  self: ManagedClient.ManagedClient<C>,
  operation: string,
  initial: W,
  step: (pending: W) => Effect.Effect<Option.Option<readonly [W, AwsError.AwsError]>, E, R>
): Effect.Effect<Option.Option<readonly [W, AwsError.AwsError]>, E, R> =>
  Effect.gen(function*() {
    const policy = yield* RetryPolicy.current
    let driver: Effect.Effect.Success<ReturnType<typeof retryDriver>> | undefined
    let pending = initial
    while (true) {
      const left = yield* step(pending)
      if (Option.isNone(left)) {
        if (driver !== undefined) yield* driver.refund
        return Option.none()
      }
      const [rest, error] = left.value
      driver ??= yield* retryDriver(self, operation, policy)
      const again = yield* Effect.either(driver.next(error))
      if (again._tag === "Left") return left
      pending = rest
    }
  })
