/**
 * A typed queue of events on SQS: events are validated and encoded through an Effect `Schema` before they are
 * sent, batches report each entry, retry only the entries SQS failed and never send an entry twice within one
 * call, and `consume` is a `Stream` that runs a handler per message with bounded concurrency (one message at a
 * time, in order, within a FIFO group), keeps the message invisible while it runs, bounds how long it runs,
 * deletes it on success, removes it once it has failed too often, and reports every outcome.
 *
 * @since 0.1.0
 */
import { AwsError, EventCodec, Resilience, RetryPolicy } from "@aws-resilience/core"
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
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
import * as Fiber from "effect/Fiber"
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
 * Brands the errors of this module.
 *
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = Symbol.for("@aws-resilience/sqs/EventQueue/Error")

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

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
 * How many receives `consume` gives a failing message on a queue without a redrive policy: the SQS console's
 * default for a redrive policy.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultMaxReceiveCount = 10

/**
 * The default handler timeout of `consume`, in visibility timeouts.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultHandlerTimeoutVisibilityTimeouts = 3

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
   * Not known to be accepted: the whole request failed (`AwsError`), or SQS failed the entry (`BatchEntryError`),
   * or, whatever the last attempt's error, an attempt may have reached SQS (`MaybeSentError`).
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
    readonly error: HandlerTimeoutError
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
    readonly error: E | EventCodec.InvalidEventError | HandlerTimeoutError
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
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
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
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `sqs.SendMessageBatch: entry failed (${this.code}${this.senderFault ? ", sender fault" : ""})` +
      (this.reason ? `: ${this.reason}` : "")
  }
}

/**
 * An attempt to send the entry failed in a way that may have reached SQS after all (5xx, reset connection, lost
 * response): the entry may have been sent. `cause` is that attempt's error; `lastError`, when another attempt came
 * after it, is the error of the last one. On a standard queue such a request is not resent, so that the entry is
 * not sent twice.
 *
 * @since 0.1.0
 * @category errors
 */
export class MaybeSentError extends Data.TaggedError("MaybeSentError")<{
  readonly cause: AwsError.AwsError
  readonly lastError?: AwsError.AwsError | BatchEntryError | undefined
}> {
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `sqs.SendMessageBatch: outcome unknown, the entry may have been sent: ${this.cause.message}` +
      (this.lastError !== undefined ? `; the last attempt failed: ${this.lastError.message}` : "")
  }
}

/**
 * A handler of `consume` ran longer than its timeout; it was interrupted and its message made visible again.
 *
 * @since 0.1.0
 * @category errors
 */
export class HandlerTimeoutError extends Data.TaggedError("HandlerTimeoutError")<{
  readonly id: string
  readonly messageId: string
  readonly timeout: Duration.Duration
}> {
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `the handler of event ${this.id} (message ${this.messageId}) did not end within ` +
      `${Duration.format(this.timeout)}; it was interrupted and the message released`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isEventQueue = (u: unknown): u is EventQueue<unknown> => Predicate.hasProperty(u, TypeId)

/**
 * True for any error of this module.
 *
 * @since 0.1.0
 * @category guards
 */
export const isEventQueueError = (
  u: unknown
): u is MessageTooLargeError | BatchEntryError | MaybeSentError | HandlerTimeoutError =>
  Predicate.hasProperty(u, ErrorTypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isMessageTooLargeError = (u: unknown): u is MessageTooLargeError =>
  isEventQueueError(u) && u._tag === "MessageTooLargeError"

/**
 * @since 0.1.0
 * @category guards
 */
export const isBatchEntryError = (u: unknown): u is BatchEntryError =>
  isEventQueueError(u) && u._tag === "BatchEntryError"

/**
 * @since 0.1.0
 * @category guards
 */
export const isMaybeSentError = (u: unknown): u is MaybeSentError => isEventQueueError(u) && u._tag === "MaybeSentError"

/**
 * @since 0.1.0
 * @category guards
 */
export const isHandlerTimeoutError = (u: unknown): u is HandlerTimeoutError =>
  isEventQueueError(u) && u._tag === "HandlerTimeoutError"

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

// One entry of a batch on its way: its last error, and the failure of an earlier attempt that may have reached SQS
// with it, which stays true of it whatever the later attempts bring.
interface Attempt {
  readonly entry: Prepared
  readonly error: AwsError.AwsError | BatchEntryError | undefined
  readonly reachedBy: AwsError.AwsError | undefined
}

const failedOutcome = (
  { entry, reachedBy }: Attempt,
  error: AwsError.AwsError | BatchEntryError
): BatchOutcome.Failed => ({
  index: entry.index,
  id: entry.id,
  status: "failed",
  error: reachedBy === undefined
    ? error
    : new MaybeSentError({ cause: reachedBy, ...(error !== reachedBy ? { lastError: error } : {}) }),
  maybeSent: reachedBy !== undefined
})

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

// Whether a `RedrivePolicy` attribute names a dead-letter queue.
const namesDeadLetterQueue = (policy: string | undefined): boolean => {
  if (policy === undefined || policy === "") return false
  try {
    const parsed: unknown = JSON.parse(policy)
    return Predicate.hasProperty(parsed, "deadLetterTargetArn") && typeof parsed.deadLetterTargetArn === "string" &&
      parsed.deadLetterTargetArn.length > 0
  } catch {
    return false
  }
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
      AwsError.fromCode(error.code, {
        service: "sqs",
        operation: "SendMessageBatch",
        generation,
        message: error.reason,
        fault: error.senderFault ? "client" : "server"
      })

    // Sends one batch, then resends what failed with the policy's backoff: the whole request, or only the entries
    // SQS failed (not its sender faults). One retry loop drives both, so the policy's attempts bound the chunk and
    // every entry remembers whether any of its attempts may have reached SQS. Entry ids are input positions, so a
    // retried entry keeps its id and no entry is in two requests at once. On a standard queue a request that may
    // have been processed is not resent. The result is the request's failure when the policy gave up on one.
    const sendChunk = (
      entries: ReadonlyArray<Prepared>,
      policy: RetryPolicy.Policy,
      record: (outcome: BatchOutcome) => void
    ): Effect.Effect<Option.Option<AwsError.AwsError>> => {
      // Each request is sent once; the loop below is the one that retries.
      const once = RetryPolicy.restrict(policy, () => false)
      let requestFailure: AwsError.AwsError | undefined
      return Resilience.retryRemaining(
        sqs,
        "SendMessageBatch",
        entries.map((entry): Attempt => ({ entry, error: undefined, reachedBy: undefined })),
        (pending: ReadonlyArray<Attempt>) =>
          Effect.gen(function*() {
            const result = yield* Effect.either(
              Resilience.send(
                sqs,
                new SendMessageBatchCommand({
                  QueueUrl: queueUrl,
                  Entries: pending.map(({ entry }): SendMessageBatchRequestEntry => ({
                    Id: String(entry.index),
                    MessageBody: entry.body,
                    ...fifoFields(entry)
                  }))
                })
              ).pipe(Effect.provideService(RetryPolicy.RetryPolicy, once))
            )
            if (Either.isLeft(result)) {
              const error = result.left
              const reached = AwsError.mayHaveBeenProcessed(error)
              const failed = pending.map((attempt): Attempt => ({
                entry: attempt.entry,
                error,
                reachedBy: attempt.reachedBy ?? (reached ? error : undefined)
              }))
              // A standard queue has no deduplication: only what AWS refused before processing it is resent.
              if (!fifo && !AwsError.isRejectedBeforeProcessing(error)) {
                for (const attempt of failed) record(failedOutcome(attempt, error))
                return yield* Effect.fail(error)
              }
              requestFailure = error
              return Option.some([failed, error] as const)
            }
            requestFailure = undefined
            const byId = new Map(pending.map((attempt) => [String(attempt.entry.index), attempt]))
            for (const success of result.right.Successful ?? []) {
              const attempt = byId.get(success.Id ?? "")
              if (attempt === undefined) continue
              byId.delete(success.Id!)
              record({
                index: attempt.entry.index,
                id: attempt.entry.id,
                status: "sent",
                messageId: success.MessageId ?? ""
              })
            }
            const retry: Array<Attempt & { readonly error: BatchEntryError }> = []
            for (const failure of result.right.Failed ?? []) {
              const attempt = byId.get(failure.Id ?? "")
              if (attempt === undefined) continue
              byId.delete(failure.Id!)
              const error = new BatchEntryError({
                code: failure.Code ?? "Unknown",
                reason: failure.Message ?? "",
                senderFault: failure.SenderFault === true
              })
              if (error.senderFault) record(failedOutcome(attempt, error))
              else retry.push({ ...attempt, error })
            }
            // An entry the response does not mention may or may not have been sent: report it rather than risk
            // a duplicate.
            for (const { entry } of byId.values()) {
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
            const errors = retry.map(({ error }) => entryAsAwsError(error, generation))
            const worst = errors.find((error) => error._tag === "ThrottlingError") ?? errors[0]!
            return Option.some([retry, worst] as const)
          })
      ).pipe(
        Effect.map((left) => {
          // The policy or the budget gave up: what is still pending is reported with its last error.
          if (Option.isNone(left)) return Option.none<AwsError.AwsError>()
          for (const attempt of left.value[0]) record(failedOutcome(attempt, attempt.error!))
          return Option.fromNullable(requestFailure)
        }),
        Effect.catchAll((fatal) => Effect.succeed(Option.some(fatal)))
      )
    }

    const enqueueBatch = (events: Iterable<A>, batchOptions: EnqueueBatchOptions = {}) =>
      Effect.gen(function*() {
        const policy = yield* RetryPolicy.current
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
              : Effect.map(sendChunk(entries, policy, record), (failure) => {
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

    // Whether the queue has a redrive policy, so that SQS itself moves a message received too often.
    const hasRedrivePolicy = Resilience.send(
      sqs,
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["RedrivePolicy"] })
    ).pipe(Effect.map((output) => namesDeadLetterQueue(output.Attributes?.RedrivePolicy)))

    const consume = <E, R>(
      handler: (event: A, meta: MessageMeta) => Effect.Effect<unknown, E, R>,
      consumeOptions: ConsumeOptions = {}
    ): Stream.Stream<Consumed<E>, AwsError.AwsError, R> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const concurrency = Math.max(1, consumeOptions.concurrency ?? 10)
        const retrySeconds = consumeOptions.retryDelay === undefined
          ? undefined
          : clampSeconds(consumeOptions.retryDelay, 0, 43_200)
        const handlerTimeout = Duration.decode(
          consumeOptions.handlerTimeout ??
            Duration.seconds(visibilitySeconds * defaultHandlerTimeoutVisibilityTimeouts)
        )
        const deadLetterQueueUrl = consumeOptions.deadLetterQueueUrl
        const maxReceiveCount = consumeOptions.maxReceiveCount !== undefined
          ? Math.max(1, Math.floor(consumeOptions.maxReceiveCount))
          : (yield* hasRedrivePolicy)
          ? undefined
          : defaultMaxReceiveCount
        const results = yield* Mailbox.make<Consumed<E>, AwsError.AwsError>(concurrency)
        // One token per message held: a receive asks for no more messages than there are free slots.
        const slots = yield* Queue.bounded<true>(concurrency)
        yield* Queue.offerAll(slots, Array.from({ length: concurrency }, () => true as const))
        const handlers = yield* FiberSet.make<void, never>()

        // Moves a message to the dead-letter queue, if any, then deletes it. False when either failed: the message
        // comes back, and is removed on a later receive.
        const remove = (message: Message, meta: MessageMeta): Effect.Effect<boolean> =>
          Effect.gen(function*() {
            if (deadLetterQueueUrl !== undefined) {
              yield* Resilience.send(
                sqs,
                new SendMessageCommand({
                  QueueUrl: deadLetterQueueUrl,
                  MessageBody: message.Body ?? "",
                  MessageAttributes: message.MessageAttributes,
                  ...(deadLetterQueueUrl.endsWith(".fifo")
                    ? { MessageGroupId: meta.groupId ?? meta.messageId, MessageDeduplicationId: meta.messageId }
                    : {})
                })
              )
            }
            yield* Resilience.send(
              sqs,
              new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: meta.receiptHandle })
            )
            return true
          }).pipe(
            Effect.catchAll((error) =>
              Effect.as(Effect.logWarning("could not remove a message past maxReceiveCount", error.message), false)
            )
          )

        // Handles one message whose visibility `beat` renews, and settles it: deleted, removed, or made visible
        // again after `retryDelay`.
        const handle = (message: Message, beat: Fiber.RuntimeFiber<never>): Effect.Effect<Consumed<E>, never, R> =>
          Effect.gen(function*() {
            const meta = metaOf(message)
            const decoded = yield* Effect.either(codec.decode(message.Body ?? ""))
            let failure: Consumed.Failed<E> | Consumed.Undecodable | Consumed.TimedOut
            let id: string | undefined
            if (Either.isLeft(decoded)) {
              failure = { _tag: "Undecodable", messageId: meta.messageId, error: decoded.left }
            } else {
              id = safeId(decoded.right) ?? ""
              // `timeoutOption` interrupts the handler when the time is up.
              const outcome = yield* Effect.either(handler(decoded.right, meta)).pipe(
                Effect.timeoutOption(handlerTimeout)
              )
              yield* Fiber.interrupt(beat)
              if (Option.isNone(outcome)) {
                const error = new HandlerTimeoutError({ id, messageId: meta.messageId, timeout: handlerTimeout })
                failure = { _tag: "TimedOut", id, messageId: meta.messageId, error }
              } else if (Either.isLeft(outcome.value)) {
                failure = { _tag: "Failed", id, messageId: meta.messageId, error: outcome.value.left }
              } else {
                // A failed delete only means one more delivery; the handler's work is done.
                yield* Resilience.send(
                  sqs,
                  new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: meta.receiptHandle })
                ).pipe(
                  Effect.catchAll((error) => Effect.logWarning("could not delete a processed message", error.message))
                )
                return { _tag: "Processed", id, messageId: meta.messageId }
              }
            }
            yield* Fiber.interrupt(beat)
            if (
              maxReceiveCount !== undefined && meta.receiveCount >= maxReceiveCount && (yield* remove(message, meta))
            ) {
              return {
                _tag: "DeadLettered",
                ...(id !== undefined ? { id } : {}),
                messageId: meta.messageId,
                receiveCount: meta.receiveCount,
                ...(deadLetterQueueUrl !== undefined ? { deadLetterQueueUrl } : {}),
                body: message.Body ?? "",
                error: failure.error
              }
            }
            const delay = failure._tag === "TimedOut" ? retrySeconds ?? 0 : retrySeconds
            if (delay !== undefined) yield* changeVisibility(meta.receiptHandle, delay)
            return failure
          })

        // The messages of one FIFO group in one receive (or one message of a standard queue), each renewed from the
        // start and handled in order. After one that was not processed, the rest are made visible again unhandled,
        // so that SQS delivers them again after it, in order.
        const handleGroup = (messages: ReadonlyArray<Message>): Effect.Effect<void, never, R> =>
          Effect.gen(function*() {
            const beats = yield* Effect.forEach(
              messages,
              (message) => Effect.fork(heartbeat(message.ReceiptHandle ?? ""))
            )
            for (let index = 0; index < messages.length; index++) {
              const result = yield* handle(messages[index]!, beats[index]!)
              yield* results.offer(result)
              yield* Queue.offer(slots, true)
              if (result._tag === "Processed" || result._tag === "DeadLettered") continue
              yield* Effect.forEach(beats.slice(index + 1), Fiber.interrupt, { discard: true })
              for (const rest of messages.slice(index + 1)) {
                yield* changeVisibility(rest.ReceiptHandle ?? "", 0)
                const id = Option.flatMapNullable(yield* Effect.option(codec.decode(rest.Body ?? "")), safeId)
                yield* results.offer({
                  _tag: "Released",
                  ...(Option.isSome(id) ? { id: id.value } : {}),
                  messageId: rest.MessageId ?? "",
                  blockedBy: result.messageId
                })
                yield* Queue.offer(slots, true)
              }
              return
            }
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
              MessageSystemAttributeNames: [...systemAttributes],
              // Only to pass them on to the dead-letter queue.
              ...(deadLetterQueueUrl !== undefined ? { MessageAttributeNames: ["All"] } : {})
            })
          )
          const messages = output.Messages ?? []
          if (messages.length < wanted) {
            yield* Queue.offerAll(slots, Array.from({ length: wanted - messages.length }, () => true as const))
          }
          // A FIFO queue's messages by group, in the order received; a standard queue's each on its own.
          const groups = new Map<string | number, Array<Message>>()
          messages.forEach((message, index) => {
            const key = fifo ? message.Attributes?.MessageGroupId ?? index : index
            const group = groups.get(key)
            if (group === undefined) groups.set(key, [message])
            else group.push(message)
          })
          for (const group of groups.values()) {
            yield* FiberSet.run(
              handlers,
              handleGroup(group).pipe(
                // A defect in a handler is a bug: it ends the stream, as it would end any Effect.
                Effect.onError((cause) => Cause.isInterruptedOnly(cause) ? Effect.void : results.failCause(cause))
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
