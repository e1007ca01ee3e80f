/**
 * A seeded, declarative plan of faults for the gateway to inject, per service and operation.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * The services the gateway fronts.
 *
 * @since 0.1.0
 * @category models
 */
export const ServiceName = Schema.Literal("dynamodb", "sqs", "sts")

/**
 * @since 0.1.0
 * @category models
 */
export type ServiceName = typeof ServiceName.Type

/**
 * The kinds of fault the gateway can inject. `unprocessed` applies to DynamoDB `BatchWriteItem` only (the backend
 * writes the first half of each table's requests, rounding up, and the rest come back as `UnprocessedItems`); it
 * is ignored for every other operation and service.
 *
 * @since 0.1.0
 * @category models
 */
export const FaultKind = Schema.Literal(
  "throttle",
  "status500",
  "status503",
  "reset",
  "latency",
  "lostResponse",
  "unprocessed"
)

/**
 * @since 0.1.0
 * @category models
 */
export type FaultKind = typeof FaultKind.Type

/**
 * One rule: for matching requests, inject `fault` with `probability`, at most `times` times.
 *
 * @since 0.1.0
 * @category models
 */
export const FaultRule = Schema.Struct({
  service: ServiceName,
  operation: Schema.optional(Schema.NonEmptyTrimmedString),
  fault: FaultKind,
  probability: Schema.Number.pipe(Schema.between(0, 1)),
  latencyMs: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  times: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface FaultRule extends Schema.Schema.Type<typeof FaultRule> {}

/**
 * A fault plan: the seed makes the injected sequence reproducible for the same request sequence.
 *
 * @since 0.1.0
 * @category models
 */
export const FaultPlan = Schema.Struct({
  seed: Schema.Int,
  rules: Schema.Array(FaultRule)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface FaultPlan extends Schema.Schema.Type<typeof FaultPlan> {}

/**
 * The encoded (JSON) form of a fault plan.
 *
 * @since 0.1.0
 * @category models
 */
export type FaultPlanEncoded = Schema.Schema.Encoded<typeof FaultPlan>

/**
 * The plan that injects nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: FaultPlan = { seed: 0, rules: [] }

/**
 * Default latency for a `latency` rule without `latencyMs`.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultLatencyMs = 200

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0
    ? "(root)"
    : path.map((key, i) => typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`).join("")

/**
 * @since 0.1.0
 * @category type ids
 */
export const FaultPlanErrorTypeId: unique symbol = Symbol.for("@aws-resilience/testkit/FaultPlan/FaultPlanError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type FaultPlanErrorTypeId = typeof FaultPlanErrorTypeId

/**
 * A plan that does not match the schema; the message names the offending field.
 *
 * @since 0.1.0
 * @category errors
 */
export class FaultPlanError extends Data.TaggedError("FaultPlanError")<{
  readonly cause: ParseResult.ParseError
}> {
  readonly [FaultPlanErrorTypeId]: FaultPlanErrorTypeId = FaultPlanErrorTypeId
  override get message(): string {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(this.cause).map((issue) =>
      `${formatPath(issue.path)}: ${issue.message}`
    )
    return `Invalid fault plan: ${issues.join("; ")}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isFaultPlanError = (u: unknown): u is FaultPlanError => Predicate.hasProperty(u, FaultPlanErrorTypeId)

/**
 * Decodes an untrusted value (for example parsed JSON) into a plan.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (input: unknown): Effect.Effect<FaultPlan, FaultPlanError> =>
  Schema.decodeUnknown(FaultPlan, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Effect.mapError((cause) => new FaultPlanError({ cause }))
  )

/**
 * Builds a plan from typed values, still checking ranges (probability, latency, times).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (plan: FaultPlanEncoded): Effect.Effect<FaultPlan, FaultPlanError> => decode(plan)
