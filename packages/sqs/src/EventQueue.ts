/**
 * A typed queue of events on SQS: events are validated and encoded through an Effect `Schema` before they are
 * sent, batches report each entry, retry only the entries SQS failed and never send an entry twice within one
 * call, and `consume` is a `Stream` that runs a handler per message with bounded concurrency (one message at a
 * time, in order, within a FIFO group), keeps the message invisible while it runs, bounds how long it runs,
 * deletes it on success, removes it once it has failed too often, and reports every outcome.
 *
 * @since 0.1.0
 */
import { AwsConfig } from "@aws-resilience/core"
import type { AwsError, EventCodec } from "@aws-resilience/core"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Pipeable from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as EventQueueError from "./EventQueueError.js"
import * as batchSender from "./internal/batchSender.js"
import * as consumer from "./internal/consumer.js"
import * as queueSettings from "./internal/queueSettings.js"
import * as SQS from "./SQS.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/sqs/EventQueue")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * How many receives `consume` gives a failing message on a queue without a redrive policy: the SQS console's
 * default for a redrive policy.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultMaxReceiveCount: number = consumer.defaultMaxReceiveCount

/**
 * The default handler timeout of `consume`, in visibility timeouts.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultHandlerTimeoutVisibilityTimeouts: number = consumer.defaultHandlerTimeoutVisibilityTimeouts

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I> {
  /** The queue's URL. A URL ending in `.fifo` is a FIFO queue. */
  readonly queueUrl: string
  readonly schema: Schema.Schema<A, I>
  /** The event's id, reported in outcomes and used as the FIFO deduplication id. Default: `event.id`. */
  readonly idOf?: ((event: A) => string) | undefined
  /** FIFO only: the message group. Default: the event's id. */
  readonly groupId?: ((event: A) => string) | undefined
  /** How long a received message stays invisible, renewed every half of it while its handler runs. Default 30 s. */
  readonly visibilityTimeout?: Duration.DurationInput | undefined
  /** Long-polling wait of each receive, at most 20 s. Default 20 s. */
  readonly waitTime?: Duration.DurationInput | undefined
  /**
   * Largest message, and largest batch, in bytes as SQS counts them. Default `SQS.defaultMaxMessageSize` (1 MiB, the
   * SQS limit); set the queue's `MaximumMessageSize` when it is lower (queues created before 2025, or by tools that
   * still default to 256 KiB).
   */
  readonly maxMessageSize?: number | undefined
}

/**
 * What `enqueue` returns: the event's id and the message id SQS gave it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Enqueued {
  readonly id: string
  readonly messageId: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface EnqueueBatchOptions {
  /** Batches in flight at once. Default 4 on a standard queue and 1 on a FIFO queue, to keep its order. */
  readonly concurrency?: number | undefined
}

/**
 * The outcome of one entry of `enqueueBatch`, at its position in the input.
 *
 * @since 0.1.0
 * @category models
 */
export type BatchOutcome = BatchOutcome.Sent | BatchOutcome.Rejected | BatchOutcome.Failed

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace BatchOutcome {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Sent {
    readonly _tag: "Sent"
    readonly index: number
    readonly id: string
    readonly messageId: string
  }
  /**
   * Refused before anything was sent; `id` is missing when the event is too broken to have one.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Rejected {
    readonly _tag: "Rejected"
    readonly index: number
    readonly id?: string | undefined
    readonly error: EventCodec.InvalidEventError | EventQueueError.MessageTooLargeError
  }
  /**
   * Not known to be accepted: the whole request failed (`AwsError`), or SQS failed the entry (`BatchEntryError`),
   * or, whatever the last attempt's error, an attempt may have reached SQS (`MaybeSentError`).
   *
   * @since 0.1.0
   * @category models
   */
  export interface Failed {
    readonly _tag: "Failed"
    readonly index: number
    readonly id: string
    readonly error: AwsError.AwsError | EventQueueError.BatchEntryError | EventQueueError.MaybeSentError
    /**
     * True when SQS may have accepted the entry in any of its attempts (a lost response, a reset connection, a 5xx,
     * or an entry missing from the response), even if a later attempt was refused: resending it may duplicate it,
     * unless the queue is FIFO and the resend is within its 5-minute deduplication window. False when SQS did not
     * send it.
     */
    readonly maybeSent: boolean
  }
}

/**
 * What the handler of `consume` gets besides the event.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessageMeta {
  readonly messageId: string
  readonly receiptHandle: string
  /** 1 on the first delivery. */
  readonly receiveCount: number
  readonly sentAt?: Date | undefined
  readonly groupId?: string | undefined
  readonly deduplicationId?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ConsumeOptions {
  /**
   * Messages held at once; the consumer receives no more messages than that. On a standard queue they are all
   * handled at once; in a FIFO group, one at a time. Default 10.
   */
  readonly concurrency?: number | undefined
  /**
   * After a failure (handler failure, undecodable body, timeout), make the message visible again after this long.
   * Default: its visibility timeout, and at once after a timeout.
   */
  readonly retryDelay?: Duration.DurationInput | undefined
  /**
   * How long a handler may run. Then it is interrupted, the message is made visible again (see `retryDelay`) and
   * the outcome is `TimedOut`. Default: 3 visibility timeouts.
   */
  readonly handlerTimeout?: Duration.DurationInput | undefined
  /**
   * A message that fails (undecodable body, handler failure, timeout) on its `maxReceiveCount`-th receive or a
   * later one is moved to `deadLetterQueueUrl`, or deleted when there is none, and reported `DeadLettered`.
   * Default: when the queue has a redrive policy (its `RedrivePolicy` attribute, read once when the stream starts),
   * none, as SQS moves such messages itself; otherwise `defaultMaxReceiveCount` (10). Giving a number skips the
   * read of the attribute.
   */
  readonly maxReceiveCount?: number | undefined
  /**
   * Where a message past `maxReceiveCount` goes, with its body and message attributes (and, to a FIFO queue, its
   * group, and its message id as deduplication id). It is deleted from this queue only once it is there, so it may
   * reach the dead-letter queue twice. Default: none; the message is deleted, and its body is in the outcome.
   */
  readonly deadLetterQueueUrl?: string | undefined
}

/**
 * One result of `consume` per received message.
 *
 * @since 0.1.0
 * @category models
 */
export type Consumed<E> =
  | Consumed.Processed
  | Consumed.Failed<E>
  | Consumed.Undecodable
  | Consumed.TimedOut
  | Consumed.Released
  | Consumed.DeadLettered<E>

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Consumed {
  /**
   * The handler succeeded and the message was deleted.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Processed {
    readonly _tag: "Processed"
    readonly id: string
    readonly messageId: string
  }
  /**
   * The handler failed; the message is left for redelivery (after `retryDelay` when given).
   *
   * @since 0.1.0
   * @category models
   */
  export interface Failed<E> {
    readonly _tag: "Failed"
    readonly id: string
    readonly messageId: string
    readonly error: E
  }
  /**
   * The body does not match the schema; the message is left for redelivery (after `retryDelay` when given), as
   * another consumer may be able to decode it, until `maxReceiveCount`.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Undecodable {
    readonly _tag: "Undecodable"
    readonly messageId: string
    readonly error: EventCodec.InvalidEventError
  }
  /**
   * The handler ran longer than `handlerTimeout`: it was interrupted and the message made visible again (after
   * `retryDelay` when given, at once otherwise).
   *
   * @since 0.1.0
   * @category models
   */
  export interface TimedOut {
    readonly _tag: "TimedOut"
    readonly id: string
    readonly messageId: string
    readonly error: EventQueueError.HandlerTimeoutError
  }
  /**
   * FIFO only: an earlier message of its group in the same receive was not processed (`blockedBy`), so this one
   * was not handled but made visible again; SQS delivers it again after that one, in order.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Released {
    readonly _tag: "Released"
    /** Missing when the body cannot be decoded. */
    readonly id?: string | undefined
    readonly messageId: string
    readonly blockedBy: string
  }
  /**
   * The message failed on its `maxReceiveCount`-th receive or a later one: it was moved to `deadLetterQueueUrl`, or
   * deleted when that is missing. `error` is its last failure.
   *
   * @since 0.1.0
   * @category models
   */
  export interface DeadLettered<E> {
    readonly _tag: "DeadLettered"
    /** Missing when the body cannot be decoded. */
    readonly id?: string | undefined
    readonly messageId: string
    readonly receiveCount: number
    readonly deadLetterQueueUrl?: string | undefined
    readonly body: string
    readonly error: E | EventCodec.InvalidEventError | EventQueueError.HandlerTimeoutError
  }
}

/**
 * A queue of events of type `A`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventQueue<A> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  readonly queueUrl: string
  readonly fifo: boolean
  /**
   * Validates, encodes and sends one event. A failure that may have reached SQS (5xx, reset connection, lost
   * response) is retried as a whole, so on a standard queue the event is delivered at least once and may be
   * delivered twice; use a FIFO queue, whose deduplication id is the event's id, for exactly-once sends.
   */
  readonly enqueue: (
    event: A
  ) => Effect.Effect<Enqueued, EventCodec.InvalidEventError | EventQueueError.MessageTooLargeError | AwsError.AwsError>
  /**
   * Sends many events in batches and reports each one, in input order. It never fails as a whole, and never sends
   * an entry twice within one call: on a standard queue a request that may have reached SQS is not resent, and
   * its entries are reported `Failed` with `maybeSent: true`. On a FIFO queue such a request is retried, as the
   * deduplication id makes that safe, and an entry whose attempts all fail is still `maybeSent` if any of them may
   * have reached SQS. The policy's `maxAttempts` bounds the attempts of each batch, whole or entry by entry.
   */
  readonly enqueueBatch: (
    events: Iterable<A>,
    options?: EnqueueBatchOptions
  ) => Effect.Effect<Array<BatchOutcome>>
  /**
   * Receives, decodes and handles messages until interrupted; fails only when receiving fails, or reading the
   * queue's redrive policy does (see `ConsumeOptions.maxReceiveCount`). On a FIFO queue the messages of one group
   * are handled one at a time, in order, and after one is not processed the rest of its group in the same
   * receive is released, not handled (`Released`).
   */
  readonly consume: <E, R>(
    handler: (event: A, meta: MessageMeta) => Effect.Effect<unknown, E, R>,
    options?: ConsumeOptions
  ) => Stream.Stream<Consumed<E>, AwsError.AwsError, R>
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isEventQueue = (u: unknown): u is EventQueue<unknown> => Predicate.hasProperty(u, TypeId)

/**
 * Builds an event queue over the SQS client of the context. Nothing is sent until it is used.
 *
 * @example
 * ```ts
 * import { EventQueue } from "@aws-resilience/sqs"
 * import { Effect, Schema } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
 *
 * // Needs SQS.SQS, e.g. from SQS.layerConfig().
 * export const program = Effect.gen(function*() {
 *   const queueUrl = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"
 *   // A FIFO queue: the event's id is its deduplication id, so a retried send is not delivered twice.
 *   const queue = yield* EventQueue.make({ queueUrl, schema: Order })
 *   return yield* queue.enqueue({ id: "o-1", total: 42 })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(options: Options<A, I>): Effect.Effect<EventQueue<A>, never, SQS.SQS> =>
  Effect.map(SQS.SQS, (sqs): EventQueue<A> => {
    const settings = queueSettings.make(sqs, options)
    return {
      [TypeId]: TypeId,
      queueUrl: settings.queueUrl,
      fifo: settings.fifo,
      enqueue: batchSender.enqueue(settings),
      enqueueBatch: batchSender.enqueueBatch(settings),
      consume: consumer.consume(settings),
      pipe() {
        // eslint-disable-next-line prefer-rest-params -- as in Effect's own data types
        return Pipeable.pipeArguments(this, arguments)
      }
    }
  })

/**
 * Provides an event queue under the caller's own tag, so the event type stays typed and two queues never collide.
 *
 * @example
 * ```ts
 * import { EventQueue } from "@aws-resilience/sqs"
 * import { Context, Effect, Schema } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
 * class Orders extends Context.Tag("app/Orders")<Orders, EventQueue.EventQueue<typeof Order.Type>>() {}
 *
 * // Needs SQS.SQS, e.g. from SQS.layerConfig().
 * export const OrdersLive = EventQueue.layer(Orders, {
 *   queueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
 *   schema: Order
 * })
 * export const program = Effect.flatMap(Orders, EventQueue.enqueue({ id: "o-1", total: 42 }))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Self, A, I>(
  tag: Context.Tag<Self, EventQueue<A>>,
  options: Options<A, I>
): Layer.Layer<Self, never, SQS.SQS> => Layer.effect(tag, make(options))

/**
 * Like `layer`, with any option given as a `Config`, e.g. `{ queueUrl: Config.string("ORDERS_QUEUE_URL"), schema }`.
 * A missing or bad value is a `ConfigurationError` naming it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = <Self, A, I>(
  tag: Context.Tag<Self, EventQueue<A>>,
  options: AwsConfig.Configs<Options<A, I>> & Pick<Options<A, I>, "schema">
): Layer.Layer<Self, AwsError.ConfigurationError, SQS.SQS> =>
  Layer.effect(tag, Effect.flatMap(AwsConfig.read<Options<A, I>>({}, options), make))

/**
 * Sends one event: `EventQueue.enqueue(queue, event)` or `Effect.flatMap(Orders, EventQueue.enqueue(order))`.
 *
 * @example
 * ```ts
 * import { EventQueue } from "@aws-resilience/sqs"
 * import { Context, Effect, Schema } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
 * class Orders extends Context.Tag("app/Orders")<Orders, EventQueue.EventQueue<typeof Order.Type>>() {}
 *
 * // Fails with an InvalidEventError, a MessageTooLargeError or an AwsError; nothing is sent for the first two.
 * export const program = Effect.flatMap(Orders, EventQueue.enqueue({ id: "o-1", total: 42 })).pipe(
 *   Effect.tap((sent) => Effect.log(`order o-1 is message ${sent.messageId}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const enqueue: {
  <A>(
    event: NoInfer<A>
  ): (
    self: EventQueue<A>
  ) => Effect.Effect<Enqueued, EventCodec.InvalidEventError | EventQueueError.MessageTooLargeError | AwsError.AwsError>
  <A>(
    self: EventQueue<A>,
    event: NoInfer<A>
  ): Effect.Effect<Enqueued, EventCodec.InvalidEventError | EventQueueError.MessageTooLargeError | AwsError.AwsError>
} = dual(2, <A>(self: EventQueue<A>, event: A) => self.enqueue(event))

/**
 * Sends events in batches and reports each one, at its position in the input.
 *
 * @example
 * ```ts
 * import { EventQueue } from "@aws-resilience/sqs"
 * import { Context, Effect, Schema } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
 * class Orders extends Context.Tag("app/Orders")<Orders, EventQueue.EventQueue<typeof Order.Type>>() {}
 *
 * const orders = [{ id: "o-1", total: 42 }, { id: "o-2", total: 7 }]
 * // The ids that are safe to send again: failed, and certainly not sent.
 * export const toResend = Effect.flatMap(Orders, EventQueue.enqueueBatch(orders)).pipe(
 *   Effect.map((outcomes) => outcomes.flatMap((o) => o._tag === "Failed" && !o.maybeSent ? [o.id] : []))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const enqueueBatch: {
  <A>(
    events: Iterable<NoInfer<A>>,
    options?: EnqueueBatchOptions
  ): (self: EventQueue<A>) => Effect.Effect<Array<BatchOutcome>>
  <A>(
    self: EventQueue<A>,
    events: Iterable<NoInfer<A>>,
    options?: EnqueueBatchOptions
  ): Effect.Effect<Array<BatchOutcome>>
} = dual(
  (args) => isEventQueue(args[0]),
  <A>(self: EventQueue<A>, events: Iterable<A>, options?: EnqueueBatchOptions) => self.enqueueBatch(events, options)
)

/**
 * Consumes the queue with a handler, as a `Stream` of one result per message.
 *
 * @example
 * ```ts
 * import { EventQueue } from "@aws-resilience/sqs"
 * import { Context, Effect, Schema, Stream } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
 * class Orders extends Context.Tag("app/Orders")<Orders, EventQueue.EventQueue<typeof Order.Type>>() {}
 *
 * // Runs until interrupted, handling up to 4 messages at once.
 * export const worker = Effect.flatMap(Orders, (orders) =>
 *   EventQueue.consume(orders, (order) => Effect.log(`order ${order.id}: ${order.total}`), { concurrency: 4 }).pipe(
 *     Stream.runForEach((result) => result._tag === "Processed" ? Effect.void : Effect.logWarning(result._tag))
 *   ))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const consume: {
  <A, E, R>(
    handler: (event: A, meta: MessageMeta) => Effect.Effect<unknown, E, R>,
    options?: ConsumeOptions
  ): (self: EventQueue<A>) => Stream.Stream<Consumed<E>, AwsError.AwsError, R>
  <A, E, R>(
    self: EventQueue<A>,
    handler: (event: A, meta: MessageMeta) => Effect.Effect<unknown, E, R>,
    options?: ConsumeOptions
  ): Stream.Stream<Consumed<E>, AwsError.AwsError, R>
} = dual(
  (args) => isEventQueue(args[0]),
  <A, E, R>(
    self: EventQueue<A>,
    handler: (event: A, meta: MessageMeta) => Effect.Effect<unknown, E, R>,
    options?: ConsumeOptions
  ) => self.consume(handler, options)
)
