/**
 * The engine of a Lambda handler: the layer built once per execution environment (and built again, with spacing,
 * after a failed build), one invocation run against it by its deadline, the poisoned-sandbox check, and the exit
 * after the response.
 */
import { AwsError, Credentials, Generation } from "@aws-resilience/core"
import type { Context as LambdaContext } from "aws-lambda"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { DeadlineExceededError, isPoisonedSandboxError, PoisonedSandboxError } from "../LambdaHandlerError.js"
import type { Deadline } from "./deadline.js"

/** The options of `LambdaHandler`, resolved. */
export interface Settings {
  readonly marginMs: number
  readonly minAttemptMs: number
  readonly rebuildDelayMs: number
  readonly maxRebuildDelayMs: number
  readonly exitOnPoisoned: boolean
  readonly exit: (code: number) => void
}

type State<R, E> =
  | {
    readonly _tag: "Idle"
    /** Consecutive failed builds. */
    readonly failures: number
    /** No build starts before this clock time. */
    readonly retryAt: number
    readonly last: Cause.Cause<E> | undefined
  }
  | {
    readonly _tag: "Building"
    readonly failures: number
    readonly done: Deferred.Deferred<Runtime.Runtime<R>, E>
    fiber: Fiber.RuntimeFiber<void> | undefined
  }
  | { readonly _tag: "Ready"; readonly runtime: Runtime.Runtime<R>; readonly scope: Scope.CloseableScope }
  | { readonly _tag: "Closed" }

/** The layer of one handler, built in the runtime the handler was made in. */
export interface Engine<R, E> {
  /** The runtime every invocation runs in (its clock, logger and services, e.g. a `TestClock`). */
  readonly base: Runtime.Runtime<never>
  /**
   * The built layer. A failed build is built again by the first call after its spacing; a call within the spacing
   * fails at once with the last build's failure, and never waits.
   */
  readonly runtime: (deadline: Deadline) => Effect.Effect<Runtime.Runtime<R>, E | DeadlineExceededError>
  /** Settles when the first build has ended, whether it succeeded or not. */
  readonly ready: Promise<void>
  /** Releases the built layer; the next call builds it again. */
  readonly reset: Effect.Effect<void>
  /** Releases the built layer for good. */
  readonly close: Effect.Effect<void>
}

/** Starts building `layer` at once, in `base`. */
export const makeEngine = <R, E>(
  layer: Layer.Layer<R, E>,
  base: Runtime.Runtime<never>,
  settings: Settings
): Engine<R, E> => {
  let state: State<R, E> = { _tag: "Idle", failures: 0, retryAt: Number.NEGATIVE_INFINITY, last: undefined }
  let settleReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    settleReady = resolve
  })

  const spacing = (failures: number) =>
    Math.min(settings.maxRebuildDelayMs, settings.rebuildDelayMs * 2 ** Math.max(0, failures - 1))

  // Runs in a fiber of its own, from `base`: an invocation's timeout does not interrupt it, and nothing of the
  // invocation (its annotations, its services) leaks into the runtime every later invocation runs in.
  const build = (done: Deferred.Deferred<Runtime.Runtime<R>, E>, failures: number): Effect.Effect<void> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Scope.make(), (scope) =>
        restore(Scope.extend(Layer.toRuntime(layer), scope)).pipe(
          Effect.exit,
          Effect.flatMap((exit) =>
            Effect.gen(function*() {
              if (Exit.isSuccess(exit)) {
                if (state._tag === "Closed") yield* Scope.close(scope, Exit.void)
                else state = { _tag: "Ready", runtime: exit.value, scope }
              } else {
                yield* Scope.close(scope, exit)
                if (state._tag !== "Closed") {
                  const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
                  const delay = spacing(failures + 1)
                  state = { _tag: "Idle", failures: failures + 1, retryAt: now + delay, last: exit.cause }
                  yield* Effect.logError(
                    `LambdaHandler: building the layer failed (${failures + 1} in a row); the first invocation ` +
                      `after ${Duration.format(Duration.millis(delay))} builds it again, earlier ones fail with ` +
                      `this error`,
                    exit.cause
                  )
                }
              }
              yield* Deferred.done(done, exit)
              settleReady()
            })
          )
        ))
    )

  const startBuild = (failures: number): Deferred.Deferred<Runtime.Runtime<R>, E> => {
    const done = Deferred.unsafeMake<Runtime.Runtime<R>, E>(FiberId.none)
    // The state is set before the fiber starts, as a build that fails at once may end before `runFork` returns.
    const building: State<R, E> & { readonly _tag: "Building" } = { _tag: "Building", failures, done, fiber: undefined }
    state = building
    building.fiber = Runtime.runFork(base)(build(done, failures))
    return done
  }

  const awaitBuild = (done: Deferred.Deferred<Runtime.Runtime<R>, E>, deadline: Deadline, now: number) =>
    Deferred.await(done).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(Math.max(0, deadline.at - now)),
        onTimeout: () =>
          new DeadlineExceededError({
            reason: "building",
            awsRequestId: deadline.awsRequestId,
            budgetMs: deadline.budgetMs
          })
      })
    )

  const runtime = (deadline: Deadline): Effect.Effect<Runtime.Runtime<R>, E | DeadlineExceededError> =>
    Effect.clockWith((clock) => {
      const current = state
      switch (current._tag) {
        case "Ready":
          return Effect.succeed(current.runtime)
        case "Building":
          return awaitBuild(current.done, deadline, clock.unsafeCurrentTimeMillis())
        case "Idle": {
          const now = clock.unsafeCurrentTimeMillis()
          if (current.last !== undefined && now < current.retryAt) return Effect.failCause(current.last)
          return awaitBuild(startBuild(current.failures), deadline, now)
        }
        case "Closed":
          return Effect.dieMessage("LambdaHandler: invoked after the handler was disposed")
      }
    })

  const reset = Effect.suspend(() => {
    const current = state
    if (current._tag !== "Ready") return Effect.void
    state = { _tag: "Idle", failures: 0, retryAt: Number.NEGATIVE_INFINITY, last: undefined }
    return Scope.close(current.scope, Exit.void)
  })

  const close = Effect.suspend(() => {
    const current = state
    state = { _tag: "Closed" }
    switch (current._tag) {
      case "Ready":
        return Scope.close(current.scope, Exit.void)
      case "Building":
        // The build closes what it had acquired when it sees the interruption.
        return current.fiber === undefined ? Effect.void : Fiber.interrupt(current.fiber)
      default:
        return Effect.void
    }
  })

  startBuild(0)
  return { base, runtime, ready, reset, close }
}

/** The deadline of an invocation that starts at `now`. Without `getRemainingTimeInMillis`, there is none. */
export const deadlineOf = (context: LambdaContext, now: number, settings: Settings): Deadline => {
  const remaining = typeof context?.getRemainingTimeInMillis === "function"
    ? context.getRemainingTimeInMillis()
    : Number.POSITIVE_INFINITY
  const budgetMs = Math.floor(remaining - settings.marginMs)
  return { at: now + budgetMs, budgetMs, awsRequestId: context?.awsRequestId ?? "unknown" }
}

const nested = ["lastError", "cause", "error"] as const

/** The `CredentialsError` behind a failure: itself, or what it carries as `lastError`, `cause` or `error`. */
export const credentialsErrorOf = (u: unknown, depth = 0): AwsError.CredentialsError | undefined => {
  if (AwsError.isCredentialsError(u)) return u
  if (depth >= 4 || !Predicate.isObject(u)) return undefined
  for (const key of nested) {
    if (Predicate.hasProperty(u, key)) {
      const found = credentialsErrorOf(u[key], depth + 1)
      if (found !== undefined) return found
    }
  }
  return undefined
}

/** Per handler: whether the poisoned sandbox was logged yet. */
export interface PoisonLog {
  logged: boolean
}

/**
 * A `PoisonedSandboxError` when `error` is (or carries) a rejection of credentials that came from the environment
 * variables, and re-reading them gives the set that is cached now: renewal cannot bring anything newer. Needs the
 * `Credentials` service in context; without it, nothing is known and `None` is returned. Logged once per handler.
 */
export const poisonedBy = (
  error: unknown,
  settings: Settings,
  log: PoisonLog
): Effect.Effect<Option.Option<PoisonedSandboxError>> =>
  Effect.gen(function*() {
    const rejected = credentialsErrorOf(error)
    // A provider failure means there was no set to reject.
    if (rejected === undefined || rejected.reason === "ProviderFailure") return Option.none()
    const service = yield* Effect.serviceOption(Credentials.Credentials)
    if (Option.isNone(service)) return Option.none()
    const current = yield* service.value.current
    if (Option.isNone(current) || current.value.source !== "environment") return Option.none()
    if (Generation.isNewer(rejected.generation, current.value.generation)) return Option.none()
    const inEnvironment = yield* Config.option(Config.string("AWS_ACCESS_KEY_ID")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    if (Option.isNone(inEnvironment) || inEnvironment.value !== current.value.accessKeyId) return Option.none()
    const poisoned = new PoisonedSandboxError({
      cause: rejected,
      accessKeyId: current.value.maskedAccessKeyId,
      exiting: settings.exitOnPoisoned
    })
    if (!log.logged) {
      log.logged = true
      yield* Effect.logError(`LambdaHandler: ${poisoned.message}`)
    }
    return Option.some(poisoned)
  })

/**
 * Fails with a `PoisonedSandboxError` instead of `error` when the environment's credentials are poisoned, and
 * with `error` otherwise.
 */
export const failPoisoned = <E>(
  error: E,
  settings: Settings,
  log: PoisonLog
): Effect.Effect<never, E | PoisonedSandboxError> =>
  Effect.flatMap(poisonedBy(error, settings, log), (poisoned) => Effect.fail(Option.getOrElse(poisoned, () => error)))

/**
 * Ends the process once the runtime interface client has posted the response. The client awaits the handler's
 * promise, then posts in a `setImmediate` (synchronously, through its native client); an immediate queued from
 * inside an immediate runs only in the next turn of the event loop, after that post.
 */
const exitAfterResponse = (exit: (code: number) => void): void => {
  setImmediate(() => setImmediate(() => exit(1)))
}

/**
 * Runs one invocation: `body` by its deadline, against the built layer, in the engine's runtime. A failure rejects
 * with the typed error (or the defect). A `PoisonedSandboxError` with `exiting` releases the layer first, so that
 * its finalizers run (e.g. telemetry is flushed) before the response, then ends the process after it.
 */
export const invoke = <R, E, A, E2>(
  engine: Engine<R, E>,
  settings: Settings,
  context: LambdaContext,
  body: (deadline: Deadline) => Effect.Effect<A, E2, R>
): Promise<A> => {
  const program = Effect.gen(function*() {
    const deadline = deadlineOf(context, yield* Effect.clockWith((clock) => clock.currentTimeMillis), settings)
    if (deadline.budgetMs <= 0) {
      return yield* new DeadlineExceededError({
        reason: "notStarted",
        awsRequestId: deadline.awsRequestId,
        budgetMs: deadline.budgetMs
      })
    }
    const runtime = yield* engine.runtime(deadline)
    return yield* Effect.provide(
      body(deadline).pipe(
        Effect.withSpan("LambdaHandler.invoke", {
          kind: "server",
          captureStackTrace: false,
          attributes: { "faas.invocation_id": deadline.awsRequestId }
        })
      ),
      runtime
    )
  })
  return new Promise<A>((resolve, reject) => {
    Runtime.runCallback(engine.base)(program, {
      onExit: (exit) => {
        if (Exit.isSuccess(exit)) return resolve(exit.value)
        const error = Cause.squash(exit.cause)
        if (!(isPoisonedSandboxError(error) && error.exiting)) return reject(error)
        // Bounded by the margin, the time kept for the response; a finalizer still running then is left behind.
        const release = engine.reset.pipe(Effect.disconnect, Effect.timeoutOption(Duration.millis(settings.marginMs)))
        Runtime.runCallback(engine.base)(release, {
          onExit: () => {
            reject(error)
            exitAfterResponse(settings.exit)
          }
        })
      }
    })
  })
}

// One SIGTERM listener per process, for every handler made with `make`: Lambda sends SIGTERM before shutting down an
// execution environment that has extensions, and then the process must end by itself (a listener keeps it alive).
const disposers = new Set<() => Promise<void>>()
let listening = false

const onSigterm = (): void => {
  void Promise.allSettled(Array.from(disposers, (dispose) => dispose())).then(() => {
    // Another listener means someone else decides when the process ends.
    if (process.listenerCount("SIGTERM") <= 1) process.exit(0)
  })
}

/** Disposes `dispose` on SIGTERM; returns the function that stops doing so. */
export const disposeOnSigterm = (dispose: () => Promise<void>): () => void => {
  disposers.add(dispose)
  if (!listening) {
    listening = true
    process.on("SIGTERM", onSigterm)
  }
  return () => {
    disposers.delete(dispose)
  }
}
