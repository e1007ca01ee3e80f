/**
 * Lambda handlers built from an Effect layer. The result is an ordinary Node handler, `(event, context) => Promise`,
 * for any Node runtime interface client. What always holds:
 *
 * - The layer is built once per execution environment, starting when the handler is made (in the init phase when
 *   that is at module load). A failed build is not kept: the first invocation after a spacing (doubling with each
 *   failure in a row) builds it again. An invocation within the spacing fails at once with the last build's error,
 *   and an invocation whose build fails reports that build's error.
 * - Each invocation has a deadline, `context.getRemainingTimeInMillis()` minus a margin. At the deadline the handler
 *   is interrupted, and a retry of an AWS call (through core's `Resilience`) whose delay would end too close to the
 *   deadline for an attempt to finish is not started. Either way the invocation fails with a
 *   `DeadlineExceededError`, which carries the last AWS error. (The bound applies to the policy in context, the
 *   layer's `RetryPolicy` or the standard one; a policy the handler provides itself for some calls replaces it
 *   there, and only the interruption at the deadline bounds those calls.)
 * - Credentials from the environment variables that are rejected, and that re-reading the environment does not
 *   replace, fail the invocation with a `PoisonedSandboxError`, logged once. Optionally the execution environment
 *   then ends after the response, so that Lambda starts a fresh one.
 *
 * @since 0.1.0
 */
import { EventCodec } from "@aws-resilience/core"
import type { Context as LambdaContext, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { type Deadline, withDeadline } from "./internal/deadline.js"
import * as engine from "./internal/handlerRuntime.js"
import * as batch from "./internal/sqsBatch.js"
import type { DeadlineExceededError, InvalidLambdaEventError, PoisonedSandboxError } from "./LambdaHandlerError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Kept back from `context.getRemainingTimeInMillis()` for returning the response: the invocation's deadline is
   * the remaining time minus this. Default 500 ms.
   */
  readonly deadlineMargin?: Duration.DurationInput | undefined
  /**
   * A retry is started only if, once its delay has passed, this long is left before the deadline (or as long as the
   * longest retry of the same call took, if that is longer). Default 100 ms.
   */
  readonly minAttemptTime?: Duration.DurationInput | undefined
  /** After a failed build, no new build starts for this long; it doubles with each failure in a row. Default 1 s. */
  readonly rebuildDelay?: Duration.DurationInput | undefined
  /** The most the spacing between builds grows to. Default 30 s. */
  readonly maxRebuildDelay?: Duration.DurationInput | undefined
  /**
   * End the execution environment after responding to an invocation that failed with a `PoisonedSandboxError`, so
   * that Lambda starts a fresh one, with fresh credentials, for the next invocation. Default false.
   *
   * The trade-off: the next invocation pays a cold start, and the process ends without waiting for anything the
   * handler left running. Before the response the layer is released (its finalizers run, bounded by the margin);
   * the process then ends once the runtime interface client has posted the response (two turns of the event loop
   * after the handler's promise settles: the client posts in the first, synchronously). Should the sandbox be
   * frozen before that, the process ends when it thaws, and the invocation it thawed for fails and is retried by
   * Lambda as an invocation whose runtime exited.
   */
  readonly exitOnPoisonedCredentials?: boolean | undefined
  /** How the execution environment is ended. Default `process.exit`. */
  readonly exit?: ((code: number) => void) | undefined
  /**
   * `make` and `sqs` only: on SIGTERM (which Lambda sends before shutting down an environment that has extensions),
   * release the layer, then end the process unless another SIGTERM listener is installed. Default true.
   */
  readonly disposeOnSigterm?: boolean | undefined
}

/**
 * A Node Lambda handler, with the layer's life cycle.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handler<Event, Result> {
  /**
   * Runs one invocation. It rejects with the handler's typed error, the layer's build error, a
   * `DeadlineExceededError` or a `PoisonedSandboxError`; or with the defect.
   */
  (event: Event, context: LambdaContext): Promise<Result>
  /**
   * Settles when the first build has ended, whether it succeeded or not; it never rejects. `await` it at the top of
   * an ES module to have the build counted in the init phase.
   */
  readonly ready: Promise<void>
  /** Releases the layer; the handler must not be invoked afterwards. */
  readonly dispose: () => Promise<void>
}

const defaultMargin = Duration.millis(500)
const defaultMinAttempt = Duration.millis(100)
const defaultRebuildDelay = Duration.seconds(1)
const defaultMaxRebuildDelay = Duration.seconds(30)

const settingsOf = (options: Options): engine.Settings => ({
  marginMs: Duration.toMillis(options.deadlineMargin ?? defaultMargin),
  minAttemptMs: Duration.toMillis(options.minAttemptTime ?? defaultMinAttempt),
  rebuildDelayMs: Duration.toMillis(options.rebuildDelay ?? defaultRebuildDelay),
  maxRebuildDelayMs: Duration.toMillis(options.maxRebuildDelay ?? defaultMaxRebuildDelay),
  exitOnPoisoned: options.exitOnPoisonedCredentials ?? false,
  exit: options.exit ?? ((code) => process.exit(code))
})

type Body<R, A, E> = (
  event: unknown,
  context: LambdaContext,
  settings: engine.Settings,
  log: engine.PoisonLog
) => (deadline: Deadline) => Effect.Effect<A, E, R>

const toHandler = <Event, A, E, R, LE>(
  layer: Layer.Layer<R, LE>,
  body: Body<R, A, E>,
  options: Options,
  base: Runtime.Runtime<never>
): { readonly handler: Handler<Event, A>; readonly close: Effect.Effect<void> } => {
  const settings = settingsOf(options)
  const built = engine.makeEngine(layer, base, settings)
  const log: engine.PoisonLog = { logged: false }
  // Exactly two parameters: a runtime interface client takes a handler of three for the deprecated callback style.
  const invoke = (event: Event, context: LambdaContext): Promise<A> =>
    engine.invoke(built, settings, context, body(event, context, settings, log))
  const handler: Handler<Event, A> = Object.assign(invoke, {
    ready: built.ready,
    dispose: () => Runtime.runPromise(base)(built.close)
  })
  return { handler, close: built.close }
}

const run = <Event, A, E, R>(
  handler: (event: Event, context: LambdaContext) => Effect.Effect<A, E, R>
): Body<R, A, E | DeadlineExceededError | PoisonedSandboxError> =>
(event, context, settings, log) =>
(deadline) =>
  withDeadline(Effect.suspend(() => handler(event as Event, context)), deadline, {
    minAttemptMs: settings.minAttemptMs
  }).pipe(Effect.catchAll((error) => engine.failPoisoned(error, settings, log)))

const atTheEdge = <Event, A>(
  made: { readonly handler: Handler<Event, A> },
  options: Options
): Handler<Event, A> => {
  if (options.disposeOnSigterm !== false) engine.disposeOnSigterm(made.handler.dispose)
  return made.handler
}

/**
 * Makes a Lambda handler from a layer and an effectful handler, and starts building the layer at once. Call it at
 * the top level of the handler's module, so that the build runs in the init phase.
 *
 * @example
 * ```ts
 * import { Credentials } from "@aws-resilience/core"
 * import { DynamoDB } from "@aws-resilience/dynamodb"
 * import { LambdaHandler } from "@aws-resilience/lambda"
 * import { Effect, Layer } from "effect"
 *
 * const AppLayer = DynamoDB.layerConfig().pipe(Layer.provideMerge(Credentials.layer()))
 *
 * export const handler = LambdaHandler.make(AppLayer, (event: { readonly id: string }) =>
 *   Effect.map(
 *     DynamoDB.getItem({ TableName: "orders", Key: { id: { S: event.id } } }),
 *     (output) => ({ found: output.Item !== undefined })
 *   ))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Event, A, E, R, LE>(
  layer: Layer.Layer<R, LE>,
  handler: (event: Event, context: LambdaContext) => Effect.Effect<A, E, NoInfer<R>>,
  options: Options = {}
): Handler<Event, A> => atTheEdge(toHandler(layer, run(handler), options, Runtime.defaultRuntime), options)

/**
 * `make` in the caller's runtime (its clock, logger and services, e.g. a `TestClock`): the layer is released when
 * the scope closes, and nothing listens for SIGTERM.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeScoped = <Event, A, E, R, LE>(
  layer: Layer.Layer<R, LE>,
  handler: (event: Event, context: LambdaContext) => Effect.Effect<A, E, NoInfer<R>>,
  options: Options = {}
): Effect.Effect<Handler<Event, A>, never, Scope.Scope> =>
  Effect.flatMap(Effect.runtime<never>(), (base) =>
    Effect.acquireRelease(
      Effect.sync(() =>
        toHandler<Event, A, E | DeadlineExceededError | PoisonedSandboxError, R, LE>(
          layer,
          run(handler),
          options,
          base
        )
      ),
      (made) => made.close
    ).pipe(Effect.map((made) => made.handler)))

/**
 * The record was handled.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordProcessed {
  readonly _tag: "Processed"
  readonly record: SQSRecord
}

/**
 * The handler failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordFailed<E> {
  readonly _tag: "Failed"
  readonly record: SQSRecord
  readonly error: E
}

/**
 * The body does not decode through the schema; the handler was not called.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordUndecodable {
  readonly _tag: "Undecodable"
  readonly record: SQSRecord
  readonly error: EventCodec.InvalidEventError
}

/**
 * The invocation's deadline came first: the handler was interrupted, a retry was not started, or the record was
 * not started.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordTimedOut {
  readonly _tag: "TimedOut"
  readonly record: SQSRecord
  readonly error: DeadlineExceededError
}

/**
 * FIFO only: an earlier record of its message group in this batch failed (`blockedBy`), so this one was not handled.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordReleased {
  readonly _tag: "Released"
  readonly record: SQSRecord
  readonly blockedBy: string
}

/**
 * The handler died (a defect, a bug).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordDied {
  readonly _tag: "Died"
  readonly record: SQSRecord
  readonly defect: unknown
}

/**
 * What became of one record of a batch.
 *
 * @since 0.1.0
 * @category models
 */
export type RecordOutcome<E> =
  | RecordProcessed
  | RecordFailed<E>
  | RecordUndecodable
  | RecordTimedOut
  | RecordReleased
  | RecordDied

/**
 * A record reported in `batchItemFailures`, with why.
 *
 * @since 0.1.0
 * @category models
 */
export type RecordFailure<E> = Exclude<RecordOutcome<E>, RecordProcessed>

/**
 * @since 0.1.0
 * @category models
 */
export interface SqsOptions<A, I, E, R> extends Options {
  /** Each record's body is JSON of this schema's encoded side. */
  readonly schema: Schema.Schema<A, I>
  /** Handles one decoded record. */
  readonly handler: (body: A, record: SQSRecord, context: LambdaContext) => Effect.Effect<unknown, E, R>
  /** Records handled at once on a standard queue, or message groups on a FIFO queue. Default 10. */
  readonly concurrency?: number | undefined
  /**
   * Called for each record reported failed, in batch order, after the batch. Each failure is also logged (a
   * warning per failed record; the released ones in one line).
   */
  readonly onFailure?: ((failure: RecordFailure<E>) => Effect.Effect<void, never, R>) | undefined
}

const sqsBody = <A, I, E, R>(
  options: SqsOptions<A, I, E, R>
): Body<R, SQSBatchResponse, InvalidLambdaEventError | PoisonedSandboxError> => {
  const codec = EventCodec.make(options.schema)
  const onFailure = options.onFailure
  return (event, context, settings, log) => (deadline) =>
    Effect.gen(function*() {
      const records = yield* batch.recordsOf(event)
      const outcomes = yield* batch.processRecords(
        records,
        {
          codec,
          handler: options.handler,
          concurrency: Math.max(1, options.concurrency ?? 10),
          minAttemptMs: settings.minAttemptMs
        },
        context,
        deadline
      )
      const failures = outcomes.filter((outcome): outcome is RecordFailure<E> => outcome._tag !== "Processed")
      yield* batch.logFailures(failures)
      if (onFailure !== undefined) yield* Effect.forEach(failures, onFailure, { discard: true })
      const rejected = failures.find((failure) =>
        (failure._tag === "Failed" || failure._tag === "TimedOut") &&
        engine.credentialsErrorOf(failure.error) !== undefined
      )
      if (rejected !== undefined && (rejected._tag === "Failed" || rejected._tag === "TimedOut")) {
        const poisoned = yield* engine.poisonedBy(rejected.error, settings, log)
        if (Option.isSome(poisoned)) return yield* Effect.fail(poisoned.value)
      }
      return { batchItemFailures: failures.map((failure) => ({ itemIdentifier: failure.record.messageId })) }
    })
}

/**
 * A handler for SQS events with partial batch responses (`ReportBatchItemFailures`): each record's body is decoded
 * through the schema and handled by its deadline, and the records that failed are returned in
 * `batchItemFailures`; a record that does not decode is one of them. On a FIFO queue (its ARN ends in `.fifo`, or
 * its records carry a `MessageGroupId`) the records of a message group are handled one at a time in order, and
 * after a failure the rest of the group is reported failed without being handled. An event that is not an SQS
 * event fails the invocation with an `InvalidLambdaEventError`; poisoned credentials fail it with a
 * `PoisonedSandboxError`, so the whole batch comes back.
 *
 * A record that never decodes comes back until the queue's redrive policy moves it to a dead-letter queue.
 *
 * @example
 * ```ts
 * import { Credentials } from "@aws-resilience/core"
 * import { DynamoDB } from "@aws-resilience/dynamodb"
 * import { LambdaHandler } from "@aws-resilience/lambda"
 * import { Layer, Schema } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number })
 *
 * export const handler = LambdaHandler.sqs(DynamoDB.layerConfig().pipe(Layer.provideMerge(Credentials.layer())), {
 *   schema: Order,
 *   concurrency: 5,
 *   handler: (order) =>
 *     DynamoDB.putItem({ TableName: "orders", Item: { id: { S: order.id }, amount: { N: String(order.amount) } } })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqs = <A, I, E, R, LE>(
  layer: Layer.Layer<R, LE>,
  options: SqsOptions<A, I, E, NoInfer<R>>
): Handler<SQSEvent, SQSBatchResponse> =>
  atTheEdge(toHandler(layer, sqsBody(options), options, Runtime.defaultRuntime), options)

/**
 * `sqs` in the caller's runtime: the layer is released when the scope closes, and nothing listens for SIGTERM.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqsScoped = <A, I, E, R, LE>(
  layer: Layer.Layer<R, LE>,
  options: SqsOptions<A, I, E, NoInfer<R>>
): Effect.Effect<Handler<SQSEvent, SQSBatchResponse>, never, Scope.Scope> =>
  Effect.flatMap(Effect.runtime<never>(), (base) =>
    Effect.acquireRelease(
      Effect.sync(() => toHandler<SQSEvent, SQSBatchResponse, unknown, R, LE>(layer, sqsBody(options), options, base)),
      (made) => made.close
    ).pipe(Effect.map((made) => made.handler)))
