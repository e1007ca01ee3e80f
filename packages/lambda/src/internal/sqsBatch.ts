/**
 * The engine of `LambdaHandler.sqs`: checks that an event is an SQS event, decodes each record, handles the records
 * (at once on a standard queue; in order within a message group on a FIFO queue, a group stopping at its first
 * failure) and reports each one as data.
 */
import type { EventCodec } from "@aws-resilience/core"
import type { Context as LambdaContext, SQSEvent, SQSRecord } from "aws-lambda"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { RecordFailure, RecordOutcome } from "../LambdaHandler.js"
import { InvalidLambdaEventError, isDeadlineExceededError } from "../LambdaHandlerError.js"
import { type Deadline, withDeadline } from "./deadline.js"

/** What the engine needs of the handler's options. */
export interface BatchSettings<A, E, R> {
  readonly codec: EventCodec.EventCodec<A>
  readonly handler: (body: A, record: SQSRecord, context: LambdaContext) => Effect.Effect<unknown, E, R>
  readonly concurrency: number
  readonly minAttemptMs: number
}

// Only what the engine reads is checked; the handler is given the record as Lambda sent it.
const SqsEventShape = Schema.Struct({
  Records: Schema.Array(Schema.Struct({
    messageId: Schema.NonEmptyString,
    body: Schema.String,
    eventSource: Schema.Literal("aws:sqs"),
    eventSourceARN: Schema.String,
    attributes: Schema.optional(Schema.Struct({ MessageGroupId: Schema.optional(Schema.String) }))
  }))
})

const checkEvent = Schema.decodeUnknown(SqsEventShape)

/** The records of an SQS event, or an `InvalidLambdaEventError` naming what makes it something else. */
export const recordsOf = (event: unknown): Effect.Effect<ReadonlyArray<SQSRecord>, InvalidLambdaEventError> =>
  checkEvent(event).pipe(
    Effect.map(() => (event as SQSEvent).Records),
    Effect.mapError((cause) =>
      new InvalidLambdaEventError({
        expected: "SQS",
        issues: ParseResult.ArrayFormatter.formatErrorSync(cause).map((issue) => ({
          path: issue.path.map(String).join("."),
          message: issue.message
        })),
        cause
      })
    )
  )

/** A FIFO queue's batch: its source ARN ends in `.fifo`, or its records carry a message group. */
export const isFifo = (records: ReadonlyArray<SQSRecord>): boolean =>
  records.some((record) => record.eventSourceARN.endsWith(".fifo") || record.attributes?.MessageGroupId !== undefined)

/** The message group of a FIFO record; records without one (which SQS does not send) are kept in one group. */
export const groupOf = (record: SQSRecord): string => record.attributes?.MessageGroupId ?? ""

/** Handles the records and reports each one, in batch order. It never fails. */
export const processRecords = <A, E, R>(
  records: ReadonlyArray<SQSRecord>,
  settings: BatchSettings<A, E, R>,
  context: LambdaContext,
  deadline: Deadline
): Effect.Effect<Array<RecordOutcome<E>>, never, R> => {
  const handle = (record: SQSRecord, body: A): Effect.Effect<RecordOutcome<E>, never, R> =>
    withDeadline(Effect.suspend(() => settings.handler(body, record, context)), deadline, {
      minAttemptMs: settings.minAttemptMs,
      messageId: record.messageId
    }).pipe(
      Effect.matchCauseEffect({
        onSuccess: () => Effect.succeed<RecordOutcome<E>>({ _tag: "Processed", record }),
        onFailure: (cause): Effect.Effect<RecordOutcome<E>> => {
          const failure = Cause.failureOption(cause)
          if (Option.isSome(failure)) {
            const error = failure.value
            return Effect.succeed(
              isDeadlineExceededError(error) ? { _tag: "TimedOut", record, error } : { _tag: "Failed", record, error }
            )
          }
          const defect = Cause.dieOption(cause)
          // Only the interruption of the whole invocation is left: it is not a record's outcome.
          return Option.isSome(defect)
            ? Effect.succeed({ _tag: "Died", record, defect: defect.value })
            : Effect.failCause(cause as Cause.Cause<never>)
        }
      })
    )

  const one = (record: SQSRecord): Effect.Effect<RecordOutcome<E>, never, R> =>
    Effect.matchEffect(settings.codec.decode(record.body), {
      onFailure: (error) => Effect.succeed<RecordOutcome<E>>({ _tag: "Undecodable", record, error }),
      onSuccess: (body) => handle(record, body)
    })

  if (!isFifo(records)) return Effect.forEach(records, one, { concurrency: settings.concurrency })

  const groups = new Map<string, Array<number>>()
  records.forEach((record, index) => {
    const key = groupOf(record)
    const members = groups.get(key)
    if (members === undefined) groups.set(key, [index])
    else members.push(index)
  })
  const outcomes = new Array<RecordOutcome<E>>(records.length)
  // One message at a time within a group, in batch order; after a failure, the rest of the group is not handled.
  const group = (indices: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      let blockedBy: string | undefined
      for (const index of indices) {
        const record = records[index]!
        if (blockedBy !== undefined) {
          outcomes[index] = { _tag: "Released", record, blockedBy }
          continue
        }
        const outcome = yield* one(record)
        outcomes[index] = outcome
        if (outcome._tag !== "Processed") blockedBy = record.messageId
      }
    })
  return Effect.forEach(groups.values(), group, { concurrency: settings.concurrency, discard: true }).pipe(
    Effect.as(outcomes)
  )
}

const describe = (u: unknown): string =>
  Predicate.hasProperty(u, "message") && typeof u.message === "string" ? u.message : String(u)

/** Why a record failed, in one line. */
export const reasonOf = <E>(failure: RecordFailure<E>): string => {
  switch (failure._tag) {
    case "Failed":
    case "Undecodable":
    case "TimedOut":
      return describe(failure.error)
    case "Died":
      return `defect: ${describe(failure.defect)}`
    case "Released":
      return `not handled: message ${failure.blockedBy}, earlier in its group, failed`
  }
}

/** Logs each failed record (once, with its reason), and the records released after them in one line. */
export const logFailures = <E>(failures: ReadonlyArray<RecordFailure<E>>): Effect.Effect<void> =>
  Effect.gen(function*() {
    let released = 0
    for (const failure of failures) {
      if (failure._tag === "Released") {
        released++
        continue
      }
      yield* Effect.logWarning(`SQS message ${failure.record.messageId}: ${failure._tag}: ${reasonOf(failure)}`).pipe(
        Effect.annotateLogs({
          messageId: failure.record.messageId,
          ...(failure.record.attributes?.MessageGroupId !== undefined
            ? { messageGroupId: failure.record.attributes.MessageGroupId }
            : {})
        })
      )
    }
    if (released > 0) {
      yield* Effect.logInfo(`${released} SQS message(s) not handled after a failure earlier in their message group`)
    }
  })
