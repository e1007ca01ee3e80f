/**
 * An idempotent store of events described by an Effect `Schema`, one item per event id.
 *
 * `put` is a conditional write on the id, and each item counts the writes that landed on it (`writes`). When a
 * retry follows a lost response (the first write landed, its reply did not), the condition fails, the stored copy
 * is read back and compared: the same event is reported as `AlreadyStored`, a different one as an
 * `EventConflictError`. No event is ever stored twice.
 *
 * @since 0.1.0
 */
import type { AwsError } from "@aws-resilience/core"
import { AwsConfig, EventCodec } from "@aws-resilience/core"
import type { AttributeValue } from "@aws-sdk/client-dynamodb"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Pipeable from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as DynamoDB from "./DynamoDB.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/dynamodb/EventStore")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

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
 * What `put` did: `Stored` when this call wrote the event, `AlreadyStored` when an identical event was stored
 * before (a retry after a lost response, or a second put of the same event).
 *
 * @since 0.1.0
 * @category models
 */
export type PutResult = PutResult.Stored | PutResult.AlreadyStored

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace PutResult {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Stored {
    readonly _tag: "Stored"
    readonly id: string
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface AlreadyStored {
    readonly _tag: "AlreadyStored"
    readonly id: string
  }
}

/**
 * Options of `list`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  /** Items per page read from the table. Default 100. */
  readonly pageSize?: number | undefined
}

/**
 * A store of events of type `A`, one item per event id.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventStore<A> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  readonly tableName: string
  /** Validates, encodes and writes one event, at most once whatever the retries (see the module's header). */
  readonly put: (
    event: A
  ) => Effect.Effect<PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError>
  /** The event stored under `id`, read consistently. */
  readonly get: (id: string) => Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError>
  /** Every stored event, a page at a time. */
  readonly list: (options?: ListOptions) => Stream.Stream<A, EventCodec.InvalidEventError | AwsError.AwsError>
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

/**
 * @since 0.1.0
 * @category guards
 */
export const isEventStore = (u: unknown): u is EventStore<unknown> => Predicate.hasProperty(u, TypeId)

const digestOf = (body: string) => createHash("sha256").update(body).digest("base64")

/**
 * Builds a store over the DynamoDB client of the context. Nothing is read or written until it is used.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(options: Options<A, I>): Effect.Effect<EventStore<A>, never, DynamoDB.DynamoDB> =>
  Effect.map(DynamoDB.DynamoDB, (client): EventStore<A> => {
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
        const id = yield* codec.id(event)
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
          Effect.as<PutResult>({ _tag: "Stored", id }),
          Effect.catchTag("ConditionalCheckFailedError", () =>
            Effect.flatMap(readBack(id), (stored) =>
              Option.isSome(stored) && stored.value.digest?.S === digest
                ? Effect.succeed<PutResult>({ _tag: "AlreadyStored", id })
                : Effect.fail(new EventConflictError({ tableName, id })))),
          provide
        )
      }).pipe(Effect.withSpan("EventStore.put", { captureStackTrace: false }))

    const decodeItem = (item: Record<string, AttributeValue>) => codec.decode(item.body?.S ?? "")

    return {
      [TypeId]: TypeId,
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
      }).pipe(provide),
      pipe() {
        // eslint-disable-next-line prefer-rest-params -- as in Effect's own data types
        return Pipeable.pipeArguments(this, arguments)
      }
    }
  })

/**
 * Provides a store under the caller's own tag, so the event type stays typed and two stores never collide.
 *
 * @example
 * ```ts
 * import { DynamoDB, EventStore } from "@aws-resilience/dynamodb"
 * import { Context, Effect, Schema } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
 * class Orders extends Context.Tag("app/Orders")<Orders, EventStore.EventStore<typeof Order.Type>>() {}
 *
 * export const OrdersLive = EventStore.layer(Orders, { tableName: "orders", schema: Order })
 * export const program = Effect.flatMap(Orders, EventStore.put({ id: "o-1", total: 42 }))
 * // program: Effect<EventStore.PutResult, ..., Orders>, run with OrdersLive over DynamoDB.layerConfig()
 * export type Needs = DynamoDB.DynamoDB
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Self, A, I>(
  tag: Context.Tag<Self, EventStore<A>>,
  options: Options<A, I>
): Layer.Layer<Self, never, DynamoDB.DynamoDB> => Layer.effect(tag, make(options))

/**
 * Like `layer`, with any option given as a `Config`, e.g. `{ tableName: Config.string("ORDERS_TABLE"), schema }`.
 * A missing or bad value is a `ConfigurationError` naming it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = <Self, A, I>(
  tag: Context.Tag<Self, EventStore<A>>,
  options: AwsConfig.Configs<Options<A, I>> & Pick<Options<A, I>, "schema">
): Layer.Layer<Self, AwsError.ConfigurationError, DynamoDB.DynamoDB> =>
  Layer.effect(tag, Effect.flatMap(AwsConfig.read<Options<A, I>>({}, options), make))

/**
 * Stores one event: `EventStore.put(store, event)` or `Effect.flatMap(Orders, EventStore.put(order))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const put: {
  <A>(
    event: NoInfer<A>
  ): (
    self: EventStore<A>
  ) => Effect.Effect<PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError>
  <A>(
    self: EventStore<A>,
    event: NoInfer<A>
  ): Effect.Effect<PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError>
} = dual(2, <A>(self: EventStore<A>, event: A) => self.put(event))

/**
 * Reads the event stored under an id.
 *
 * @since 0.1.0
 * @category combinators
 */
export const get: {
  (
    id: string
  ): <A>(self: EventStore<A>) => Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError>
  <A>(
    self: EventStore<A>,
    id: string
  ): Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError>
} = dual(2, <A>(self: EventStore<A>, id: string) => self.get(id))

/**
 * Every stored event, a page at a time.
 *
 * @since 0.1.0
 * @category combinators
 */
export const list: {
  (
    options?: ListOptions
  ): <A>(self: EventStore<A>) => Stream.Stream<A, EventCodec.InvalidEventError | AwsError.AwsError>
  <A>(self: EventStore<A>, options?: ListOptions): Stream.Stream<A, EventCodec.InvalidEventError | AwsError.AwsError>
} = dual((args) => isEventStore(args[0]), <A>(self: EventStore<A>, options?: ListOptions) => self.list(options))
