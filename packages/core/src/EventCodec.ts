/**
 * Events as the storage and queue services carry them: validated and encoded through an Effect `Schema`, then
 * written as JSON. An event the schema rejects never reaches AWS; its error names the field.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * The schema rejected an event. `issues` names each bad field by its path.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidEventError extends Data.TaggedError("InvalidEventError")<{
  readonly direction: "encode" | "decode"
  readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }>
  readonly cause: unknown
}> {
  override get message(): string {
    const what = this.direction === "encode" ? "event rejected by its schema" : "stored event does not match its schema"
    return `${what}: ${this.issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`
  }
}

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
  /** The event's id, used as its key and its deduplication id. */
  readonly idOf: (event: A) => string
  /** Validates and encodes an event to its JSON text. */
  readonly encode: (event: A) => Effect.Effect<string, InvalidEventError>
  /** Parses and decodes JSON text back to an event. */
  readonly decode: (json: string) => Effect.Effect<A, InvalidEventError>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(
  schema: Schema.Schema<A, I>,
  idOf: (event: A) => string = (event) => (event as { readonly id: string }).id
): EventCodec<A> => {
  const encode = Schema.encodeUnknown(schema, { errors: "all", onExcessProperty: "error" })
  const decode = Schema.decodeUnknown(Schema.parseJson(schema), { errors: "all" })
  return {
    idOf,
    encode: (event) =>
      encode(event).pipe(
        Effect.map((encoded) => JSON.stringify(encoded)),
        Effect.mapError((cause) => new InvalidEventError({ direction: "encode", issues: issuesOf(cause), cause }))
      ),
    decode: (json) =>
      decode(json).pipe(
        Effect.mapError((cause) => new InvalidEventError({ direction: "decode", issues: issuesOf(cause), cause }))
      )
  }
}
