/**
 * The invocation's deadline, and the retry policy bounded by it: a retry whose delay would end too close to the
 * deadline for an attempt to finish is not started, and credential recovery waits until the deadline (less an
 * attempt's time) rather than its own timeout.
 */
import { type AwsError, RetryPolicy } from "@aws-resilience/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import { DeadlineExceededError, isDeadlineExceededError } from "../LambdaHandlerError.js"

/** When an invocation must be done by, on the clock of the runtime that runs it. */
export interface Deadline {
  /** Clock time in ms. */
  readonly at: number
  /** The remaining time at the start of the invocation, minus the margin. */
  readonly budgetMs: number
  readonly awsRequestId: string
}

/** What the bounded schedules of one call saw. */
interface Watch {
  /** The retry that was not started, if any. */
  stop: { readonly error: AwsError.AwsError; readonly delayMs: number; readonly leftMs: number } | undefined
  /** The last error any schedule saw. */
  last: AwsError.AwsError | undefined
}

interface State {
  readonly inner: unknown
  /** When the last retry this schedule allowed was due to start. */
  readonly retryAt: number | undefined
  /** The longest retry so far, measured from its start to its failure. */
  readonly longest: number
}

/**
 * `schedule`, stopped when its next delay would end less than an attempt's time before the deadline. An attempt is
 * expected to take `minAttemptMs`, or as long as the longest retry of this call so far.
 */
const bounded = (
  schedule: Schedule.Schedule<unknown, AwsError.AwsError>,
  deadline: Deadline,
  minAttemptMs: number,
  watch: Watch
): Schedule.Schedule<unknown, AwsError.AwsError> =>
  Schedule.makeWithState<State, AwsError.AwsError, unknown>(
    { inner: schedule.initial, retryAt: undefined, longest: 0 },
    (now, error, state) => {
      watch.last = error
      const longest = state.retryAt === undefined ? state.longest : Math.max(state.longest, now - state.retryAt)
      return Effect.map(schedule.step(now, error, state.inner), ([inner, out, decision]) => {
        if (ScheduleDecision.isDone(decision)) return [{ inner, retryAt: state.retryAt, longest }, out, decision]
        const retryAt = ScheduleIntervals.start(decision.intervals)
        if (retryAt + Math.max(minAttemptMs, longest) > deadline.at) {
          watch.stop = { error, delayMs: Math.max(0, retryAt - now), leftMs: Math.max(0, deadline.at - now) }
          return [{ inner, retryAt, longest }, out, ScheduleDecision.done]
        }
        return [{ inner, retryAt, longest }, out, decision]
      })
    }
  )

/**
 * Runs `self` by the deadline: with the retry policy in context (or the standard one) bounded by it, and
 * interrupted at it. A failure after a retry was refused for the deadline becomes a `DeadlineExceededError`
 * carrying the error that was not retried.
 */
export const withDeadline = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  deadline: Deadline,
  options: { readonly minAttemptMs: number; readonly messageId?: string | undefined }
): Effect.Effect<A, E | DeadlineExceededError, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const fields = { awsRequestId: deadline.awsRequestId, budgetMs: deadline.budgetMs, messageId: options.messageId }
    if (now >= deadline.at) return Effect.fail(new DeadlineExceededError({ ...fields, reason: "notStarted" }))
    return Effect.flatMap(RetryPolicy.current, (policy) => {
      const watch: Watch = { stop: undefined, last: undefined }
      const schedule = bounded(policy.schedule, deadline, options.minAttemptMs, watch)
      return self.pipe(
        // Credential recovery waits until the deadline, less an attempt's time, instead of its own timeout.
        RetryPolicy.with({ ...policy, schedule, credentialsDeadline: deadline.at - options.minAttemptMs }),
        Effect.timeoutFail({
          duration: Duration.millis(deadline.at - now),
          onTimeout: () => new DeadlineExceededError({ ...fields, reason: "running", lastError: watch.last })
        }),
        Effect.mapError((error) =>
          watch.stop === undefined || isDeadlineExceededError(error) ? error : new DeadlineExceededError({
            ...fields,
            reason: "retry",
            lastError: watch.stop.error,
            delayMs: watch.stop.delayMs,
            leftMs: watch.stop.leftMs,
            cause: error
          })
        )
      )
    })
  })
