/**
 * The errors of `EventQueue` worth their own tag: an event too large to send, an entry SQS failed in a batch, an
 * entry that may have been sent although its call failed, and a handler that ran too long. Failures of whole calls
 * stay in the core `AwsError` taxonomy, and invalid events are `EventCodec.InvalidEventError`s.
 *
 * @since 0.1.0
 */
import type { AwsError } from "@aws-resilience/core"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"

/**
 * Brands the errors of this module, so that they are recognised by `isEventQueueError` rather than by `instanceof`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/sqs/EventQueueError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

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
  readonly [TypeId]: TypeId = TypeId
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
  readonly [TypeId]: TypeId = TypeId
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
  readonly [TypeId]: TypeId = TypeId
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
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `the handler of event ${this.id} (message ${this.messageId}) did not end within ` +
      `${Duration.format(this.timeout)}; it was interrupted and the message released`
  }
}

/**
 * Any error of this module.
 *
 * @since 0.1.0
 * @category models
 */
export type EventQueueError = MessageTooLargeError | BatchEntryError | MaybeSentError | HandlerTimeoutError

/**
 * True for any error of this module.
 *
 * @since 0.1.0
 * @category guards
 */
export const isEventQueueError = (u: unknown): u is EventQueueError => Predicate.hasProperty(u, TypeId)

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
