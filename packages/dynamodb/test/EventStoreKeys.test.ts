import { Resilience } from "@aws-resilience/core"
import type { LocalAws } from "@aws-resilience/testkit"
import { Arbitraries, GroundTruth, Scenario } from "@aws-resilience/testkit"
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb"
import { assert, layer } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Option, Schema, Stream } from "effect"
import { DynamoDB, EventStore } from "../src/index.js"
import { Live } from "./fixtures.js"

// `status` is one of DynamoDB's reserved words; `placedAt` is stored in its encoded form (an ISO string).
const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  status: Schema.Literal("placed", "shipped"),
  total: Schema.Number,
  placedAt: Schema.Date,
  lines: Schema.Array(Schema.Struct({ sku: Schema.String, qty: Schema.Number })),
  note: Schema.optional(Schema.String)
})
type Order = typeof Order.Type

const order = (id: string, overrides: Partial<Order> = {}): Order => ({
  id,
  customer: "c-1",
  status: "placed",
  total: 42.5,
  placedAt: new Date("2024-05-01T10:00:00.000Z"),
  lines: [{ sku: "A-1", qty: 2 }],
  ...overrides
})

let tables = 0
const tableName = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${tables++}`

// A single-table design with a pk/sk key and the order's fields as attributes.
const singleTable = {
  schema: Order,
  layout: "attributes",
  key: {
    partition: { name: "pk", fromId: (id: string) => `ORDER#${id}` },
    sort: { name: "sk", fromId: () => "v1" }
  },
  attributeNames: { digest: "_digest", storedAt: "_storedAt", writes: "_writes" }
} as const

const withStore = <A, I, X, E>(
  options: Omit<EventStore.Options<A, I>, "tableName">,
  f: (store: EventStore.EventStore<A>) => Effect.Effect<X, E, LocalAws.LocalAws | DynamoDB.DynamoDB>
) =>
  Effect.gen(function*() {
    const store = yield* EventStore.make({ ...options, tableName: tableName("keys") })
    yield* store.ensureTable
    return yield* f(store)
  })

const describeKey = (name: string) =>
  Effect.flatMap(DynamoDB.DynamoDB, Resilience.send(new DescribeTableCommand({ TableName: name }))).pipe(
    Effect.map(({ Table }) => ({ keySchema: Table?.KeySchema, attributes: Table?.AttributeDefinitions }))
  )

layer(Live, { excludeTestServices: true })("EventStore keys and layouts", (it) => {
  it.effect("by default the table is keyed by id and an item is { id, body, digest, storedAt, writes }", () =>
    withStore({ schema: Order }, (store) =>
      Effect.gen(function*() {
        assert.deepStrictEqual((yield* describeKey(store.tableName)).keySchema, [{
          AttributeName: "id",
          KeyType: "HASH"
        }])
        yield* store.put(order("o-1"))
        const [item] = yield* GroundTruth.scanTable(store.tableName)
        assert.deepStrictEqual(Object.keys(item ?? {}).sort(), ["body", "digest", "id", "storedAt", "writes"])
        assert.deepStrictEqual(item?.id, { S: "o-1" })
        assert.deepStrictEqual(yield* store.get("o-1"), Option.some(order("o-1")))
      })))

  it.effect("on a pk/sk table the attributes layout stores the encoded fields as native attributes, and reads them back", () =>
    withStore(singleTable, (store) =>
      Effect.gen(function*() {
        const described = yield* describeKey(store.tableName)
        assert.deepStrictEqual(described.keySchema, [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" }
        ])
        assert.sameDeepMembers([...(described.attributes ?? [])], [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sk", AttributeType: "S" }
        ])

        assert.deepStrictEqual(yield* store.put(order("o-1")), { _tag: "Stored", id: "o-1" })
        const items = yield* GroundTruth.scanTable(store.tableName)
        assert.strictEqual(items.length, 1)
        const { _digest, _storedAt, ...rest } = items[0]!
        assert.isString(_digest?.S)
        assert.isString(_storedAt?.S)
        assert.deepStrictEqual(rest, {
          pk: { S: "ORDER#o-1" },
          sk: { S: "v1" },
          id: { S: "o-1" },
          customer: { S: "c-1" },
          status: { S: "placed" },
          total: { N: "42.5" },
          placedAt: { S: "2024-05-01T10:00:00.000Z" },
          lines: { L: [{ M: { sku: { S: "A-1" }, qty: { N: "2" } } }] },
          _writes: { N: "1" }
        })

        assert.deepStrictEqual(yield* store.get("o-1"), Option.some(order("o-1")))
        assert.deepStrictEqual(
          yield* EventStore.getByKey(store, { partition: "ORDER#o-1", sort: "v1" }),
          Option.some(order("o-1"))
        )
        assert.deepStrictEqual(yield* store.get("missing"), Option.none())

        // Another entity of the same table, written by something else: not one of the store's events.
        yield* DynamoDB.putItem({
          TableName: store.tableName,
          Item: { pk: { S: "CUSTOMER#c-1" }, sk: { S: "profile" }, name: { S: "Ada" } }
        })
        yield* store.put(order("o-2", { note: "gift", status: "shipped" }))
        const listed = Chunk.toReadonlyArray(yield* Stream.runCollect(store.list({ pageSize: 1 })))
        assert.sameDeepMembers([...listed], [order("o-1"), order("o-2", { note: "gift", status: "shipped" })])
      })))

  it.effect("in the attributes layout on a pk/sk table, a replay is AlreadyStored and a different event a conflict naming the key", () =>
    withStore(singleTable, (store) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* store.put(order("o-1")), { _tag: "Stored", id: "o-1" })
        assert.deepStrictEqual(yield* store.put(order("o-1")), { _tag: "AlreadyStored", id: "o-1" })
        const conflict = yield* Effect.flip(store.put(order("o-1", { total: 99 })))
        assert.isTrue(EventStore.isEventConflictError(conflict))
        if (!EventStore.isEventConflictError(conflict)) return
        assert.deepStrictEqual(conflict.key, { pk: "ORDER#o-1", sk: "v1" })
        assert.include(conflict.message, "pk=ORDER#o-1, sk=v1")
        const items = yield* GroundTruth.scanTable(store.tableName)
        assert.strictEqual(items.length, 1)
        assert.deepStrictEqual(items[0]?.total, { N: "42.5" }, "the first event is kept")
        assert.deepStrictEqual(items[0]?._writes, { N: "1" })
      })))

  it.effect("in the attributes layout on a pk/sk table, put stays idempotent when the response to a landed write is lost", () =>
    withStore(singleTable, (store) =>
      Effect.gen(function*() {
        const report = yield* Scenario.run(store.put(order("o-7")), {
          plan: {
            seed: 3,
            rules: [{ service: "dynamodb", operation: "UpdateItem", fault: "lostResponse", probability: 1, times: 1 }]
          }
        })
        assert.deepStrictEqual(report.exit, Exit.succeed({ _tag: "AlreadyStored" as const, id: "o-7" }))
        assert.strictEqual(report.requests.byOutcome.lostResponse, 1)
        const items = yield* GroundTruth.scanTable(store.tableName)
        assert.strictEqual(items.length, 1)
        assert.deepStrictEqual(items[0]?.pk, { S: "ORDER#o-7" })
        assert.strictEqual(items[0]?._writes?.N, "1", "the retry did not write a second time")
        assert.deepStrictEqual(yield* store.get("o-7"), Option.some(order("o-7")))
      })))

  it.effect("the json layout under a pk/sk key keeps the event in its body attribute, under the names given", () =>
    withStore(
      { ...singleTable, layout: "json", attributeNames: { body: "payload", digest: "hash" } },
      (store) =>
        Effect.gen(function*() {
          yield* store.put(order("o-1"))
          assert.deepStrictEqual(yield* store.put(order("o-1")), { _tag: "AlreadyStored", id: "o-1" })
          assert.strictEqual((yield* Effect.flip(store.put(order("o-1", { total: 1 }))))._tag, "EventConflictError")
          const [item] = yield* GroundTruth.scanTable(store.tableName)
          assert.deepStrictEqual(Object.keys(item ?? {}).sort(), ["hash", "payload", "pk", "sk", "storedAt", "writes"])
          assert.strictEqual(JSON.parse(item?.payload?.S ?? "").placedAt, "2024-05-01T10:00:00.000Z")
          assert.deepStrictEqual(yield* store.get("o-1"), Option.some(order("o-1")))
          assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(store.list())), [order("o-1")])
        })
    ))

  it.effect("a key derived from the event: idempotent per key, read with getByKey, and get(id) is a defect naming getByKey", () =>
    withStore(
      {
        schema: Order,
        layout: "attributes",
        key: { partition: { name: "pk", fromEvent: (o: Order) => `CUSTOMER#${o.customer}` }, sort: { name: "sk" } }
      },
      (store) =>
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* store.put(order("o-1")), { _tag: "Stored", id: "o-1" })
          assert.deepStrictEqual(yield* store.put(order("o-1")), { _tag: "AlreadyStored", id: "o-1" })
          // The same id under another customer is another key.
          assert.deepStrictEqual(yield* store.put(order("o-1", { customer: "c-2" })), { _tag: "Stored", id: "o-1" })
          assert.deepStrictEqual(
            yield* store.getByKey({ partition: "CUSTOMER#c-2", sort: "o-1" }),
            Option.some(order("o-1", { customer: "c-2" }))
          )
          const exit = yield* Effect.exit(store.get("o-1"))
          assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
          if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "use getByKey")
        })
    ))

  it.effect("a number sort key taken from an event field: the field is the key, stored once, and decoded back", () => {
    const Recorded = Schema.Struct({ id: Schema.String, stream: Schema.String, version: Schema.Number })
    const recorded = (version: number) => ({ id: `s-1/${version}`, stream: "s-1", version })
    return withStore(
      {
        schema: Recorded,
        layout: "attributes",
        key: {
          partition: { name: "stream", fromEvent: (e: typeof Recorded.Type) => e.stream },
          sort: { name: "version", type: "N", fromEvent: (e: typeof Recorded.Type) => e.version }
        }
      },
      (store) =>
        Effect.gen(function*() {
          assert.sameDeepMembers([...((yield* describeKey(store.tableName)).attributes ?? [])], [
            { AttributeName: "stream", AttributeType: "S" },
            { AttributeName: "version", AttributeType: "N" }
          ])
          yield* Effect.forEach([1, 2], (v) => store.put(recorded(v)))
          assert.deepStrictEqual(yield* store.put(recorded(2)), { _tag: "AlreadyStored", id: "s-1/2" })
          const items = yield* GroundTruth.scanTable(store.tableName)
          assert.deepStrictEqual(
            items.map((item) => [item.stream, item.version, item.id]),
            [[{ S: "s-1" }, { N: "1" }, { S: "s-1/1" }], [{ S: "s-1" }, { N: "2" }, { S: "s-1/2" }]]
          )
          assert.deepStrictEqual(yield* store.getByKey({ partition: "s-1", sort: 2 }), Option.some(recorded(2)))
          assert.deepStrictEqual(
            Chunk.toReadonlyArray(yield* Stream.runCollect(store.list())).map((e) => e.version).sort(),
            [1, 2]
          )
        })
    )
  })

  it.effect("a name that collides is a ConfigurationError naming it when the store is built", () =>
    Effect.gen(function*() {
      const Counted = Schema.Struct({ id: Schema.String, writes: Schema.Number })
      const cases: ReadonlyArray<
        readonly [string, EventStore.Options<typeof Counted.Type, typeof Counted.Encoded>, string]
      > = [
        ["an event field", { tableName: "t", schema: Counted, layout: "attributes" }, "attributeNames.writes"],
        [
          "a key attribute",
          { tableName: "t", schema: Counted, key: { partition: { name: "pk" } }, attributeNames: { digest: "pk" } },
          "attributeNames.digest"
        ],
        [
          "the partition key",
          { tableName: "t", schema: Counted, key: { partition: { name: "pk" }, sort: { name: "pk" } } },
          "key.sort.name"
        ],
        [
          "another store attribute",
          { tableName: "t", schema: Counted, attributeNames: { body: "digest" } },
          "attributeNames.digest"
        ],
        ["a number key valued by the id", {
          tableName: "t",
          schema: Counted,
          key: { partition: { name: "n", type: "N" } }
        }, "key.partition"]
      ]
      for (const [name, options, setting] of cases) {
        const error = yield* Effect.flip(EventStore.make(options))
        assert.strictEqual(error._tag, "ConfigurationError", name)
        assert.strictEqual(error.setting, setting, name)
      }
      const clash = yield* Effect.flip(EventStore.make(cases[0]![1]))
      assert.include(clash.message, `"writes" is also a field of the event`)
      // Renamed, or in the json layout, there is no clash.
      yield* EventStore.make({ tableName: "t", schema: Counted, layout: "attributes", attributeNames: { writes: "n" } })
      yield* EventStore.make({ tableName: "t", schema: Counted })
    }))

  it.effect("a clash only the event shows is an InvalidEventError naming the field, and nothing is written", () =>
    Effect.gen(function*() {
      // A record declares no fields: a store attribute among its keys shows only at put time.
      const Loose = Schema.Record({ key: Schema.String, value: Schema.String })
      yield* withStore({ schema: Loose, layout: "attributes" }, (store) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(store.put({ id: "r-1", digest: "mine" }))
          assert.strictEqual(error._tag, "InvalidEventError")
          if (error._tag !== "InvalidEventError") return
          assert.deepStrictEqual(error.issues.map((i) => i.path), ["digest"])
          assert.include(error.message, "attributeNames.digest")
          assert.strictEqual((yield* GroundTruth.scanTable(store.tableName)).length, 0)
        }))
      // An event field named like a key attribute must hold the key's value.
      yield* withStore(
        {
          schema: Order,
          layout: "attributes",
          key: { partition: { name: "customer", fromId: (id) => `ORDER#${id}` } }
        },
        (store) =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(store.put(order("o-1")))
            assert.strictEqual(error._tag, "InvalidEventError")
            if (error._tag !== "InvalidEventError") return
            assert.deepStrictEqual(error.issues.map((i) => i.path), ["customer"])
            assert.include(error.message, `"ORDER#o-1"`)
            assert.strictEqual((yield* GroundTruth.scanTable(store.tableName)).length, 0)
          })
      )
    }))

  it.effect("a key function that throws or gives a bad value is an InvalidEventError on the key attribute", () =>
    Effect.gen(function*() {
      const keys: ReadonlyArray<readonly [string, EventStore.KeyOptions<Order>, string, RegExp]> = [
        [
          "throws",
          {
            partition: {
              name: "pk",
              fromEvent: () => {
                throw new Error("no key for you")
              }
            }
          },
          "pk",
          /key\.partition\.fromEvent threw: no key for you/
        ],
        ["empty", { partition: { name: "pk", fromId: () => "" } }, "pk", /non-empty string, got an empty string/],
        [
          "not a number",
          {
            partition: { name: "pk" },
            sort: { name: "sk", type: "N", fromEvent: (o) => o.customer }
          },
          "sk",
          /finite number, got a string/
        ]
      ]
      for (const [name, key, path, message] of keys) {
        yield* withStore({ schema: Order, layout: "attributes", key }, (store) =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(store.put(order("o-1")))
            assert.strictEqual(error._tag, "InvalidEventError", name)
            if (error._tag !== "InvalidEventError") return
            assert.deepStrictEqual(error.issues.map((i) => i.path), [path], name)
            assert.match(error.message, message, name)
            assert.strictEqual((yield* GroundTruth.scanTable(store.tableName)).length, 0, `${name}: nothing written`)
          }))
      }
    }))

  it.effect.prop(
    "whatever the plan, every order reported stored is in the pk/sk attributes table exactly once",
    [
      Arbitraries.faultPlan({
        services: ["dynamodb"],
        faults: ["throttle", "status503", "reset", "lostResponse"],
        maxProbability: 0.25
      }),
      Arbitraries.credentialEvents({ horizonMs: 200, maxEvents: 2, maxOutageMs: 100 })
    ],
    ([plan, events]) =>
      withStore(singleTable, (store) =>
        Effect.gen(function*() {
          const report = yield* Scenario.run(
            Effect.forEach(Array.from({ length: 12 }, (_, i) => order(`o-${i}`)), (o) => Effect.either(store.put(o)), {
              concurrency: 4
            }),
            { plan, events }
          )
          assert.isTrue(Exit.isSuccess(report.exit))
          if (!Exit.isSuccess(report.exit)) return
          const stored = report.exit.value.flatMap((r) => (r._tag === "Right" ? [r.right.id] : []))
          const items = yield* GroundTruth.scanTable(store.tableName)
          const keys = items.map((item) => item.pk?.S)
          for (const id of stored) assert.isTrue(keys.includes(`ORDER#${id}`), `${id} was reported stored`)
          for (const item of items) assert.strictEqual(item._writes?.N, "1", `${item.pk?.S} written once`)
        })),
    { fastCheck: { numRuns: 4 } }
  )
})
