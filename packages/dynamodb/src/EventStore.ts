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
import { AwsConfig, AwsError, EventCodec } from "@aws-resilience/core"
import type { AttributeValue } from "@aws-sdk/client-dynamodb"
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb"
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
import * as SchemaAST from "effect/SchemaAST"
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
 * Another event is already stored under this key. `key` holds the key's attributes by name when the store's key
 * is not the default (`id`, the event id).
 *
 * @since 0.1.0
 * @category errors
 */
export class EventConflictError extends Data.TaggedError("EventConflictError")<{
  readonly tableName: string
  readonly id: string
  readonly key?: Readonly<Record<string, string | number>> | undefined
}> {
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  override get message(): string {
    const where = this.key === undefined
      ? `id ${this.id}`
      : `key ${Object.entries(this.key).map(([name, value]) => `${name}=${value}`).join(", ")} (event id ${this.id})`
    return `${this.tableName}: a different event is already stored under ${where}`
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
  ) => Effect.Effect<PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError>
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

const digestOf = (body: string) => createHash("sha256").update(body).digest("base64")

type Role = "partition" | "sort"
type Bookkeeping = "body" | "digest" | "storedAt" | "writes"

interface KeyPart<A> {
  readonly role: Role
  readonly name: string
  readonly type: "S" | "N"
  readonly fromEvent: ((event: A) => unknown) | undefined
  readonly fromId: ((id: string) => unknown) | undefined
}

interface Resolved<A> {
  readonly layout: Layout
  readonly parts: ReadonlyArray<KeyPart<A>>
  /** The store's own attributes in use, by role. */
  readonly names: Readonly<Record<Bookkeeping, string>>
  /** The fields the schema's encoded side declares, when it declares any. */
  readonly declared: ReadonlySet<string>
}

// The field names of a schema's encoded side, in every member of a union.
const declaredFields = (ast: SchemaAST.AST): ReadonlySet<string> => {
  const names = new Set<string>()
  const go = (ast: SchemaAST.AST, depth: number): void => {
    switch (ast._tag) {
      case "TypeLiteral":
        for (const ps of ast.propertySignatures) if (typeof ps.name === "string") names.add(ps.name)
        return
      case "Union":
        return ast.types.forEach((member) => go(member, depth))
      case "Refinement":
        return go(ast.from, depth)
      case "Transformation":
        return go(ast.from, depth)
      case "Suspend":
        return depth < 4 ? go(ast.f(), depth + 1) : undefined
    }
  }
  go(SchemaAST.encodedAST(ast), 0)
  return names
}

const configurationError = (setting: string, detail: string) => new AwsError.ConfigurationError({ setting, detail })

const resolve = <A, I>(options: Options<A, I>): Effect.Effect<Resolved<A>, AwsError.ConfigurationError> =>
  Effect.suspend(() => {
    const layout = options.layout ?? "json"
    if (layout !== "json" && layout !== "attributes") {
      return Effect.fail(configurationError("layout", `${JSON.stringify(layout)} is not "json" or "attributes"`))
    }
    const parts: Array<KeyPart<A>> = []
    const given: ReadonlyArray<readonly [Role, KeyAttribute<A> | undefined]> = [
      ["partition", options.key?.partition ?? { name: "id" }],
      ["sort", options.key?.sort]
    ]
    for (const [role, part] of given) {
      if (part === undefined) continue
      const setting = `key.${role}`
      const type = part.type ?? "S"
      if (typeof part.name !== "string" || part.name === "") {
        return Effect.fail(configurationError(`${setting}.name`, "must be a non-empty attribute name"))
      }
      if (type !== "S" && type !== "N") {
        return Effect.fail(configurationError(`${setting}.type`, `${JSON.stringify(type)} is not "S" or "N"`))
      }
      if (part.fromId !== undefined && part.fromEvent !== undefined) {
        return Effect.fail(configurationError(setting, "give fromId or fromEvent, not both"))
      }
      if (type === "N" && part.fromId === undefined && part.fromEvent === undefined) {
        return Effect.fail(
          configurationError(setting, "a number key needs fromId or fromEvent (the event id is a string)")
        )
      }
      if (parts.some((p) => p.name === part.name)) {
        return Effect.fail(configurationError(`${setting}.name`, `"${part.name}" is already the partition key`))
      }
      parts.push({ role, name: part.name, type, fromEvent: part.fromEvent, fromId: part.fromId })
    }
    const roles: ReadonlyArray<Bookkeeping> = layout === "json"
      ? ["body", "digest", "storedAt", "writes"]
      : ["digest", "storedAt", "writes"]
    const names = { body: "body", digest: "digest", storedAt: "storedAt", writes: "writes" }
    const taken = new Map(parts.map((p) => [p.name, `${p.role} key`]))
    for (const role of roles) {
      const name = options.attributeNames?.[role] ?? role
      const setting = `attributeNames.${role}`
      if (typeof name !== "string" || name === "") {
        return Effect.fail(configurationError(setting, "must be a non-empty attribute name"))
      }
      const owner = taken.get(name)
      if (owner !== undefined) return Effect.fail(configurationError(setting, `"${name}" is already the ${owner}`))
      taken.set(name, `${role} attribute`)
      names[role] = name
    }
    const declared = declaredFields(options.schema.ast)
    if (layout === "attributes") {
      for (const role of roles) {
        if (declared.has(names[role])) {
          return Effect.fail(configurationError(
            `attributeNames.${role}`,
            `"${names[role]}" is also a field of the event: give the store's ${role} attribute another name`
          ))
        }
      }
    }
    return Effect.succeed({ layout, parts, names, declared })
  })

const toAttribute = (type: "S" | "N", value: string | number): AttributeValue =>
  type === "N" ? { N: String(value) } : { S: String(value) }

const sameScalar = (a: AttributeValue, b: AttributeValue) =>
  (a.S !== undefined && a.S === b.S) || (a.N !== undefined && a.N === b.N)

const scalarOf = (value: AttributeValue): string | number => value.N !== undefined ? Number(value.N) : value.S ?? ""

const describe = (u: unknown): string =>
  u === "" ?
    "an empty string" :
    u === null || u === undefined || typeof u === "number" ?
    String(u) :
    typeof u === "object" ?
    "an object" :
    `a ${typeof u}`

const textOf = (cause: unknown) => Predicate.hasProperty(cause, "message") ? String(cause.message) : String(cause)

const invalid = (direction: "encode" | "decode", path: string, message: string, cause?: unknown) =>
  new EventCodec.InvalidEventError({ direction, issues: [{ path, message }], cause })

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
    const { declared, layout, names, parts } = yield* resolve(options)
    const client = yield* DynamoDB.DynamoDB
    const codec = EventCodec.make(options.schema, options.idOf)
    const { tableName } = options
    const provide = Effect.provideService(DynamoDB.DynamoDB, client)
    const partition = parts[0]!
    const fromEventPart = parts.find((p) => p.fromEvent !== undefined)
    const defaultKey = parts.length === 1 && partition.name === "id" && partition.fromId === undefined &&
      partition.fromEvent === undefined
    // Attributes that are the store's, not the event's: key attributes the schema does not declare, bookkeeping.
    const notEventFields = new Set([
      ...parts.filter((p) => !declared.has(p.name)).map((p) => p.name),
      names.digest,
      names.storedAt,
      names.writes
    ])
    const bookkeeping = new Map<string, Bookkeeping>([
      [names.digest, "digest"],
      [names.storedAt, "storedAt"],
      [names.writes, "writes"]
    ])

    // Runs the caller's key function; what it throws or gives is checked like `idOf`'s result.
    const keyValue = (part: KeyPart<A>, via: string, compute: () => unknown) =>
      Effect.suspend(() => {
        let value: unknown
        try {
          value = compute()
        } catch (cause) {
          return Effect.fail(invalid("encode", part.name, `${via} threw: ${textOf(cause)}`, cause))
        }
        return part.type === "S"
          ? typeof value === "string" && value.length > 0
            ? Effect.succeed(toAttribute("S", value))
            : Effect.fail(invalid("encode", part.name, `${via}: expected a non-empty string, got ${describe(value)}`))
          : typeof value === "number" && Number.isFinite(value)
          ? Effect.succeed(toAttribute("N", value))
          : Effect.fail(invalid("encode", part.name, `${via}: expected a finite number, got ${describe(value)}`))
      })

    const fromId = (part: KeyPart<A>, id: string) =>
      part.fromId === undefined
        ? keyValue(part, "the event id", () => id)
        : keyValue(part, `key.${part.role}.fromId`, () => part.fromId!(id))

    const keyOf = (
      entries: ReadonlyArray<readonly [string, Effect.Effect<AttributeValue, EventCodec.InvalidEventError>]>
    ) =>
      Effect.map(
        Effect.forEach(entries, ([name, value]) => Effect.map(value, (v) => [name, v] as const)),
        (entries): Record<string, AttributeValue> => Object.fromEntries(entries)
      )

    const keyOfEvent = (id: string, event: A) =>
      keyOf(parts.map((part) => [
        part.name,
        part.fromEvent === undefined
          ? fromId(part, id)
          : keyValue(part, `key.${part.role}.fromEvent`, () => part.fromEvent!(event))
      ]))

    // The event's encoded fields as attributes, without those that are the key (they go in `Key`).
    const attributesOf = (body: string, key: Record<string, AttributeValue>) =>
      Effect.suspend(() => {
        const encoded: unknown = JSON.parse(body)
        if (!Predicate.isRecord(encoded)) {
          return Effect.fail(invalid("encode", "", "the attributes layout needs a schema that encodes to an object"))
        }
        let item: Record<string, AttributeValue>
        try {
          item = marshall(encoded, { removeUndefinedValues: true })
        } catch (cause) {
          return Effect.fail(invalid("encode", "", `not storable as DynamoDB attributes: ${textOf(cause)}`, cause))
        }
        const fields: Record<string, AttributeValue> = {}
        for (const [field, value] of Object.entries(item)) {
          const role = bookkeeping.get(field)
          if (role !== undefined) {
            return Effect.fail(invalid(
              "encode",
              field,
              `is also the store's ${role} attribute: give that another name with attributeNames.${role}`
            ))
          }
          const keyAttribute = key[field]
          if (keyAttribute === undefined) fields[field] = value
          else if (!sameScalar(keyAttribute, value)) {
            return Effect.fail(invalid(
              "encode",
              field,
              `is a key attribute, derived as ${JSON.stringify(scalarOf(keyAttribute))}: the field must hold that value`
            ))
          }
        }
        return Effect.succeed(fields)
      })

    const readBack = (key: Record<string, AttributeValue>) =>
      DynamoDB.getItem({ TableName: tableName, Key: key, ConsistentRead: true }).pipe(
        Effect.map((r) => Option.fromNullable(r.Item)),
        provide
      )

    const put = (event: A) =>
      Effect.gen(function*() {
        const body = yield* codec.encode(event)
        const id = yield* codec.id(event)
        const key = yield* keyOfEvent(id, event)
        const fields = layout === "json" ? { [names.body]: { S: body } } : yield* attributesOf(body, key)
        // The same digest in both layouts: of the encoded event's JSON text.
        const digest = digestOf(body)
        const at = new Date(yield* Clock.currentTimeMillis).toISOString()
        const attributeNames: Record<string, string> = {
          "#key": partition.name,
          "#digest": names.digest,
          "#storedAt": names.storedAt,
          "#writes": names.writes
        }
        const values: Record<string, AttributeValue> = {
          ":digest": { S: digest },
          ":at": { S: at },
          ":one": { N: "1" }
        }
        const sets = ["#digest = :digest", "#storedAt = :at"]
        Object.entries(fields).forEach(([name, value], i) => {
          attributeNames[`#f${i}`] = name
          values[`:f${i}`] = value
          sets.push(`#f${i} = :f${i}`)
        })
        const conflict = () =>
          new EventConflictError({
            tableName,
            id,
            ...(defaultKey ? {} : { key: Object.fromEntries(parts.map((p) => [p.name, scalarOf(key[p.name]!)])) })
          })
        // A conditional update rather than a put: `writes` counts the writes that landed, so a second copy
        // (an unconditional retry after a lost response) would be visible as `writes > 1`. On the full key,
        // `attribute_not_exists` of the partition key means "no item under this key".
        return yield* DynamoDB.updateItem({
          TableName: tableName,
          Key: key,
          UpdateExpression: `SET ${sets.join(", ")} ADD #writes :one`,
          ConditionExpression: "attribute_not_exists(#key)",
          ExpressionAttributeNames: attributeNames,
          ExpressionAttributeValues: values
        }).pipe(
          Effect.as<PutResult>({ _tag: "Stored", id }),
          Effect.catchTag("ConditionalCheckFailedError", () =>
            Effect.flatMap(readBack(key), (stored) =>
              Option.isSome(stored) && stored.value[names.digest]?.S === digest
                ? Effect.succeed<PutResult>({ _tag: "AlreadyStored", id })
                : Effect.fail(conflict()))),
          provide
        )
      }).pipe(Effect.withSpan("EventStore.put", { captureStackTrace: false }))

    const decodeItem = (item: Record<string, AttributeValue>): Effect.Effect<A, EventCodec.InvalidEventError> => {
      if (layout === "json") return codec.decode(item[names.body]?.S ?? "")
      const fields: Record<string, AttributeValue> = {}
      for (const [name, value] of Object.entries(item)) if (!notEventFields.has(name)) fields[name] = value
      let native: Record<string, unknown>
      try {
        native = unmarshall(fields)
      } catch (cause) {
        return Effect.fail(invalid("decode", "", `not readable as an event: ${textOf(cause)}`, cause))
      }
      // Through JSON, as the codec reads the json layout: one decoding path for both.
      return codec.decode(JSON.stringify(native))
    }

    const getByKey = (key: Record<string, AttributeValue>) =>
      Effect.flatMap(readBack(key), (item) =>
        Option.match(item, {
          onNone: () => Effect.succeed(Option.none<A>()),
          onSome: (found) => Effect.map(decodeItem(found), Option.some)
        }))

    return {
      [TypeId]: TypeId,
      tableName,
      put,
      get: (id) =>
        fromEventPart === undefined
          ? Effect.flatMap(keyOf(parts.map((part) => [part.name, fromId(part, id)])), getByKey)
          : Effect.dieMessage(
            `EventStore ${tableName}: get(id) cannot locate an item, the ${fromEventPart.role} key ` +
              `${fromEventPart.name} is derived from the event (key.${fromEventPart.role}.fromEvent); use getByKey`
          ),
      getByKey: (key) =>
        getByKey(Object.fromEntries(
          parts.flatMap((part) => {
            const value = part.role === "partition" ? key.partition : key.sort
            return value === undefined ? [] : [[part.name, toAttribute(part.type, value)]]
          })
        )),
      list: (listOptions) =>
        Stream.paginateChunkEffect(undefined as Record<string, AttributeValue> | undefined, (start) =>
          DynamoDB.scan({
            TableName: tableName,
            Limit: listOptions?.pageSize ?? 100,
            FilterExpression: "attribute_exists(#digest)",
            ExpressionAttributeNames: { "#digest": names.digest },
            ...(start ? { ExclusiveStartKey: start } : {})
          }).pipe(
            provide,
            Effect.flatMap((page) =>
              Effect.map(
                Effect.forEach(page.Items ?? [], decodeItem),
                (events) => [Chunk.unsafeFromArray(events), Option.fromNullable(page.LastEvaluatedKey)] as const
              )
            )
          )),
      ensureTable: DynamoDB.ensureTable({
        TableName: tableName,
        KeySchema: parts.map((p) => ({ AttributeName: p.name, KeyType: p.role === "partition" ? "HASH" : "RANGE" })),
        AttributeDefinitions: parts.map((p) => ({ AttributeName: p.name, AttributeType: p.type })),
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
  ) => Effect.Effect<PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError>
  <A>(
    self: EventStore<A>,
    event: NoInfer<A>
  ): Effect.Effect<PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError>
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
