/**
 * The hot path's refund of a retry budget: `release(Option.none())` in place, for a call that succeeded at its
 * first attempt, without an effect.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as RetryBudget from "../RetryBudget.js"

const RefundId: unique symbol = Symbol.for("@aws-resilience/core/internal/retryBudget/refund")

/** `budget`, with its in-place refund of a success attached where only this project's code sees it. */
export const withRefund = (budget: RetryBudget.RetryBudget, refund: () => void): RetryBudget.RetryBudget =>
  Object.defineProperty(budget, RefundId, { value: refund, enumerable: false })

/** Gives back a success's tokens: in place for a budget made by `RetryBudget.make`, as an effect otherwise. */
export const refundSuccess = (budget: RetryBudget.RetryBudget): void => {
  const refund = (budget as { readonly [RefundId]?: () => void })[RefundId]
  if (refund !== undefined) refund()
  else Effect.runSync(budget.release(Option.none()))
}
