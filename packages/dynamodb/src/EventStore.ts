/**
 * An idempotent store of events described by an Effect `Schema`, one item per key: by default the table is keyed
 * by `id`, the event id, and the item holds the encoded event as JSON (`body`); `key` and `layout` fit the store
 * to a table the user already has (a `pk`/`sk` key derived from the event, its fields as native attributes).
 *
 * `put` is a conditional write on the key, and each item counts the writes that landed on it (`writes`). When a
 * retry follows a lost response (the first write landed, its reply did not), the condition fails, the stored copy
 * is read back and compared: the same event is reported as `AlreadyStored`, a different one as an
 * `EventConflictError`. No event is ever stored twice, whatever the layout.
 *
 * @since 0.1.0
 */
import { AwsConfig } from "@aws-resilience/core"
import type { AwsError, EventCodec } from "@aws-resilience/core"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Pipeable from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as DynamoDB from "./DynamoDB.js"
import type * as EventStoreError from "./EventStoreError.js"
import * as eventReads from "./internal/eventReads.js"
import * as eventWrites from "./internal/eventWrites.js"
import * as itemLayout from "./internal/itemLayout.js"

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
 * The error of a write that finds another event under the key; also `EventStoreError.EventConflictError`.
 *
 * @since 0.1.0
 * @category errors
 */
export { EventConflictError } from "./EventStoreError.js"

/**
 * Also `EventStoreError.isEventConflictError`.
 *
 * @since 0.1.0
 * @category guards
 */
export { isEventConflictError } from "./EventStoreError.js"

/**
 * What `put` did: `Stored` when this call wrote the event, `AlreadyStored` when an identical event was stored
 * before (a retry after a lost response, or a second put of the same event). `id` is the event id.
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
 * An item's primary key as `getByKey` takes it: the values of the partition key and, when the table has one, of
 * the sort key, as stored (e.g. `{ partition: "ORDER#o-1", sort: "v1" }`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Key {
  readonly partition: string | number
  readonly sort?: string | number | undefined
}

/**
 * A store of events of type `A`, one item per key.
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
  ) => Effect.Effect<PutResult, EventCodec.InvalidEventError | EventStoreError.EventConflictError | AwsError.AwsError>
  /**
   * The event stored under an event id, read consistently; the key is derived from the id (`fromId`). On a store
   * whose key is derived from the event (`fromEvent`) an id does not locate an item: calling `get` there is a
   * defect, use `getByKey`.
   */
  readonly get: (id: string) => Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError>
  /** The event stored under a primary key, read consistently. Works with every key. */
  readonly getByKey: (key: Key) => Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError>
  /** Every event the store wrote (the items carrying its digest attribute), a page at a time. */
  readonly list: (options?: ListOptions) => Stream.Stream<A, EventCodec.InvalidEventError | AwsError.AwsError>
  /** Creates the table with the store's key schema (on-demand capacity), for development and tests. */
  readonly ensureTable: Effect.Effect<void, AwsError.AwsError>
}

/**
 * How an item holds its event: `"json"` (the default) keeps the encoded event as JSON text in one attribute
 * (`body`); `"attributes"` stores each field of the encoded event as a native DynamoDB attribute (marshalled with
 * `@aws-sdk/util-dynamodb`), so that other tools can read and query them.
 *
 * @since 0.1.0
 * @category models
 */
export type Layout = "json" | "attributes"

/**
 * One attribute of the table's primary key: its name, its DynamoDB type (`"S"`, the default, or `"N"`), and how
 * its value is derived, from the event id (`fromId`, default: the id itself) or from the event (`fromEvent`). Only
 * a key derived from the id lets `get(id)` find an item; `getByKey` works with both.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyAttribute<A> = KeyAttribute.FromId | KeyAttribute.FromEvent<A>

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace KeyAttribute {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface FromId {
    readonly name: string
    readonly type?: "S" | "N" | undefined
    /** The value from the event id, e.g. `(id) => \`ORDER#${id}\`` or a constant `() => "v1"`. Default: the id. */
    readonly fromId?: ((id: string) => string | number) | undefined
    readonly fromEvent?: never
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface FromEvent<A> {
    readonly name: string
    readonly type?: "S" | "N" | undefined
    /** The value from the event, e.g. `(order) => \`CUSTOMER#${order.customer}\``. */
    readonly fromEvent: (event: A) => string | number
    readonly fromId?: never
  }
}

/**
 * The table's primary key. Default: a partition key `id` holding the event id, and no sort key.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyOptions<A> {
  readonly partition?: KeyAttribute<A> | undefined
  readonly sort?: KeyAttribute<A> | undefined
}

/**
 * The names of the store's own attributes; each defaults to its field name. `body` is used by the `"json"`
 * layout only.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttributeNames {
  readonly body?: string | undefined
  readonly digest?: string | undefined
  readonly storedAt?: string | undefined
  readonly writes?: string | undefined
}

/**
 * What a store is built from. Without `key`, `layout` and `attributeNames` an item is `{ id, body, digest,
 * storedAt, writes }`. A name that collides (an event field or a key attribute named like a store attribute,
 * two attributes under one name) is a `ConfigurationError` naming it when the store is built, or an
 * `InvalidEventError` naming the field when only the event shows it. An event field named like a key attribute
 * must hold the key's value.
 *
 * @example
 * ```ts
 * import { EventStore } from "@aws-resilience/dynamodb"
 * import { Effect, Schema } from "effect"
 *
 * const Order = Schema.Struct({ id: Schema.String, customer: Schema.String, total: Schema.Number })
 *
 * // An existing single-table design: keyed pk/sk, the order's fields as native attributes.
 * export const orders = EventStore.make({
 *   tableName: "app",
 *   schema: Order,
 *   layout: "attributes",
 *   key: {
 *     partition: { name: "pk", fromId: (id) => `ORDER#${id}` },
 *     sort: { name: "sk", fromId: () => "v1" }
 *   },
 *   attributeNames: { digest: "_digest", storedAt: "_storedAt", writes: "_writes" }
 * })
 * // get("o-1") reads pk = ORDER#o-1, sk = v1.
 * export const found = Effect.flatMap(orders, EventStore.get("o-1"))
 *
 * // Keyed by customer, the key needs the event: read it back with getByKey.
 * export const byCustomer = EventStore.make({
 *   tableName: "app",
 *   schema: Order,
 *   layout: "attributes",
 *   key: {
 *     partition: { name: "pk", fromEvent: (order) => `CUSTOMER#${order.customer}` },
 *     sort: { name: "sk", fromId: (id) => `ORDER#${id}` }
 *   }
 * })
 * export const foundByKey = Effect.flatMap(
 *   byCustomer,
 *   EventStore.getByKey({ partition: "CUSTOMER#c-1", sort: "ORDER#o-1" })
 * )
 * ```
 *
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
  /**
   * The table's primary key (see `KeyOptions`). A derived value that throws or is not a non-empty string (a finite
   * number for `"N"`) fails `put` with an `InvalidEventError` on the attribute's name.
   */
  readonly key?: KeyOptions<A> | undefined
  /** Default `"json"`. */
  readonly layout?: Layout | undefined
  readonly attributeNames?: AttributeNames | undefined
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isEventStore = (u: unknown): u is EventStore<unknown> => Predicate.hasProperty(u, TypeId)

/**
 * Builds a store over the DynamoDB client of the context. Nothing is read or written until it is used; options
 * that cannot work (see `Options`) fail here with a `ConfigurationError` naming them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(
  options: Options<A, I>
): Effect.Effect<EventStore<A>, AwsError.ConfigurationError, DynamoDB.DynamoDB> =>
  Effect.gen(function*() {
    const layout = yield* itemLayout.make(options)
    const client = yield* DynamoDB.DynamoDB
    const provide = Effect.provideService(DynamoDB.DynamoDB, client)
    return {
      [TypeId]: TypeId,
      tableName: layout.tableName,
      put: (event) => eventWrites.put(layout, client, event),
      get: (id) => eventReads.get(layout, client, id),
      getByKey: (key) => eventReads.getByKey(layout, client, itemLayout.keyOf(layout, key)),
      list: (listOptions) => Stream.provideService(eventReads.list(layout, listOptions), DynamoDB.DynamoDB, client),
      ensureTable: provide(DynamoDB.ensureTable({
        TableName: layout.tableName,
        ...itemLayout.keySchema(layout),
        BillingMode: "PAY_PER_REQUEST"
      })),
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
): Layer.Layer<Self, AwsError.ConfigurationError, DynamoDB.DynamoDB> => Layer.effect(tag, make(options))

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
  ) => Effect.Effect<PutResult, EventCodec.InvalidEventError | EventStoreError.EventConflictError | AwsError.AwsError>
  <A>(
    self: EventStore<A>,
    event: NoInfer<A>
  ): Effect.Effect<PutResult, EventCodec.InvalidEventError | EventStoreError.EventConflictError | AwsError.AwsError>
} = dual(2, <A>(self: EventStore<A>, event: A) => self.put(event))

/**
 * Reads the event stored under an id (on a store whose key is derived from the id).
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
 * Reads the event stored under a primary key: `EventStore.getByKey(store, { partition: "CUSTOMER#c-1", sort: "ORDER#o-1" })`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const getByKey: {
  (
    key: Key
  ): <A>(self: EventStore<A>) => Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError>
  <A>(
    self: EventStore<A>,
    key: Key
  ): Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError>
} = dual(2, <A>(self: EventStore<A>, key: Key) => self.getByKey(key))

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
