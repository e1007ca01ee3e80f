/**
 * The sending engine of `EventQueue`: `enqueue` sends one event, `enqueueBatch` sends many in batches of at most 10
 * entries and `maxMessageSize` bytes, retries only what SQS failed, and never sends an entry twice within one call.
 */
import { AwsError, type EventCodec, Resilience, RetryPolicy } from "@aws-resilience/core"
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, SendMessageCommand } from "@aws-sdk/client-sqs"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as EventQueue from "../EventQueue.js"
import { BatchEntryError, MaybeSentError, MessageTooLargeError } from "../EventQueueError.js"
import * as SQS from "../SQS.js"
import type { QueueSettings } from "./queueSettings.js"

/** An event validated, encoded and measured: ready to be an entry of a request. */
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
  { entry, reachedBy }: Pick<Attempt, "entry" | "reachedBy">,
  error: AwsError.AwsError | BatchEntryError
): EventQueue.BatchOutcome.Failed => ({
  _tag: "Failed",
  index: entry.index,
  id: entry.id,
  error: reachedBy === undefined
    ? error
    : new MaybeSentError({ cause: reachedBy, ...(error !== reachedBy ? { lastError: error } : {}) }),
  maybeSent: reachedBy !== undefined
})

// Greedy, in input order: a new batch starts at 10 entries or when the next entry would pass the byte limit.
const chunk = (entries: ReadonlyArray<Prepared>, maxBytes: number): Array<Array<Prepared>> => {
  const chunks: Array<Array<Prepared>> = []
  let current: Array<Prepared> = []
  let bytes = 0
  for (const entry of entries) {
    if (current.length === SQS.maxBatchEntries || (current.length > 0 && bytes + entry.size > maxBytes)) {
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

// An encoded event checked and measured, in one synchronous step.
const prepareEncoded = <A>(
  settings: QueueSettings<A>,
  event: A,
  body: string,
  index: number
): Either.Either<Prepared, EventCodec.InvalidEventError | MessageTooLargeError> => {
  const id = settings.codec.id(event)
  if (Either.isLeft(id)) return Either.left(id.left)
  const size = SQS.messageSize(body)
  if (size > settings.maxMessageSize) {
    return Either.left(new MessageTooLargeError({ id: id.right, size, limit: settings.maxMessageSize }))
  }
  return Either.right({ index, id: id.right, body, size, groupId: settings.fifo ? settings.groupOf(event) : undefined })
}

const prepare = <A>(
  settings: QueueSettings<A>,
  event: A,
  index: number
): Effect.Effect<Prepared, EventCodec.InvalidEventError | MessageTooLargeError> =>
  Effect.flatMap(settings.codec.encode(event), (body) => prepareEncoded(settings, event, body, index))

const fifoFields = <A>(settings: QueueSettings<A>, prepared: Prepared) =>
  settings.fifo ? { MessageGroupId: prepared.groupId, MessageDeduplicationId: prepared.id } : {}

/** Validates, encodes and sends one event; the policy retries the whole call. */
export const enqueue = <A>(settings: QueueSettings<A>) =>
(
  event: A
): Effect.Effect<EventQueue.Enqueued, EventCodec.InvalidEventError | MessageTooLargeError | AwsError.AwsError> =>
  Effect.flatMap(prepare(settings, event, 0), (prepared) =>
    Effect.map(
      Resilience.send(
        settings.sqs,
        new SendMessageCommand({
          QueueUrl: settings.queueUrl,
          MessageBody: prepared.body,
          ...fifoFields(settings, prepared)
        })
      ),
      (output): EventQueue.Enqueued => ({ id: prepared.id, messageId: output.MessageId ?? "" })
    ))

// The failure of one entry, sorted by the same classification as whole calls, so that the policy's schedule
// decides whether and when to retry it (throttling codes back off longer).
const entryAsAwsError = (error: BatchEntryError, generation: number): AwsError.AwsError =>
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
const sendChunk = <A>(
  settings: QueueSettings<A>,
  entries: ReadonlyArray<Prepared>,
  policy: RetryPolicy.Policy,
  record: (outcome: EventQueue.BatchOutcome) => void
): Effect.Effect<Option.Option<AwsError.AwsError>> => {
  const { fifo, queueUrl, sqs } = settings
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
                ...fifoFields(settings, entry)
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
        // Each entry of the request, until the response mentions it (once: a repeated id is ignored).
        const byId = new Map(pending.map((attempt) => [String(attempt.entry.index), attempt]))
        const answered = (id: string | undefined): Attempt | undefined => {
          const attempt = byId.get(id ?? "")
          byId.delete(id ?? "")
          return attempt
        }
        for (const success of result.right.Successful ?? []) {
          const attempt = answered(success.Id)
          if (attempt === undefined) continue
          record({ _tag: "Sent", index: attempt.entry.index, id: attempt.entry.id, messageId: success.MessageId ?? "" })
        }
        const retry: Array<Attempt & { readonly error: BatchEntryError }> = []
        for (const failure of result.right.Failed ?? []) {
          const attempt = answered(failure.Id)
          if (attempt === undefined) continue
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
        const generation = yield* sqs.generation
        for (const attempt of byId.values()) {
          const missing = new BatchEntryError({ code: "MissingFromResponse", reason: "", senderFault: false })
          const unknown = attempt.reachedBy ?? AwsError.fromCode(missing.code, {
            service: "sqs",
            operation: "SendMessageBatch",
            generation,
            message: "the response does not mention the entry",
            fault: "server"
          })
          record(failedOutcome({ entry: attempt.entry, reachedBy: unknown }, missing))
        }
        if (retry.length === 0) return Option.none()
        // Throttling, when any entry was throttled, so the backoff is the longer one.
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

/** Sends events in batches and reports each one at its input position; never fails as a whole. */
export const enqueueBatch = <A>(settings: QueueSettings<A>) =>
(
  events: Iterable<A>,
  options: EventQueue.EnqueueBatchOptions = {}
): Effect.Effect<Array<EventQueue.BatchOutcome>> =>
  Effect.gen(function*() {
    const policy = yield* RetryPolicy.current
    const all = Array.from(events)
    const outcomes: Array<EventQueue.BatchOutcome | undefined> = Array.from({ length: all.length }, () => undefined)
    const record = (outcome: EventQueue.BatchOutcome) => {
      outcomes[outcome.index] = outcome
    }
    const ready: Array<Prepared> = []
    for (let index = 0; index < all.length; index++) {
      const event = all[index]!
      const prepared = yield* Effect.either(prepare(settings, event, index))
      if (Either.isRight(prepared)) {
        ready.push(prepared.right)
      } else {
        const id = settings.codec.idOrUndefined(event)
        record({ _tag: "Rejected", index, ...(id !== undefined ? { id } : {}), error: prepared.left })
      }
    }
    // After a whole-request failure the policy does not retry (a missing queue, access denied, bad
    // configuration) the other batches would fail alike: they are reported with it instead of being sent.
    let fatal: AwsError.AwsError | undefined
    yield* Effect.forEach(
      chunk(ready, settings.maxMessageSize),
      (entries) =>
        fatal !== undefined
          ? Effect.sync(() => {
            for (const entry of entries) record(failedOutcome({ entry, reachedBy: undefined }, fatal!))
          })
          : Effect.map(sendChunk(settings, entries, policy, record), (failure) => {
            if (Option.isSome(failure) && !policy.isRetryable(failure.value)) fatal = failure.value
          }),
      { concurrency: options.concurrency ?? (settings.fifo ? 1 : 4), discard: true }
    )
    return outcomes as Array<EventQueue.BatchOutcome>
  })
