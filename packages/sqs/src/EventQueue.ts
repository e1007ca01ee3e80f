/**
 * A typed queue of events on SQS: events are validated and encoded through an Effect `Schema` before they are
 * sent, batches report each entry, retry only the entries SQS failed and never send an entry twice within one
 * call, and `consume` is a `Stream` that runs a handler per message with bounded concurrency, keeps the message
 * invisible while it runs, deletes it on success and reports every outcome.
 *
 * @since 0.1.0
 */
import { AwsError, EventCodec, Resilience, RetryPolicy } from "@aws-resilience/core"
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand
} from "@aws-sdk/client-sqs"
import * as Cause from "effect/Cause"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Pipeable from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { SQS } from "./SQS.js"

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
 * The SQS limit on one message (body plus attributes) and on one batch: 256 KiB.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultMaxMessageSize = 262_144

/**
 * At most this many entries go in one `SendMessageBatch`, and one `ReceiveMessage` returns at most this many.
 *
 * @since 0.1.0
 * @category models
 */
export const maxBatchEntries = 10

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
  /** Largest message, and largest batch, in bytes as SQS counts them. Default 262,144 (256 KiB). */
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
    readonly index: number
    readonly id: string
    readonly status: "sent"
    readonly messageId: string
  }
  /**
   * Refused before anything was sent; `id` is missing when the event is too broken to have one.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Rejected {
    readonly index: number
    readonly id?: string | undefined
    readonly status: "rejected"
    readonly error: EventCodec.InvalidEventError | MessageTooLargeError
  }
  /**
   * Not known to be accepted: the whole request failed (`AwsError`, or `MaybeSentError` when it may have reached
   * SQS), or SQS failed the entry (`BatchEntryError`).
   *
   * @since 0.1.0
   * @category models
   */
  export interface Failed {
    readonly index: number
    readonly id: string
    readonly status: "failed"
    readonly error: AwsError.AwsError | BatchEntryError | MaybeSentError
    /**
     * True when SQS may have accepted the entry all the same (a lost response, a reset connection, a 5xx, or an
     * entry missing from the response): resending it may duplicate it, unless the queue is FIFO and the resend
     * is within its 5-minute deduplication window. False when SQS did not send it.
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
  /** Handlers running at once; the consumer receives no more messages than it can start. Default 10. */
  readonly concurrency?: number | undefined
  /** After a handler failure, make the message visible again after this long. Default: its visibility timeout. */
  readonly retryDelay?: Duration.DurationInput | undefined
}

/**
 * One result of `consume` per received message.
 *
 * @since 0.1.0
 * @category models
 */
export type Consumed<E> = Consumed.Processed | Consumed.Failed<E> | Consumed.Undecodable

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
   * The handler failed; the message is left for redelivery.
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
   * The body does not match the schema; the message is left for redelivery (and the queue's dead-letter queue).
   *
   * @since 0.1.0
   * @category models
   */
  export interface Undecodable {
    readonly _tag: "Undecodable"
    readonly messageId: string
    readonly error: EventCodec.InvalidEventError
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
  ) => Effect.Effect<Enqueued, EventCodec.InvalidEventError | MessageTooLargeError | AwsError.AwsError>
  /**
   * Sends many events in batches and reports each one, in input order. It never fails as a whole, and never sends
   * an entry twice within one call: on a standard queue a request that may have reached SQS is not resent, and
   * its entries are reported `failed` with `maybeSent: true`. On a FIFO queue such a request is retried, as the
   * deduplication id makes that safe.
   */
  readonly enqueueBatch: (
    events: Iterable<A>,
    options?: EnqueueBatchOptions
  ) => Effect.Effect<Array<BatchOutcome>>
  /** Receives, decodes and handles messages until interrupted; fails only when receiving fails. */
  readonly consume: <E, R>(
    handler: (event: A, meta: MessageMeta) => Effect.Effect<unknown, E, R>,
    options?: ConsumeOptions
  ) => Stream.Stream<Consumed<E>, AwsError.AwsError, R>
}

/**
 * An encoded event over the size limit. Nothing was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class MessageTooLargeError extends Data.TaggedError("MessageTooLargeError")<{
  readonly id: string
  readonly size: number
  readonly limit: number
}> {
  override get message(): string {
    return `event ${this.id} is ${this.size} bytes as an SQS message, over the limit of ${this.limit} bytes`
  }
}

/**
 * SQS refused one entry of a batch. `senderFault` entries are never retried; the others were, until the policy
 * gave up.
 *
 * @since 0.1.0
 * @category errors
 */
export class BatchEntryError extends Data.TaggedError("BatchEntryError")<{
  readonly code: string
  readonly reason: string
  readonly senderFault: boolean
}> {
  override get message(): string {
    return `sqs.SendMessageBatch: entry failed (${this.code}${this.senderFault ? ", sender fault" : ""})` +
      (this.reason ? `: ${this.reason}` : "")
  }
}

/**
 * A batch request failed in a way that may have reached SQS after all (5xx, reset connection, lost response): the
 * entry may have been sent. It was not resent, so that it is not sent twice; `cause` is the request's error.
 *
 * @since 0.1.0
 * @category errors
 */
export class MaybeSentError extends Data.TaggedError("MaybeSentError")<{
  readonly cause: AwsError.AwsError
}> {
  override get message(): string {
    return `sqs.SendMessageBatch: outcome unknown, the entry may have been sent: ${this.cause.message}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isEventQueue = (u: unknown): u is EventQueue<unknown> => Predicate.hasProperty(u, TypeId)

/**
 * The size of a message as SQS counts it against its limit: the body's UTF-8 bytes plus, for each attribute, its
 * name, data type and value.
 *
 * @since 0.1.0
 * @category utils
 */
export const messageSize = (
  body: string,
  attributes: Readonly<Record<string, MessageAttributeValue>> = {}
): number => {
  let size = Buffer.byteLength(body, "utf8")
  for (const [name, attribute] of Object.entries(attributes)) {
    size += Buffer.byteLength(name, "utf8") + Buffer.byteLength(attribute.DataType ?? "", "utf8")
    if (attribute.StringValue !== undefined) size += Buffer.byteLength(attribute.StringValue, "utf8")
    if (attribute.BinaryValue !== undefined) size += attribute.BinaryValue.byteLength
  }
  return size
}

interface Prepared {
  readonly index: number
  readonly id: string
  readonly body: string
  readonly size: number
  readonly groupId: string | undefined
}

// Errors AWS returns before it processes a request: retrying them cannot send an entry twice.
const rejectedBeforeProcessing = (error: AwsError.AwsError): boolean =>
  error._tag === "CredentialsError" || error._tag === "ThrottlingError"

// Whether a failed request may have been processed all the same. Clock skew is refused at authentication.
const mayHaveReached = (error: AwsError.AwsError): boolean =>
  error._tag === "TransientError" && error.kind !== "clockSkew"

const clampSeconds = (duration: Duration.DurationInput, min: number, max: number): number =>
  Math.min(max, Math.max(min, Math.ceil(Duration.toSeconds(Duration.decode(duration)))))

// Greedy, in input order: a new batch starts at 10 entries or when the next entry would pass the byte limit.
const chunk = (entries: ReadonlyArray<Prepared>, maxBytes: number): Array<Array<Prepared>> => {
  const chunks: Array<Array<Prepared>> = []
  let current: Array<Prepared> = []
  let bytes = 0
  for (const entry of entries) {
    if (current.length === maxBatchEntries || (current.length > 0 && bytes + entry.size > maxBytes)) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(entry)
    bytes += entry.size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

const systemAttributes = [
  "ApproximateReceiveCount",
  "SentTimestamp",
  "MessageGroupId",
  "MessageDeduplicationId"
] as const

const metaOf = (message: Message): MessageMeta => {
  const attributes: Partial<Record<string, string>> = message.Attributes ?? {}
  const sent = Number(attributes.SentTimestamp)
  return {
    messageId: message.MessageId ?? "",
    receiptHandle: message.ReceiptHandle ?? "",
    receiveCount: Number(attributes.ApproximateReceiveCount ?? 1),
    sentAt: Number.isFinite(sent) ? new Date(sent) : undefined,
    groupId: attributes.MessageGroupId,
    deduplicationId: attributes.MessageDeduplicationId
  }
}

/**
 * Builds an event queue over the SQS client of the context. Nothing is sent until it is used.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(options: Options<A, I>): Effect.Effect<EventQueue<A>, never, SQS> =>
  Effect.map(SQS, (sqs): EventQueue<A> => {
    const codec = EventCodec.make(options.schema, options.idOf)
    const queueUrl = options.queueUrl
    const fifo = queueUrl.endsWith(".fifo")
    const limit = options.maxMessageSize ?? defaultMaxMessageSize
    const visibilitySeconds = clampSeconds(options.visibilityTimeout ?? Duration.seconds(30), 1, 43_200)
    const waitSeconds = clampSeconds(options.waitTime ?? Duration.seconds(20), 0, 20)
    const groupOf = options.groupId ?? codec.idOf

    const safeId = (event: A): string | undefined => {
      try {
        const id = codec.idOf(event)
        return typeof id === "string" && id.length > 0 ? id : undefined
      } catch {
        return undefined
      }
    }

    const prepare = (
      event: A,
      index: number
    ): Effect.Effect<Prepared, EventCodec.InvalidEventError | MessageTooLargeError> =>
      Effect.flatMap(codec.encode(event), (body): Effect.Effect<
        Prepared,
        EventCodec.InvalidEventError | MessageTooLargeError
      > => {
        const id = safeId(event)
        if (id === undefined) {
          return Effect.fail(
            new EventCodec.InvalidEventError({
              direction: "encode",
              issues: [{ path: "id", message: "the event has no id (a non-empty string from idOf)" }],
              cause: undefined
            })
          )
        }
        const size = messageSize(body)
        if (size > limit) return Effect.fail(new MessageTooLargeError({ id, size, limit }))
        return Effect.succeed({ index, id, body, size, groupId: fifo ? groupOf(event) : undefined })
      })

    const fifoFields = (prepared: Prepared) =>
      fifo ? { MessageGroupId: prepared.groupId, MessageDeduplicationId: prepared.id } : {}

    const enqueue = (event: A) =>
      Effect.flatMap(prepare(event, 0), (prepared) =>
        Resilience.send(
          sqs,
          new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: prepared.body, ...fifoFields(prepared) })
        ).pipe(Effect.map((output): Enqueued => ({ id: prepared.id, messageId: output.MessageId ?? "" }))))

    // The failure of one entry, sorted by the same classification as whole calls, so that the policy's schedule
    // decides whether and when to retry it (throttling codes back off longer).
    const entryAsAwsError = (error: BatchEntryError, generation: number) =>
      AwsError.classify(
        {
          name: error.code,
          message: error.reason,
          $fault: error.senderFault ? "client" : "server",
          $metadata: { httpStatusCode: error.senderFault ? 400 : 500 }
        },
        { service: "sqs", operation: "SendMessageBatch", generation }
      )

    // Sends one batch, then resends only the entries SQS failed (not its sender faults) with the policy's backoff.
    // Entry ids are input positions, so a retried entry keeps its id and no entry is in two requests at once. The
    // whole request is retried with `requestPolicy`, which on a standard queue retries only what AWS refused
    // before processing it.
    const sendChunk = (
      entries: ReadonlyArray<Prepared>,
      requestPolicy: RetryPolicy.Policy,
      record: (outcome: BatchOutcome) => void
    ): Effect.Effect<Option.Option<AwsError.AwsError>> =>
      Resilience.retryRemaining(
        sqs,
        "SendMessageBatch",
        entries.map((entry) => [entry, undefined] as readonly [Prepared, BatchEntryError | undefined]),
        (pending) =>
          Effect.gen(function*() {
            const result = yield* Effect.either(
              Resilience.send(
                sqs,
                new SendMessageBatchCommand({
                  QueueUrl: queueUrl,
                  Entries: pending.map(([entry]): SendMessageBatchRequestEntry => ({
                    Id: String(entry.index),
                    MessageBody: entry.body,
                    ...fifoFields(entry)
                  }))
                })
              ).pipe(Effect.provideService(RetryPolicy.RetryPolicy, requestPolicy))
            )
            if (Either.isLeft(result)) {
              const maybeSent = mayHaveReached(result.left)
              const error = maybeSent ? new MaybeSentError({ cause: result.left }) : result.left
              for (const [entry] of pending) {
                record({ index: entry.index, id: entry.id, status: "failed", error, maybeSent })
              }
              return yield* Effect.fail(result.left)
            }
            const byId = new Map(pending.map(([entry]) => [String(entry.index), entry]))
            for (const success of result.right.Successful ?? []) {
              const entry = byId.get(success.Id ?? "")
              if (entry === undefined) continue
              byId.delete(success.Id!)
              record({ index: entry.index, id: entry.id, status: "sent", messageId: success.MessageId ?? "" })
            }
            const retry: Array<readonly [Prepared, BatchEntryError]> = []
            for (const failure of result.right.Failed ?? []) {
              const entry = byId.get(failure.Id ?? "")
              if (entry === undefined) continue
              byId.delete(failure.Id!)
              const error = new BatchEntryError({
                code: failure.Code ?? "Unknown",
                reason: failure.Message ?? "",
                senderFault: failure.SenderFault === true
              })
              if (error.senderFault) {
                record({ index: entry.index, id: entry.id, status: "failed", error, maybeSent: false })
              } else retry.push([entry, error])
            }
            // An entry the response does not mention may or may not have been sent: report it rather than risk
            // a duplicate.
            for (const entry of byId.values()) {
              record({
                index: entry.index,
                id: entry.id,
                status: "failed",
                error: new BatchEntryError({ code: "MissingFromResponse", reason: "", senderFault: false }),
                maybeSent: true
              })
            }
            if (retry.length === 0) return Option.none()
            // Throttling, when any entry was throttled, so the backoff is the longer one.
            const generation = yield* sqs.generation
            const errors = retry.map(([, error]) => entryAsAwsError(error, generation))
            const worst = errors.find((error) => error._tag === "ThrottlingError") ?? errors[0]!
            return Option.some([retry, worst] as const)
          })
      ).pipe(
        Effect.map((left) => {
          // The policy or the budget gave up: what is still pending was not sent.
          if (Option.isSome(left)) {
            for (const [entry, error] of left.value[0]) {
              record({ index: entry.index, id: entry.id, status: "failed", error: error!, maybeSent: false })
            }
          }
          return Option.none<AwsError.AwsError>()
        }),
        Effect.catchAll((fatal) => Effect.succeed(Option.some(fatal)))
      )

    const enqueueBatch = (events: Iterable<A>, batchOptions: EnqueueBatchOptions = {}) =>
      Effect.gen(function*() {
        const policy = yield* RetryPolicy.current
        // A standard queue has no deduplication: a request that may have been processed is not resent.
        const requestPolicy = fifo ? policy : RetryPolicy.restrict(policy, rejectedBeforeProcessing)
        const all = Array.from(events)
        const outcomes: Array<BatchOutcome | undefined> = Array.from({ length: all.length }, () => undefined)
        const record = (outcome: BatchOutcome) => {
          outcomes[outcome.index] = outcome
        }
        const ready: Array<Prepared> = []
        for (let index = 0; index < all.length; index++) {
          const event = all[index]!
          const prepared = yield* Effect.either(prepare(event, index))
          if (Either.isRight(prepared)) {
            ready.push(prepared.right)
          } else {
            const id = safeId(event)
            record({ index, ...(id !== undefined ? { id } : {}), status: "rejected", error: prepared.left })
          }
        }
        // After a whole-request failure the policy does not retry (a missing queue, access denied, bad
        // configuration) the other batches would fail alike: they are reported with it instead of being sent.
        let fatal: AwsError.AwsError | undefined
        yield* Effect.forEach(
          chunk(ready, limit),
          (entries) =>
            fatal !== undefined
              ? Effect.sync(() => {
                for (const entry of entries) {
                  record({ index: entry.index, id: entry.id, status: "failed", error: fatal!, maybeSent: false })
                }
              })
              : Effect.map(sendChunk(entries, requestPolicy, record), (failure) => {
                if (Option.isSome(failure) && !policy.isRetryable(failure.value)) fatal = failure.value
              }),
          { concurrency: batchOptions.concurrency ?? (fifo ? 1 : 4), discard: true }
        )
        return outcomes as Array<BatchOutcome>
      })

    const changeVisibility = (receiptHandle: string, seconds: number) =>
      Resilience.send(
        sqs,
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds
        })
      ).pipe(
        Effect.catchAll((error) => Effect.logWarning("could not change the visibility of a message", error.message))
      )

    // Renews the visibility every half timeout, until interrupted when the handler ends.
    const heartbeat = (receiptHandle: string): Effect.Effect<never> =>
      Effect.sleep(Duration.millis(visibilitySeconds * 500)).pipe(
        Effect.zipRight(changeVisibility(receiptHandle, visibilitySeconds)),
        Effect.forever
      )

    const consume = <E, R>(
      handler: (event: A, meta: MessageMeta) => Effect.Effect<unknown, E, R>,
      consumeOptions: ConsumeOptions = {}
    ): Stream.Stream<Consumed<E>, AwsError.AwsError, R> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const concurrency = Math.max(1, consumeOptions.concurrency ?? 10)
        const retrySeconds = consumeOptions.retryDelay === undefined
          ? undefined
          : clampSeconds(consumeOptions.retryDelay, 0, 43_200)
        const results = yield* Mailbox.make<Consumed<E>, AwsError.AwsError>(concurrency)
        // One token per handler slot: a receive asks for no more messages than there are free slots, so no
        // message waits, invisible and unrenewed, for a slot.
        const slots = yield* Queue.bounded<true>(concurrency)
        yield* Queue.offerAll(slots, Array.from({ length: concurrency }, () => true as const))
        const handlers = yield* FiberSet.make<void, never>()

        const handle = (message: Message): Effect.Effect<Consumed<E>, never, R> =>
          Effect.gen(function*() {
            const meta = metaOf(message)
            const decoded = yield* Effect.either(codec.decode(message.Body ?? ""))
            if (Either.isLeft(decoded)) {
              return { _tag: "Undecodable", messageId: meta.messageId, error: decoded.left } as const
            }
            const id = safeId(decoded.right) ?? ""
            const outcome = yield* Effect.raceFirst(
              Effect.either(handler(decoded.right, meta)),
              heartbeat(meta.receiptHandle)
            )
            if (Either.isRight(outcome)) {
              // A failed delete only means one more delivery; the handler's work is done.
              yield* Resilience.send(
                sqs,
                new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: meta.receiptHandle })
              ).pipe(
                Effect.catchAll((error) => Effect.logWarning("could not delete a processed message", error.message))
              )
              return { _tag: "Processed", id, messageId: meta.messageId } as const
            }
            if (retrySeconds !== undefined) yield* changeVisibility(meta.receiptHandle, retrySeconds)
            return { _tag: "Failed", id, messageId: meta.messageId, error: outcome.left } as const
          })

        const receive = Effect.gen(function*() {
          yield* Queue.take(slots)
          const extra = yield* Queue.takeUpTo(slots, maxBatchEntries - 1)
          const wanted = 1 + extra.length
          const output = yield* Resilience.send(
            sqs,
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: wanted,
              WaitTimeSeconds: waitSeconds,
              VisibilityTimeout: visibilitySeconds,
              MessageSystemAttributeNames: [...systemAttributes]
            })
          )
          const messages = output.Messages ?? []
          if (messages.length < wanted) {
            yield* Queue.offerAll(slots, Array.from({ length: wanted - messages.length }, () => true as const))
          }
          for (const message of messages) {
            yield* FiberSet.run(
              handlers,
              handle(message).pipe(
                Effect.flatMap((result) => results.offer(result)),
                // A defect in a handler is a bug: it ends the stream, as it would end any Effect.
                Effect.onError((cause) => Cause.isInterruptedOnly(cause) ? Effect.void : results.failCause(cause)),
                Effect.ensuring(Queue.offer(slots, true)),
                Effect.asVoid
              )
            )
          }
        })

        yield* Effect.forkScoped(
          Effect.forever(receive).pipe(Effect.catchAllCause((cause) => results.failCause(cause)))
        )
        return Mailbox.toStream(results)
      }))

    return {
      [TypeId]: TypeId,
      queueUrl,
      fifo,
      enqueue,
      enqueueBatch,
      consume,
      pipe() {
        // eslint-disable-next-line prefer-rest-params -- as in Effect's own data types
        return Pipeable.pipeArguments(this, arguments)
      }
    }
  })

/**
 * Provides an event queue under the caller's own tag, e.g.
 * `class Orders extends Context.Tag("app/Orders")<Orders, EventQueue.EventQueue<Order>>() {}`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Self, A, I>(
  tag: Context.Tag<Self, EventQueue<A>>,
  options: Options<A, I>
): Layer.Layer<Self, never, SQS> => Layer.effect(tag, make(options))

/**
 * Like `layer`, with the queue URL read from config, e.g. `Config.string("ORDERS_QUEUE_URL")`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = <Self, A, I>(
  tag: Context.Tag<Self, EventQueue<A>>,
  options: Omit<Options<A, I>, "queueUrl"> & { readonly queueUrl: Config.Config<string> }
): Layer.Layer<Self, ConfigError.ConfigError, SQS> =>
  Layer.effect(tag, Effect.flatMap(options.queueUrl, (queueUrl) => make({ ...options, queueUrl })))

/**
 * Sends one event: `EventQueue.enqueue(queue, event)` or `Effect.flatMap(Orders, EventQueue.enqueue(order))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const enqueue: {
  <A>(
    event: NoInfer<A>
  ): (
    self: EventQueue<A>
  ) => Effect.Effect<Enqueued, EventCodec.InvalidEventError | MessageTooLargeError | AwsError.AwsError>
  <A>(
    self: EventQueue<A>,
    event: NoInfer<A>
  ): Effect.Effect<Enqueued, EventCodec.InvalidEventError | MessageTooLargeError | AwsError.AwsError>
} = dual(2, <A>(self: EventQueue<A>, event: A) => self.enqueue(event))

/**
 * Sends events in batches and reports each one.
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
