/**
 * How an `EventStore` lays an event out in an item: the options checked once per store, the key derived from the
 * event or its id, the event as JSON text or as native attributes, and the way back from an item to the event.
 * Names never clash: a clash the options show is a `ConfigurationError`, one only the event shows an
 * `InvalidEventError`. Nothing here calls DynamoDB.
 */
import { AwsError, EventCodec } from "@aws-resilience/core"
import type { AttributeValue, CreateTableCommandInput } from "@aws-sdk/client-dynamodb"
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as SchemaAST from "effect/SchemaAST"
import type * as EventStore from "../EventStore.js"

/** An item, or its key, as DynamoDB takes it. */
export type Item = Record<string, AttributeValue>

type Role = "partition" | "sort"

/** The store's own attributes. */
type Bookkeeping = "body" | "digest" | "storedAt" | "writes"

/** One attribute of the primary key, checked. */
export interface KeyPart<A> {
  readonly role: Role
  readonly name: string
  readonly type: "S" | "N"
  readonly fromEvent: ((event: A) => unknown) | undefined
  readonly fromId: ((id: string) => unknown) | undefined
}

/** The options of `EventStore.make`, checked and resolved once per store. */
export interface ItemLayout<A> {
  readonly tableName: string
  readonly codec: EventCodec.EventCodec<A>
  readonly layout: EventStore.Layout
  /** The partition key, then the sort key when there is one. */
  readonly parts: readonly [KeyPart<A>, ...Array<KeyPart<A>>]
  /** The store's own attributes in use, by role. */
  readonly names: Readonly<Record<Bookkeeping, string>>
  /** The default key (`id`, the event id): a conflict then names the id alone. */
  readonly defaultKey: boolean
  /** The key attribute derived from the event, when one is: `get(id)` cannot locate an item then. */
  readonly fromEventPart: KeyPart<A> | undefined
  /** Attributes that are the store's, not the event's: key attributes the schema does not declare, bookkeeping. */
  readonly notEventFields: ReadonlySet<string>
  /** The bookkeeping attributes an event field must not be named like, by name. */
  readonly bookkeeping: ReadonlyMap<string, Bookkeeping>
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

/** Checks the options documented on `EventStore.Options`; the first that cannot work is a `ConfigurationError`. */
export const make = <A, I>(
  options: EventStore.Options<A, I>
): Effect.Effect<ItemLayout<A>, AwsError.ConfigurationError> =>
  Effect.suspend(() => {
    const layout = options.layout ?? "json"
    if (layout !== "json" && layout !== "attributes") {
      return Effect.fail(configurationError("layout", `${JSON.stringify(layout)} is not "json" or "attributes"`))
    }
    const parts: Array<KeyPart<A>> = []
    const given: ReadonlyArray<readonly [Role, EventStore.KeyAttribute<A> | undefined]> = [
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
    const partition = parts[0]!
    return Effect.succeed<ItemLayout<A>>({
      tableName: options.tableName,
      codec: EventCodec.make(options.schema, options.idOf),
      layout,
      parts: [partition, ...parts.slice(1)],
      names,
      defaultKey: parts.length === 1 && partition.name === "id" && partition.fromId === undefined &&
        partition.fromEvent === undefined,
      fromEventPart: parts.find((p) => p.fromEvent !== undefined),
      notEventFields: new Set([
        ...parts.filter((p) => !declared.has(p.name)).map((p) => p.name),
        names.digest,
        names.storedAt,
        names.writes
      ]),
      bookkeeping: new Map<string, Bookkeeping>([
        [names.digest, "digest"],
        [names.storedAt, "storedAt"],
        [names.writes, "writes"]
      ])
    })
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

// Runs the caller's key function; what it throws or gives is checked like `idOf`'s result. Synchronous (an `Either`
// is an effect of one step): it runs on every write.
const keyValue = <A>(
  part: KeyPart<A>,
  via: string,
  compute: () => unknown
): Either.Either<AttributeValue, EventCodec.InvalidEventError> => {
  let value: unknown
  try {
    value = compute()
  } catch (cause) {
    return Either.left(invalid("encode", part.name, `${via} threw: ${textOf(cause)}`, cause))
  }
  return part.type === "S"
    ? typeof value === "string" && value.length > 0
      ? Either.right(toAttribute("S", value))
      : Either.left(invalid("encode", part.name, `${via}: expected a non-empty string, got ${describe(value)}`))
    : typeof value === "number" && Number.isFinite(value)
    ? Either.right(toAttribute("N", value))
    : Either.left(invalid("encode", part.name, `${via}: expected a finite number, got ${describe(value)}`))
}

const fromId = <A>(part: KeyPart<A>, id: string) =>
  part.fromId === undefined
    ? keyValue(part, "the event id", () => id)
    : keyValue(part, `key.${part.role}.fromId`, () => part.fromId!(id))

const keyFrom = <A>(
  layout: ItemLayout<A>,
  valueOf: (part: KeyPart<A>) => Either.Either<AttributeValue, EventCodec.InvalidEventError>
): Either.Either<Item, EventCodec.InvalidEventError> => {
  const key: Item = {}
  for (const part of layout.parts) {
    const value = valueOf(part)
    if (Either.isLeft(value)) return Either.left(value.left)
    key[part.name] = value.right
  }
  return Either.right(key)
}

/** The key of an event: each attribute from the event id or from the event, as its part says. */
export const keyOfEvent = <A>(layout: ItemLayout<A>, id: string, event: A) =>
  keyFrom(layout, (part) =>
    part.fromEvent === undefined
      ? fromId(part, id)
      : keyValue(part, `key.${part.role}.fromEvent`, () => part.fromEvent!(event)))

/** The key of an event id, on a store with no key attribute derived from the event (`fromEventPart`). */
export const keyOfId = <A>(layout: ItemLayout<A>, id: string) => keyFrom(layout, (part) => fromId(part, id))

/** The key as `getByKey` takes it, by attribute name. */
export const keyOf = <A>(layout: ItemLayout<A>, key: EventStore.Key): Item =>
  Object.fromEntries(
    layout.parts.flatMap((part) => {
      const value = part.role === "partition" ? key.partition : key.sort
      return value === undefined ? [] : [[part.name, toAttribute(part.type, value)]]
    })
  )

/** The key's values by attribute name, for an error; `undefined` for the default key. */
export const keyValues = <A>(
  layout: ItemLayout<A>,
  key: Item
): Readonly<Record<string, string | number>> | undefined =>
  layout.defaultKey ? undefined : Object.fromEntries(layout.parts.map((p) => [p.name, scalarOf(key[p.name]!)]))

/** The key schema of the table, for `CreateTable`. */
export const keySchema = <A>(
  layout: ItemLayout<A>
): Pick<CreateTableCommandInput, "KeySchema" | "AttributeDefinitions"> => ({
  KeySchema: layout.parts.map((p) => ({ AttributeName: p.name, KeyType: p.role === "partition" ? "HASH" : "RANGE" })),
  AttributeDefinitions: layout.parts.map((p) => ({ AttributeName: p.name, AttributeType: p.type }))
})

// The event's encoded fields as attributes, without those that are the key (they go in `Key`).
const attributesOf = <A>(
  layout: ItemLayout<A>,
  body: string,
  key: Item
): Either.Either<Item, EventCodec.InvalidEventError> => {
  const encoded: unknown = JSON.parse(body)
  if (!Predicate.isRecord(encoded)) {
    return Either.left(invalid("encode", "", "the attributes layout needs a schema that encodes to an object"))
  }
  let item: Item
  try {
    item = marshall(encoded, { removeUndefinedValues: true })
  } catch (cause) {
    return Either.left(invalid("encode", "", `not storable as DynamoDB attributes: ${textOf(cause)}`, cause))
  }
  const fields: Item = {}
  for (const [field, value] of Object.entries(item)) {
    const role = layout.bookkeeping.get(field)
    if (role !== undefined) {
      return Either.left(invalid(
        "encode",
        field,
        `is also the store's ${role} attribute: give that another name with attributeNames.${role}`
      ))
    }
    const keyAttribute = key[field]
    if (keyAttribute === undefined) fields[field] = value
    else if (!sameScalar(keyAttribute, value)) {
      return Either.left(invalid(
        "encode",
        field,
        `is a key attribute, derived as ${JSON.stringify(scalarOf(keyAttribute))}: the field must hold that value`
      ))
    }
  }
  return Either.right(fields)
}

/** The attributes that hold an encoded event (`body`, its JSON text), besides its key and the bookkeeping. */
export const fieldsOf = <A>(
  layout: ItemLayout<A>,
  body: string,
  key: Item
): Either.Either<Item, EventCodec.InvalidEventError> =>
  layout.layout === "json" ? Either.right({ [layout.names.body]: { S: body } }) : attributesOf(layout, body, key)

/** The event an item holds. */
export const decode = <A>(layout: ItemLayout<A>, item: Item): Effect.Effect<A, EventCodec.InvalidEventError> => {
  if (layout.layout === "json") return layout.codec.decode(item[layout.names.body]?.S ?? "")
  const fields: Item = {}
  for (const [name, value] of Object.entries(item)) if (!layout.notEventFields.has(name)) fields[name] = value
  let native: Record<string, unknown>
  try {
    native = unmarshall(fields)
  } catch (cause) {
    return Effect.fail(invalid("decode", "", `not readable as an event: ${textOf(cause)}`, cause))
  }
  // Through JSON, as the codec reads the json layout: one decoding path for both.
  return layout.codec.decode(JSON.stringify(native))
}
