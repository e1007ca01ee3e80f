/**
 * The retry budget: a token bucket shared by every call through one client, as in the SDK's standard retry
 * mode. A storm of failures drains it, and then calls stop retrying instead of multiplying the load.
 *
 * @since 0.1.0
 */
import { INITIAL_RETRY_TOKENS, NO_RETRY_INCREMENT, RETRY_COST, TIMEOUT_RETRY_COST } from "@smithy/core/retry"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as AwsError from "./AwsError.js"
import * as internal from "./internal/retryBudget.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Tokens in a full bucket. Default 500 (the SDK's `INITIAL_RETRY_TOKENS`). */
  readonly capacity?: number | undefined
  /** Cost of retrying an ordinary failure. Default 5 (`RETRY_COST`). */
  readonly retryCost?: number | undefined
  /** Cost of retrying a transient failure (timeouts, resets, 5xx). Default 10 (`TIMEOUT_RETRY_COST`). */
  readonly transientCost?: number | undefined
  /** Tokens returned by a call that succeeds at its first attempt. Default 1 (`NO_RETRY_INCREMENT`). */
  readonly successIncrement?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RetryBudget {
  /** Takes the cost of retrying `error`, or `None` when the bucket cannot pay for it. */
  readonly acquire: (error: AwsError.AwsError) => Effect.Effect<Option.Option<number>>
  /** Gives back what a successful call cost: its last retry's tokens, or the success increment. */
  readonly release: (cost: Option.Option<number>) => Effect.Effect<void>
  readonly available: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<RetryBudget> =>
  Effect.sync(() => {
    const capacity = options.capacity ?? INITIAL_RETRY_TOKENS
    const retryCost = options.retryCost ?? RETRY_COST
    const transientCost = options.transientCost ?? TIMEOUT_RETRY_COST
    const successIncrement = options.successIncrement ?? NO_RETRY_INCREMENT
    // A plain number: every change is one synchronous step, so no two fibers can interleave inside one.
    let tokens = capacity
    const refund = (n: number) => {
      tokens = Math.min(capacity, tokens + n)
    }
    const budget: RetryBudget = {
      acquire: (error) =>
        Effect.sync(() => {
          const cost = error._tag === "TransientError" ? transientCost : retryCost
          if (tokens < cost) return Option.none()
          tokens -= cost
          return Option.some(cost)
        }),
      release: (cost) => Effect.sync(() => refund(Option.getOrElse(cost, () => successIncrement))),
      available: Effect.sync(() => tokens)
    }
    return internal.withRefund(budget, () => refund(successIncrement))
  })
