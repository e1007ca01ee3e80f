/**
 * The DynamoDB errors worth their own tag: a failed condition, and a cancelled transaction with its reasons.
 * Everything else stays in the core `AwsError` taxonomy.
 *
 * @since 0.1.0
 */
import { AwsError } from "@aws-resilience/core"
import type { AttributeValue, CancellationReason } from "@aws-sdk/client-dynamodb"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"

/**
 * Brands the errors of this module, so that they are recognised by `isDynamoDBError` rather than by `instanceof`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/dynamodb/DynamoDBError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A `ConditionExpression` was false. `item` is the stored item when the request asked for it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConditionalCheckFailedError extends Data.TaggedError("ConditionalCheckFailedError")<{
  readonly operation: string
  readonly item?: Record<string, AttributeValue> | undefined
  readonly cause: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `dynamodb.${this.operation}: the conditional request failed`
  }
}

/**
 * One entry of a cancelled transaction: why its action was cancelled (`None` when it was not the cause).
 *
 * @since 0.1.0
 * @category models
 */
export interface CancellationReasonInfo {
  readonly index: number
  readonly code: string
  readonly message?: string | undefined
  readonly item?: Record<string, AttributeValue> | undefined
}

/**
 * A transaction was cancelled. `reasons` has one entry per action, in request order.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionCanceledError extends Data.TaggedError("TransactionCanceledError")<{
  readonly reasons: ReadonlyArray<CancellationReasonInfo>
  readonly cause: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    const causes = this.reasons.filter((r) => r.code !== "None").map((r) => `#${r.index} ${r.code}`)
    return `dynamodb.TransactWriteItems: transaction cancelled (${causes.join(", ") || "no reason given"})`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export type DynamoDBError = ConditionalCheckFailedError | TransactionCanceledError

/**
 * @since 0.1.0
 * @category guards
 */
export const isDynamoDBError = (u: unknown): u is DynamoDBError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isConditionalCheckFailedError = (u: unknown): u is ConditionalCheckFailedError =>
  isDynamoDBError(u) && u._tag === "ConditionalCheckFailedError"

/**
 * @since 0.1.0
 * @category guards
 */
export const isTransactionCanceledError = (u: unknown): u is TransactionCanceledError =>
  isDynamoDBError(u) && u._tag === "TransactionCanceledError"

const decodeReasons = (reasons: ReadonlyArray<CancellationReason> | undefined): ReadonlyArray<CancellationReasonInfo> =>
  (reasons ?? []).map((reason, index) => ({
    index,
    code: reason.Code ?? "None",
    message: reason.Message,
    item: reason.Item
  }))

/**
 * Lifts `ConditionalCheckFailedException` out of a `ServiceError`; other failures pass through.
 *
 * @since 0.1.0
 * @category combinators
 */
export const refineCondition = <A, R>(
  effect: Effect.Effect<A, AwsError.AwsError, R>
): Effect.Effect<A, AwsError.AwsError | ConditionalCheckFailedError, R> =>
  Effect.catchIf(
    effect,
    (error): error is AwsError.ServiceError => AwsError.hasCode(error, "ConditionalCheckFailedException"),
    (error) =>
      Effect.fail(
        new ConditionalCheckFailedError({
          operation: error.operation,
          item: (error.cause as { Item?: Record<string, AttributeValue> } | undefined)?.Item,
          cause: error
        })
      )
  )

/**
 * Lifts `TransactionCanceledException`, with its decoded reasons, out of a `ServiceError`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const refineTransaction = <A, R>(
  effect: Effect.Effect<A, AwsError.AwsError, R>
): Effect.Effect<A, AwsError.AwsError | TransactionCanceledError, R> =>
  Effect.catchIf(
    effect,
    (error): error is AwsError.ServiceError => AwsError.hasCode(error, "TransactionCanceledException"),
    (error) =>
      Effect.fail(
        new TransactionCanceledError({
          reasons: decodeReasons(
            (error.cause as { CancellationReasons?: Array<CancellationReason> } | undefined)?.CancellationReasons
          ),
          cause: error
        })
      )
  )
