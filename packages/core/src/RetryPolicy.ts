/**
 * A retry policy: an Effect `Schedule` over `AwsError` plus the predicate that says what is worth retrying.
 * The default mirrors the SDK's standard mode, with its numbers taken from `@smithy/core/retry`.
 *
 * @since 0.1.0
 */
import {
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_RETRY_DELAY_BASE,
  MAXIMUM_RETRY_DELAY,
  THROTTLING_RETRY_DELAY_BASE
} from "@smithy/core/retry"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as AwsConfig from "./AwsConfig.js"
import type * as AwsError from "./AwsError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Attempts in total, the first included. Default 3, or `AWS_MAX_ATTEMPTS` with `layerConfig`. */
  readonly maxAttempts?: number | undefined
  /** Base of the exponential backoff. Default 100 ms. */
  readonly baseDelay?: Duration.DurationInput | undefined
  /** Base of the backoff after throttling. Default 500 ms. */
  readonly throttlingBaseDelay?: Duration.DurationInput | undefined
  /** Cap on one delay. Default 20 s. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** What is retried. Default: credentials, throttling and transient failures. */
  readonly isRetryable?: ((error: AwsError.AwsError) => boolean) | undefined
  /**
   * How long one call may wait for usable credentials after it first meets credential trouble (a rejected set, a
   * withdrawn request, the provider failing). Meanwhile every retry after a `CredentialsError` waits for a newer set
   * (or, for a set AWS never accepted, tries it again), polled from the source with backoff, and uses none of
   * `maxAttempts`: a rotation is not the service failing. Then the call fails with a `CredentialsError` saying what
   * was tried. Default 10 seconds; inside a `LambdaHandler`, the invocation's deadline.
   */
  readonly credentialsTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  readonly maxAttempts: number
  readonly isRetryable: (error: AwsError.AwsError) => boolean
  /** Decides whether and when to retry, given the error of the last attempt. */
  readonly schedule: Schedule.Schedule<unknown, AwsError.AwsError>
  /** The largest delay before retry number `retry` (0-based) after `error`. */
  readonly maxDelayBefore: (retry: number, error: AwsError.AwsError) => Duration.Duration
  /** How long, in ms, a call may wait for usable credentials after its first credentials failure. */
  readonly credentialsTimeoutMillis: number
  /** A clock time (ms) by which credential recovery must end whatever `credentialsTimeoutMillis` says. */
  readonly credentialsDeadline?: number | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class RetryPolicy extends Context.Tag("@aws-resilience/core/RetryPolicy")<RetryPolicy, Policy>() {}

/**
 * Credentials, throttling and transient failures are retried; access denied, other service errors and
 * configuration errors fail at once.
 *
 * @since 0.1.0
 * @category predicates
 */
export const defaultIsRetryable = (error: AwsError.AwsError): boolean =>
  error._tag === "CredentialsError" || error._tag === "ThrottlingError" || error._tag === "TransientError"

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Policy => {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
  const base = Duration.toMillis(options.baseDelay ?? Duration.millis(DEFAULT_RETRY_DELAY_BASE))
  const throttlingBase = Duration.toMillis(options.throttlingBaseDelay ?? Duration.millis(THROTTLING_RETRY_DELAY_BASE))
  const cap = Duration.toMillis(options.maxDelay ?? Duration.millis(MAXIMUM_RETRY_DELAY))
  const isRetryable = options.isRetryable ?? defaultIsRetryable
  const maxDelayBefore = (retry: number, error: AwsError.AwsError) =>
    Duration.millis(Math.min(cap, (error._tag === "ThrottlingError" ? throttlingBase : base) * 2 ** retry))
  // Full jitter: a uniform delay in [0, min(cap, base * 2^retry)). Random is Effect's, so TestRandom drives it.
  const schedule = Schedule.identity<AwsError.AwsError>().pipe(
    Schedule.intersect(Schedule.recurs(Math.max(0, maxAttempts - 1))),
    Schedule.whileInput(isRetryable),
    Schedule.addDelayEffect(([error, retry]) =>
      Effect.map(Random.next, (r) => Duration.millis(Math.floor(r * Duration.toMillis(maxDelayBefore(retry, error)))))
    ),
    Schedule.map(([error]) => error)
  )
  const credentialsTimeoutMillis = Duration.toMillis(options.credentialsTimeout ?? "10 seconds")
  return { maxAttempts, isRetryable, schedule, maxDelayBefore, credentialsTimeoutMillis }
}

/**
 * The SDK's standard mode: 3 attempts, full-jitter exponential backoff from 100 ms (500 ms after throttling),
 * capped at 20 s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const standard: Policy = make()

/**
 * Provides a policy to every call below it; without one, calls use the standard mode with `AWS_MAX_ATTEMPTS`. A
 * duration that is not one (`NaN`, negative, a string that does not parse) fails the layer with a
 * `ConfigurationError` naming the option.
 *
 * @example
 * ```ts
 * import { AwsError, RetryPolicy } from "@aws-resilience/core"
 *
 * // Five attempts, and never retry a request that may have been processed.
 * export const Cautious = RetryPolicy.layer({
 *   maxAttempts: 5,
 *   isRetryable: (error) => RetryPolicy.defaultIsRetryable(error) && AwsError.isRejectedBeforeProcessing(error)
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<RetryPolicy, AwsError.ConfigurationError> =>
  Layer.effect(RetryPolicy, validated(options))

// `make`, with the durations checked: a bad one is a `ConfigurationError` naming it.
const validated = (options: Options): Effect.Effect<Policy, AwsError.ConfigurationError> =>
  Effect.map(
    Effect.all([
      AwsConfig.validateDuration(options.credentialsTimeout ?? "10 seconds", "RetryPolicy credentialsTimeout"),
      AwsConfig.validateDuration(options.baseDelay ?? 0, "RetryPolicy baseDelay"),
      AwsConfig.validateDuration(options.throttlingBaseDelay ?? 0, "RetryPolicy throttlingBaseDelay"),
      AwsConfig.validateDuration(options.maxDelay ?? 0, "RetryPolicy maxDelay")
    ]),
    () => make(options)
  )

/**
 * `layer` with its options as `Config`s; `maxAttempts` defaults to `AWS_MAX_ATTEMPTS`. A malformed value is a
 * `ConfigurationError` naming it. `AWS_RETRY_MODE` other than `standard` is logged: this policy is the standard
 * mode (the adaptive mode's client-side rate limiter is not implemented).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: AwsConfig.Configs<Options> = {}
): Layer.Layer<RetryPolicy, AwsError.ConfigurationError> =>
  Layer.effect(
    RetryPolicy,
    Effect.gen(function*() {
      const mode = yield* AwsConfig.read({ mode: AwsConfig.retryMode }, {})
      if (mode.mode !== "standard") {
        yield* Effect.logWarning(`AWS_RETRY_MODE=${mode.mode}: retries follow the standard mode`)
      }
      return yield* validated(yield* AwsConfig.read<Options>({ maxAttempts: AwsConfig.maxAttempts }, options))
    })
  )

/**
 * Narrows a policy to the errors that also satisfy `predicate`, keeping its backoff and attempts. For writes that
 * must not be repeated once they may have landed: `restrict(policy, AwsError.isRejectedBeforeProcessing)`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const restrict = (policy: Policy, predicate: (error: AwsError.AwsError) => boolean): Policy => ({
  ...policy,
  isRetryable: (error) => policy.isRetryable(error) && predicate(error),
  schedule: Schedule.whileInput(policy.schedule, predicate)
})

// One policy per distinct `AWS_MAX_ATTEMPTS`, so the slow path does not rebuild the schedule on every failure.
const byMaxAttempts = new Map<number, Policy>([[DEFAULT_MAX_ATTEMPTS, standard]])
const withMaxAttempts = (maxAttempts: number): Policy => {
  let policy = byMaxAttempts.get(maxAttempts)
  if (policy === undefined) {
    policy = make({ maxAttempts })
    byMaxAttempts.set(maxAttempts, policy)
  }
  return policy
}

/**
 * The policy in context, or else the standard mode with `AwsConfig.maxAttempts` (`AWS_MAX_ATTEMPTS`, read through
 * the current `ConfigProvider`). A malformed value falls back to 3 here; `layerConfig` makes it a
 * `ConfigurationError`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Policy> = Effect.flatMap(
  Effect.serviceOption(RetryPolicy),
  Option.match({
    onSome: Effect.succeed,
    onNone: () =>
      AwsConfig.maxAttempts.pipe(Effect.orElseSucceed(() => DEFAULT_MAX_ATTEMPTS), Effect.map(withMaxAttempts))
  })
)

/**
 * Runs `self` with `policy` for every call inside it, in place of the policy in context: a per-call setting.
 *
 * @example
 * ```ts
 * import { RetryPolicy } from "@aws-resilience/core"
 * import { Effect } from "effect"
 *
 * const once = RetryPolicy.make({ maxAttempts: 1 })
 * export const probe = (call: Effect.Effect<string>) => call.pipe(RetryPolicy.with(once))
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
const with_: {
  (policy: Policy): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, policy: Policy): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, policy: Policy) => Effect.provideService(self, RetryPolicy, policy))

export {
  /**
   * Runs `self` with `policy` for every call inside it, in place of the policy in context: a per-call setting.
   *
   * @since 0.2.0
   * @category combinators
   */
  with_ as with
}
