/**
 * The consumer loop of `EventQueue.consume`: receives no more messages than it has free slots, handles each with
 * bounded concurrency (one message at a time, in order, within a FIFO group), keeps it invisible while its handler
 * runs, bounds how long it runs, deletes it on success, removes it once it has failed too often, and reports every
 * outcome.
 */
import type { AwsError } from "@aws-resilience/core"
import { Resilience } from "@aws-resilience/core"
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand
} from "@aws-sdk/client-sqs"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type * as EventQueue from "../EventQueue.js"
import { HandlerTimeoutError } from "../EventQueueError.js"
import * as SQS from "../SQS.js"
import { clampSeconds, type QueueSettings } from "./queueSettings.js"

/** See `EventQueue.defaultMaxReceiveCount`. */
export const defaultMaxReceiveCount = 10

/** See `EventQueue.defaultHandlerTimeoutVisibilityTimeouts`. */
export const defaultHandlerTimeoutVisibilityTimeouts = 3

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

const metaOf = (message: Message): EventQueue.MessageMeta => {
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

const deleteMessage = <A>(settings: QueueSettings<A>, receiptHandle: string) =>
  Resilience.send(
    settings.sqs,
    new DeleteMessageCommand({ QueueUrl: settings.queueUrl, ReceiptHandle: receiptHandle })
  )

const changeVisibility = <A>(settings: QueueSettings<A>, receiptHandle: string, seconds: number): Effect.Effect<void> =>
  Resilience.send(
    settings.sqs,
    new ChangeMessageVisibilityCommand({
      QueueUrl: settings.queueUrl,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: seconds
    })
  ).pipe(
    Effect.catchAll((error) => Effect.logWarning("could not change the visibility of a message", error.message))
  )

// Renews the visibility every half timeout, until interrupted when the handler ends.
const heartbeat = <A>(settings: QueueSettings<A>, receiptHandle: string): Effect.Effect<never> =>
  Effect.sleep(Duration.millis(settings.visibilitySeconds * 500)).pipe(
    Effect.zipRight(changeVisibility(settings, receiptHandle, settings.visibilitySeconds)),
    Effect.forever
  )

// Whether the queue has a redrive policy, so that SQS itself moves a message received too often.
const hasRedrivePolicy = <A>(settings: QueueSettings<A>): Effect.Effect<boolean, AwsError.AwsError> =>
  Resilience.send(
    settings.sqs,
    new GetQueueAttributesCommand({ QueueUrl: settings.queueUrl, AttributeNames: ["RedrivePolicy"] })
  ).pipe(Effect.map((output) => namesDeadLetterQueue(output.Attributes?.RedrivePolicy)))

/** Receives, decodes and handles messages until interrupted, as a stream of one outcome per message. */
export const consume = <A>(settings: QueueSettings<A>) =>
<E, R>(
  handler: (event: A, meta: EventQueue.MessageMeta) => Effect.Effect<unknown, E, R>,
  options: EventQueue.ConsumeOptions = {}
): Stream.Stream<EventQueue.Consumed<E>, AwsError.AwsError, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const { codec, fifo, queueUrl, sqs, visibilitySeconds, waitSeconds } = settings
    const concurrency = Math.max(1, options.concurrency ?? 10)
    const retrySeconds = options.retryDelay === undefined
      ? undefined
      : clampSeconds(options.retryDelay, 0, 43_200)
    const handlerTimeout = Duration.decode(
      options.handlerTimeout ??
        Duration.seconds(visibilitySeconds * defaultHandlerTimeoutVisibilityTimeouts)
    )
    const deadLetterQueueUrl = options.deadLetterQueueUrl
    const maxReceiveCount = options.maxReceiveCount !== undefined
      ? Math.max(1, Math.floor(options.maxReceiveCount))
      : (yield* hasRedrivePolicy(settings))
      ? undefined
      : defaultMaxReceiveCount
    const results = yield* Mailbox.make<EventQueue.Consumed<E>, AwsError.AwsError>(concurrency)
    // One token per message held: a receive asks for no more messages than there are free slots.
    const slots = yield* Queue.bounded<true>(concurrency)
    yield* Queue.offerAll(slots, Array.from({ length: concurrency }, () => true as const))
    const handlers = yield* FiberSet.make<void, never>()

    // Moves a message to the dead-letter queue, if any, then deletes it. False when either failed: the message
    // comes back, and is removed on a later receive.
    const remove = (message: Message, meta: EventQueue.MessageMeta): Effect.Effect<boolean> =>
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
        yield* deleteMessage(settings, meta.receiptHandle)
        return true
      }).pipe(
        Effect.catchAll((error) =>
          Effect.as(Effect.logWarning("could not remove a message past maxReceiveCount", error.message), false)
        )
      )

    // Handles one message whose visibility `beat` renews, and settles it: deleted, removed, or made visible
    // again after `retryDelay`.
    const handle = (
      message: Message,
      beat: Fiber.RuntimeFiber<never>
    ): Effect.Effect<EventQueue.Consumed<E>, never, R> =>
      Effect.gen(function*() {
        const meta = metaOf(message)
        const decoded = yield* Effect.either(codec.decode(message.Body ?? ""))
        let failure: EventQueue.Consumed.Failed<E> | EventQueue.Consumed.Undecodable | EventQueue.Consumed.TimedOut
        let id: string | undefined
        if (Either.isLeft(decoded)) {
          failure = { _tag: "Undecodable", messageId: meta.messageId, error: decoded.left }
        } else {
          id = codec.idOrUndefined(decoded.right) ?? ""
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
            yield* deleteMessage(settings, meta.receiptHandle).pipe(
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
        if (delay !== undefined) yield* changeVisibility(settings, meta.receiptHandle, delay)
        return failure
      })

    // The messages of one FIFO group in one receive (or one message of a standard queue), each renewed from the
    // start and handled in order. After one that was not processed, the rest are made visible again unhandled,
    // so that SQS delivers them again after it, in order.
    const handleGroup = (messages: ReadonlyArray<Message>): Effect.Effect<void, never, R> =>
      Effect.gen(function*() {
        const beats = yield* Effect.forEach(
          messages,
          (message) => Effect.fork(heartbeat(settings, message.ReceiptHandle ?? ""))
        )
        for (let index = 0; index < messages.length; index++) {
          const result = yield* handle(messages[index]!, beats[index]!)
          yield* results.offer(result)
          yield* Queue.offer(slots, true)
          if (result._tag === "Processed" || result._tag === "DeadLettered") continue
          yield* Effect.forEach(beats.slice(index + 1), Fiber.interrupt, { discard: true })
          for (const rest of messages.slice(index + 1)) {
            yield* changeVisibility(settings, rest.ReceiptHandle ?? "", 0)
            const id = Option.flatMapNullable(yield* Effect.option(codec.decode(rest.Body ?? "")), codec.idOrUndefined)
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
      const extra = yield* Queue.takeUpTo(slots, SQS.maxBatchEntries - 1)
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
