/**
 * An idempotent store of events described by an Effect `Schema`, one item per event id.
 *
 * `put` is a conditional write on the id, and each item counts the writes that landed on it (`writes`). When a retry follows a lost response (the first write landed, its
 * reply did not), the condition fails, the stored copy is read back and compared: the same event is reported as
 * `{ stored: "already" }`, a different one as an `EventConflictError`. No event is ever stored twice.
 *
 * @since 0.1.0
 */
import type { AwsError } from "@aws-resilience/core"
import { EventCodec } from "@aws-resilience/core"
import type { AttributeValue } from "@aws-sdk/client-dynamodb"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as DynamoDB from "./DynamoDB.js"

/**
 * Brands the store's errors, so that they are recognised by their guards rather than by `instanceof`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = Symbol.for("@aws-resilience/dynamodb/EventStore/Error")

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * Another event is already stored under this id.
 *
 * @since 0.1.0
 * @category errors
 */
export class EventConflictError extends Data.TaggedError("EventConflictError")<{
  readonly tableName: string
  readonly id: string
}> {
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.tableName}: a different event is already stored under id ${this.id}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isEventConflictError = (u: unknown): u is EventConflictError =>
  Predicate.hasProperty(u, ErrorTypeId) && Predicate.isTagged(u, "EventConflictError")

/**
 * @since 0.1.0
 * @category models
 */
export interface PutResult {
  readonly id: string
  /** `new` when this call wrote the event, `already` when an identical event was stored before. */
  readonly stored: "new" | "already"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface EventStore<A> {
  readonly tableName: string
  put(event: A): Effect.Effect<PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError>
  get(id: string): Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError>
  /** Every stored event, a page at a time. */
  list(options?: { readonly pageSize?: number }): Stream.Stream<A, EventCodec.InvalidEventError | AwsError.AwsError>
  /** Creates the table (on-demand capacity) for development and tests. */
  readonly ensureTable: Effect.Effect<void, AwsError.AwsError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I> {
  readonly tableName: string
  readonly schema: Schema.Schema<A, I>
  /**
   * The event's id. Default: its `id` field. When it throws or returns anything but a non-empty string, `put` fails
   * with an `InvalidEventError` on the path `id`.
   */
  readonly idOf?: ((event: A) => string) | undefined
}

const digestOf = (body: string) => createHash("sha256").update(body).digest("base64")

const invalidId = (message: string, cause?: unknown) =>
  new EventCodec.InvalidEventError({ direction: "encode", issues: [{ path: "id", message }], cause })

const describeId = (id: unknown): string =>
  typeof id === "string" ? "an empty string" : id === null ? "null" : typeof id

// `idOf` is the caller's code: a throw or a missing id makes a bad event, not a defect.
const idOfEvent = <A>(codec: EventCodec.EventCodec<A>, event: A): Effect.Effect<string, EventCodec.InvalidEventError> =>
  Effect.try({
    try: (): unknown => codec.idOf(event),
    catch: (cause) =>
      invalidId(`idOf threw: ${Predicate.hasProperty(cause, "message") ? String(cause.message) : String(cause)}`, cause)
  }).pipe(
    Effect.filterOrFail(
      (id): id is string => typeof id === "string" && id.length > 0,
      (id) => invalidId(`the event has no id (idOf must return a non-empty string, got ${describeId(id)})`)
    )
  )

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(options: Options<A, I>): Effect.Effect<EventStore<A>, never, DynamoDB.DynamoDB> =>
  Effect.map(DynamoDB.DynamoDB, (client) => {
    const codec = EventCodec.make(options.schema, options.idOf)
    const { tableName } = options
    const provide = Effect.provideService(DynamoDB.DynamoDB, client)
    const keyOf = (id: string): Record<string, AttributeValue> => ({ id: { S: id } })

    const readBack = (id: string) =>
      DynamoDB.getItem({ TableName: tableName, Key: keyOf(id), ConsistentRead: true }).pipe(
        Effect.map((r) => Option.fromNullable(r.Item)),
        provide
      )

    const put = (event: A) =>
      Effect.gen(function*() {
        const body = yield* codec.encode(event)
        const id = yield* idOfEvent(codec, event)
        const digest = digestOf(body)
        const at = new Date(yield* Clock.currentTimeMillis).toISOString()
        // A conditional update rather than a put: `writes` counts the writes that landed, so a second copy
        // (an unconditional retry after a lost response) would be visible as `writes > 1`.
        return yield* DynamoDB.updateItem({
          TableName: tableName,
          Key: keyOf(id),
          UpdateExpression: "SET body = :body, digest = :digest, storedAt = :at ADD writes :one",
          ConditionExpression: "attribute_not_exists(id)",
          ExpressionAttributeValues: {
            ":body": { S: body },
            ":digest": { S: digest },
            ":at": { S: at },
            ":one": { N: "1" }
          }
        }).pipe(
          Effect.as<PutResult>({ id, stored: "new" }),
          Effect.catchTag("ConditionalCheckFailedError", () =>
            Effect.flatMap(readBack(id), (stored) =>
              Option.isSome(stored) && stored.value.digest?.S === digest
                ? Effect.succeed<PutResult>({ id, stored: "already" })
                : Effect.fail(new EventConflictError({ tableName, id })))),
          provide
        )
      }).pipe(Effect.withSpan("EventStore.put", { captureStackTrace: false }))

    const decodeItem = (item: Record<string, AttributeValue>) => codec.decode(item.body?.S ?? "")

    return {
      tableName,
      put,
      get: (id) =>
        Effect.flatMap(readBack(id), (item) =>
          Option.match(item, {
            onNone: () => Effect.succeed(Option.none()),
            onSome: (found) => Effect.map(decodeItem(found), Option.some)
          })),
      list: (listOptions) =>
        Stream.paginateChunkEffect(undefined as Record<string, AttributeValue> | undefined, (start) =>
          DynamoDB.scan({
            TableName: tableName,
            Limit: listOptions?.pageSize ?? 100,
            ...(start ? { ExclusiveStartKey: start } : {})
          }).pipe(
            provide,
            Effect.flatMap((page) =>
              Effect.map(Effect.forEach(page.Items ?? [], decodeItem), (events) =>
                [Chunk.unsafeFromArray(events), Option.fromNullable(page.LastEvaluatedKey)] as const)
            )
          )),
      ensureTable: DynamoDB.ensureTable({
        TableName: tableName,
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST"
      }).pipe(provide)
    } satisfies EventStore<A>
  })

/**
 * Provides a store under the caller's own tag, e.g.
 * `class Orders extends Context.Tag("app/Orders")<Orders, EventStore.EventStore<Order>>() {}`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Self, A, I>(
  tag: Context.Tag<Self, EventStore<A>>,
  options: Options<A, I>
): Layer.Layer<Self, never, DynamoDB.DynamoDB> => Layer.effect(tag, make(options))
