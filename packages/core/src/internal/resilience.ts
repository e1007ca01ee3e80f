/**
 * The engine of `Resilience`: the fused fast path of a call, its light abort signal, and the retry driver of its
 * slow path (the policy's schedule, the budget, and credential recovery bounded in time).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Tracer from "effect/Tracer"
import * as AwsError from "../AwsError.js"
import type * as ManagedClient from "../ManagedClient.js"
import * as Metrics from "../Metrics.js"
import type * as Resilience from "../Resilience.js"
import * as RetryPolicy from "../RetryPolicy.js"
import * as ConnectionPool from "./connectionPool.js"
import * as managedClient from "./managedClient.js"
import { callDurationMillis } from "./metrics.js"
import { refundSuccess } from "./retryBudget.js"

// Effect's default tracer keeps spans nowhere: without another tracer installed, a call opens no span.
export const nativeTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

/** What a call has been through with its credentials: from its first credentials failure, until when it waits. */
interface Trouble {
  readonly since: number
  readonly until: number
  /** The generations AWS rejected for this call. */
  readonly rejected: Set<number>
}

/** The `CredentialsError` a call fails with when it gave up waiting for usable credentials. */
const exhausted = (
  error: AwsError.CredentialsError,
  trouble: Trouble,
  now: number,
  failure: AwsError.CredentialsError | AwsError.ConfigurationError | undefined
): AwsError.AwsError => {
  // A setting to fix is what the caller must hear about; else the provider's failure, if it failed last.
  if (failure?._tag === "ConfigurationError") return failure
  const last = failure ?? error
  const generations = [...trouble.rejected].sort((a, b) => a - b)
  return new AwsError.CredentialsError({
    service: error.service,
    operation: error.operation,
    cause: last.cause,
    code: last.code,
    httpStatus: last.httpStatus,
    requestId: last.requestId,
    reason: last.reason,
    generation: error.generation,
    recovery: { waitedMillis: now - trouble.since, sets: generations.length, generations, lastReason: last.reason }
  })
}

/**
 * The retry driver of one call, shared by `execute` and `retryRemaining`. After a `CredentialsError` the call waits
 * for usable credentials (the managed client's recovery: a newer set polled from the source, or the same set again
 * while AWS has never accepted it) for as long as the policy's credentials timeout allows, counted from its first
 * credentials failure, and retries without using an attempt or the budget. Otherwise the policy's schedule decides,
 * and pays the budget. Every retry is counted. `refund` gives back what the last retry cost, once the call has
 * succeeded.
 */
export const retryDriver = <C>(self: ManagedClient.ManagedClient<C>, operation: string, policy: RetryPolicy.Policy) =>
  Effect.suspend(() => {
    const engine = managedClient.engineOf(self)
    let lastCost = Option.none<number>()
    let trouble: Trouble | undefined
    const count = (error: AwsError.AwsError) =>
      Metric.increment(Metric.taggedWithLabels(Metrics.retries, [
        MetricLabel.make("error", error._tag),
        MetricLabel.make("service", self.service),
        MetricLabel.make("operation", operation)
      ]))
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
    // Renewal is not load on the service, so it is not charged to the budget.
    const recover = (
      error: AwsError.CredentialsError,
      recovery: managedClient.Engine<C>["recover"]
    ): Effect.Effect<void, AwsError.AwsError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        trouble ??= {
          since: now,
          until: Math.min(now + policy.credentialsTimeoutMillis, policy.credentialsDeadline ?? Infinity),
          rejected: new Set()
        }
        if (error.reason !== "ProviderFailure" && !(error.cause instanceof AwsError.WithdrawnRequest)) {
          trouble.rejected.add(error.generation)
        }
        const outcome = yield* recovery(error, trouble.until)
        if (outcome._tag === "Exhausted") {
          return yield* Effect.fail(exhausted(error, trouble, yield* Clock.currentTimeMillis, outcome.failure))
        }
        yield* count(error)
      })
    return Effect.map(Schedule.driver(policy.schedule.pipe(Schedule.checkEffect(beforeRetry))), (driver) => ({
      /** Succeeds when the call should try again; fails with what the call should fail with. */
      next: (error: AwsError.AwsError): Effect.Effect<void, AwsError.AwsError> =>
        Effect.gen(function*() {
          // Only after a failure: the SDK client may have learnt the server's clock from this response.
          if (engine !== undefined) yield* engine.syncClockOffset
          if (error._tag === "CredentialsError" && policy.isRetryable(error)) {
            if (engine !== undefined) return yield* recover(error, engine.recover)
            // A managed client made by hand: renew it, then the schedule decides.
            yield* Effect.ignore(self.renew(error.generation, error.reason))
          }
          return yield* Effect.mapError(driver.next(error), () => error)
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
      Effect.zipRight(driver.next(error), Effect.catchAll(attempt, loop))
    return Effect.tap(loop(first), () => driver.refund)
  })

// The request id AWS gave the response (the last attempt's), as OpenTelemetry's AWS conventions name it.
const requestIdOf = (output: unknown): string | undefined =>
  (output as { readonly $metadata?: { readonly requestId?: string } } | null | undefined)?.$metadata?.requestId

const annotateRequestId = (requestId: string | undefined): Effect.Effect<void> =>
  requestId === undefined ? Effect.void : Effect.annotateCurrentSpan("aws.request_id", requestId)

/**
 * An abort signal that costs nothing until it is used, in the SDK's own minimal shape (`aborted` and `onabort`, its
 * former `AbortSignal` type), for Node's HTTP handlers, which keep the signal to themselves: without
 * `addEventListener` they set `onabort` instead of adding a listener and a `close` listener on the request to remove
 * it, which saves a few per cent of a round trip. Both the retry middleware and the handler set `onabort`, so each
 * setting is kept, and all are fired when the call is interrupted.
 */
export class OnabortSignal {
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
export const signalFor = (client: unknown): LightAbortSignal | OnabortSignal => {
  const handler = (client as { readonly config?: { readonly requestHandler?: unknown } } | null | undefined)?.config
    ?.requestHandler
  const protocol = (handler as { readonly metadata?: { readonly handlerProtocol?: unknown } } | undefined)?.metadata
    ?.handlerProtocol
  const signal = protocol === "http/1.1" || protocol === "h2" ? new OnabortSignal() : new LightAbortSignal()
  signal.viaPool = ConnectionPool.isView(handler)
  signal.viaArguments = signal.viaPool && ConnectionPool.carriesCallSignals(client)
  return signal
}

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

const noop = () => {}

/**
 * One call of `execute`: what its fast path needs, in one object rather than a closure each, and its slow path,
 * built only after a failure.
 */
class Call<C, A> {
  private readonly start: bigint
  readonly accept: (generation: number) => void
  constructor(
    readonly self: ManagedClient.ManagedClient<C>,
    readonly engine: managedClient.Engine<C> | undefined,
    readonly operation: Resilience.Operation<C, A>,
    readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    private readonly clock: Clock.Clock,
    readonly traced: boolean
  ) {
    this.start = clock.unsafeCurrentTimeNanos()
    this.accept = engine?.unsafeAccept ?? noop
  }
  // The call's duration, in milliseconds, into the cached histogram of its service and operation.
  record(): void {
    callDurationMillis(this.self.service, this.operation.name).unsafeUpdate(
      Number(this.clock.unsafeCurrentTimeNanos() - this.start) / 1e6,
      this.fiber.getFiberRef(FiberRef.currentMetricLabels)
    )
  }
  classify(error: unknown, generation: number): AwsError.AwsError {
    return AwsError.classify(
      error,
      { service: this.self.service, operation: this.operation.name, generation },
      this.fiber.getFiberRef(AwsError.currentCodes)
    )
  }
  succeeded(value: A): Effect.Effect<A> {
    refundSuccess(this.self.budget)
    this.record()
    return this.traced ? Effect.as(annotateRequestId(requestIdOf(value)), value) : Effect.succeed(value)
  }
  // One attempt through `use`, the general borrow: what the slow path retries.
  attempt(retry: boolean): Effect.Effect<A, AwsError.AwsError> {
    const use = retry && this.engine !== undefined ? this.engine.useAhead : this.self.use
    return use((client, generation) =>
      Effect.tap(
        request(client, (signal) => this.operation.run(client, signal), (error) => this.classify(error, generation)),
        () => this.accept(generation)
      )
    )
  }
  // The slow path, after a first failure: the policy's schedule, credential recovery, the budget.
  failed(first: AwsError.AwsError): Effect.Effect<A, AwsError.AwsError> {
    return Effect.flatMap(
      RetryPolicy.current,
      (policy) => retryAfter(this.self, this.operation.name, this.attempt(true), policy, first)
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
    Cause.isInterrupted(cause) && this.engine !== undefined
      ? Effect.zipRight(this.engine.unsafeCanceler, Effect.failCause(cause))
      : Effect.failCause(cause)
  // The general path, when no client can be lent at once.
  general(): Effect.Effect<A, AwsError.AwsError> {
    return Effect.matchEffect(this.attempt(false), {
      onSuccess: (value) => this.succeeded(value),
      onFailure: (error) => this.failed(error)
    })
  }
}

/** `Resilience.execute`. */
export const execute = <C, A>(self: ManagedClient.ManagedClient<C>, operation: Resilience.Operation<C, A>) =>
  Effect.withFiberRuntime<A, AwsError.AwsError>((fiber) => {
    const traced = fiber.currentTracer !== nativeTracer
    const engine = managedClient.engineOf(self)
    const call = new Call(
      self,
      engine,
      operation,
      fiber,
      Context.get(fiber.currentDefaultServices, Clock.Clock),
      traced
    )
    // The fast path, fused into one step: the borrow, the request and its light signal are plain code, and a call
    // that succeeds at once builds no schedule and refunds the budget in place. The borrow is taken in the register
    // function, where no interruption can come between taking it and arranging its release; it is released when
    // the request settles, or when the fiber is interrupted (the client's one canceler, which aborts the request,
    // run by `onCause` below).
    const fast = Effect.async<A, AwsError.AwsError>((resume) => {
      const start = (borrow: managedClient.Borrow<C> | undefined) => {
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
            if (borrow.release()) {
              call.accept(borrow.generation)
              resume(call.succeeded(value))
            }
          },
          (error) => {
            if (borrow.release()) resume(call.failed(call.classify(error, borrow.generation)))
          }
        )
      }
      // With every slot taken the call waits its turn (`start` runs when a slot frees).
      const borrow = engine?.unsafeBorrow(fiber, start)
      if (borrow !== managedClient.queued) start(borrow)
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

/** `Resilience.retryRemaining`. */
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
      if (again._tag === "Left") return Option.some([rest, again.left] as const)
      pending = rest
    }
  })
