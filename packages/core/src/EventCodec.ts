/**
 * Events as the storage and queue services carry them: validated and encoded through an Effect `Schema`, then
 * written as JSON. An event the schema rejects never reaches AWS; its error names the field.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/core/EventCodec/InvalidEventError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category guards
 */
export const isInvalidEventError = (u: unknown): u is InvalidEventError => Predicate.hasProperty(u, TypeId)

/**
 * The schema rejected an event, or the event has no id. `issues` names each bad field by its path.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidEventError extends Data.TaggedError("InvalidEventError")<{
  readonly direction: "encode" | "decode"
  readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }>
  readonly cause: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    const what = this.direction === "encode" ? "event rejected" : "stored event does not match its schema"
    return `${what}: ${this.issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`
  }
}

const describeId = (id: unknown): string =>
  typeof id === "string" ? "an empty string" : id === null ? "null" : typeof id

const issuesOf = (error: ParseResult.ParseError) =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message
  }))

/**
 * @since 0.1.0
 * @category models
 */
export interface EventCodec<A> {
  /** The caller's `idOf`, unchecked. */
  readonly idOf: (event: A) => string
  /**
   * The event's id, used as its key and its deduplication id. `idOf` is the caller's code: when it throws or gives
   * anything but a non-empty string, the event is invalid (an `InvalidEventError` on the path `id`). An `Either` (an
   * effect of one step), decided when called.
   */
  readonly id: (event: A) => Either.Either<string, InvalidEventError>
  /** The event's id when it has a valid one, for reporting. */
  readonly idOrUndefined: (event: A) => string | undefined
  /** Validates and encodes an event to its JSON text. */
  readonly encode: (event: A) => Effect.Effect<string, InvalidEventError>
  /** Parses and decodes JSON text back to an event. */
  readonly decode: (json: string) => Effect.Effect<A, InvalidEventError>
}

/**
 * @example
 * ```ts
 * import { EventCodec } from "@aws-resilience/core"
 * import { Effect, Schema } from "effect"
 *
 * const codec = EventCodec.make(Schema.Struct({ id: Schema.String, total: Schema.Number }))
 * // Fails with an InvalidEventError naming `total`.
 * export const rejected = codec.encode({ id: "o-1", total: Number.NaN } as never).pipe(Effect.flip)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(
  schema: Schema.Schema<A, I>,
  idOf: (event: A) => string = (event) => (event as { readonly id: string }).id
): EventCodec<A> => {
  const encodeOptions = { errors: "all", onExcessProperty: "error" } as const
  // Synchronous first (an `Either` is an effect of one step). On any failure the effectful encoding decides, so that a
  // schema with asynchronous parts still encodes, and every failure is reported the same way.
  const encodeSync = Schema.encodeUnknownEither(schema, encodeOptions)
  const encodeAsync = Schema.encodeUnknown(schema, encodeOptions)
  const encodeError = (cause: ParseResult.ParseError) =>
    new InvalidEventError({ direction: "encode", issues: issuesOf(cause), cause })
  const decode = Schema.decodeUnknown(Schema.parseJson(schema), { errors: "all" })
  const invalidId = (message: string, cause?: unknown) =>
    new InvalidEventError({ direction: "encode", issues: [{ path: "id", message }], cause })
  const idOrUndefined = (event: A): string | undefined => {
    try {
      const id: unknown = idOf(event)
      return typeof id === "string" && id.length > 0 ? id : undefined
    } catch {
      return undefined
    }
  }
  return {
    idOf,
    idOrUndefined,
    id: (event) => {
      let id: unknown
      try {
        id = idOf(event)
      } catch (cause) {
        const text = Predicate.hasProperty(cause, "message") ? String(cause.message) : String(cause)
        return Either.left(invalidId(`idOf threw: ${text}`, cause))
      }
      return typeof id === "string" && id.length > 0
        ? Either.right(id)
        : Either.left(invalidId(`the event has no id (idOf must return a non-empty string, got ${describeId(id)})`))
    },
    encode: (event) =>
      Effect.suspend(() => {
        const encoded = encodeSync(event)
        if (Either.isRight(encoded)) return Either.right(JSON.stringify(encoded.right))
        return Effect.mapBoth(encodeAsync(event), {
          onFailure: encodeError,
          onSuccess: (value) => JSON.stringify(value)
        })
      }),
    decode: (json) =>
      decode(json).pipe(
        Effect.mapError((cause) => new InvalidEventError({ direction: "decode", issues: issuesOf(cause), cause }))
      )
  }
}
