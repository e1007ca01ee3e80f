import { AwsError, Credentials, RetryPolicy } from "@aws-resilience/core"
import { Arbitraries, GroundTruth, LocalAws, Scenario } from "@aws-resilience/testkit"
import { assert, layer } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Layer, Option, Schema, Stream, TestClock, TestContext } from "effect"
import { DynamoDB, EventStore } from "../src/index.js"

const Event = Schema.Struct({
  id: Schema.String,
  kind: Schema.Literal("created", "updated"),
  amount: Schema.Number
})
type Event = typeof Event.Type
class Events extends Context.Tag("test/Events")<Events, EventStore.EventStore<Event>>() {}

let tables = 0
const withStore = <A, E>(
  f: (store: EventStore.EventStore<Event>) => Effect.Effect<A, E, LocalAws.LocalAws>,
  idOf?: (event: Event) => string
) =>
  Effect.gen(function*() {
    const store = yield* EventStore.make({
      tableName: `events-${Date.now().toString(36)}-${tables++}`,
      schema: Event,
      idOf
    })
    yield* store.ensureTable
    return yield* f(store)
  })

const event = (i: number, amount = i): Event => ({ id: `e-${i}`, kind: "created", amount })

const Live = DynamoDB.layerConfig().pipe(
  Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layer({ maxAttempts: 6 }))),
  Layer.provideMerge(LocalAws.layerWithEnv())
)

layer(Live, { excludeTestServices: true })("EventStore", (it) => {
  it.effect("put is idempotent, and a different event under the same id is a conflict", () =>
    withStore((store) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* store.put(event(1)), { _tag: "Stored", id: "e-1" })
        assert.deepStrictEqual(yield* store.put(event(1)), { _tag: "AlreadyStored", id: "e-1" })
        const conflict = yield* Effect.flip(store.put(event(1, 99)))
        assert.strictEqual(conflict._tag, "EventConflictError")
        assert.deepStrictEqual(yield* store.get("e-1"), Option.some(event(1)))
        assert.deepStrictEqual(yield* store.get("missing"), Option.none())
      })
    ))

  it.effect("an event the schema rejects is a typed error naming the field, and nothing is written", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(store.put({ id: "bad", kind: "deleted", amount: 1 } as any))
        assert.strictEqual(error._tag, "InvalidEventError")
        assert.include(error.message, "kind")
        assert.strictEqual((yield* GroundTruth.scanTable(store.tableName)).length, 0)
      })
    ))

  it.effect("an event over DynamoDB's 400 KB item limit is a typed error naming it, sent once, nothing written", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const store = yield* EventStore.make({
        tableName: `events-${Date.now().toString(36)}-${tables++}`,
        schema: Schema.Struct({ id: Schema.String, note: Schema.String })
      })
      yield* store.ensureTable
      yield* stack.gateway.resetStats
      const error = yield* Effect.flip(store.put({ id: "big", note: "x".repeat(500_000) }))
      assert.strictEqual(error._tag, "ServiceError")
      assert.isTrue(AwsError.hasCode(error, "ValidationException"), String(error))
      assert.include(error.message, "maximum allowed size")
      // Refused by DynamoDB, not retried (the gateway passed one request on), and nothing written.
      assert.deepStrictEqual((yield* stack.gateway.stats).byOutcome, { ok: 1 })
      assert.strictEqual((yield* GroundTruth.scanTable(store.tableName)).length, 0)
    }))

  it.effect("an idOf that throws, or gives an empty or non-string id, is an InvalidEventError on the id", () =>
    Effect.gen(function*() {
      const idOfs: ReadonlyArray<readonly [string, (event: Event) => string]> = [
        ["throws", () => {
          throw new Error("no id for you")
        }],
        ["empty", () => ""],
        ["number", (e) => e.amount as unknown as string],
        ["undefined", () => undefined as unknown as string]
      ]
      for (const [name, idOf] of idOfs) {
        yield* withStore((store) =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(store.put(event(1)))
            assert.strictEqual(error._tag, "InvalidEventError", name)
            if (error._tag !== "InvalidEventError") return
            assert.deepStrictEqual(error.issues.map((i) => i.path), ["id"], name)
            assert.match(error.message, /id: /, name)
            assert.strictEqual((yield* GroundTruth.scanTable(store.tableName)).length, 0, `${name}: nothing written`)
          }), idOf)
      }
    }))

  it.effect("put stamps storedAt from Effect's Clock", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2001, 8, 9, 1, 46, 40)).pipe(
          Effect.zipRight(store.put(event(1))),
          Effect.provide(TestContext.TestContext)
        )
        const items = yield* GroundTruth.scanTable(store.tableName)
        assert.strictEqual(items[0]?.storedAt?.S, "2001-09-09T01:46:40.000Z")
      })
    ))

  it.effect("a conflict is recognised by its TypeId guard, not by its tag", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.put(event(1))
        const conflict = yield* Effect.flip(store.put(event(1, 99)))
        assert.isTrue(EventStore.isEventConflictError(conflict))
        assert.isFalse(EventStore.isEventConflictError({ _tag: "EventConflictError", tableName: "t", id: "e-1" }))
        assert.isFalse(
          EventStore.isEventConflictError(yield* Effect.flip(store.put({ ...event(2), amount: "x" as any })))
        )
      })
    ))

  it.effect("list pages through every event, decoded", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* Effect.forEach(Array.from({ length: 23 }, (_, i) => event(i)), store.put, { concurrency: 8 })
        const listed = yield* Stream.runCollect(store.list({ pageSize: 5 }))
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(listed).map((e) => e.id).sort(),
          Array.from({ length: 23 }, (_, i) => `e-${i}`).sort()
        )
      })
    ))

  it.effect("put stays idempotent when the response to a landed write is lost", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const report = yield* Scenario.run(store.put(event(7)), {
          plan: {
            seed: 3,
            rules: [{ service: "dynamodb", operation: "UpdateItem", fault: "lostResponse", probability: 1, times: 1 }]
          }
        })
        assert.deepStrictEqual(report.exit, Exit.succeed({ _tag: "AlreadyStored" as const, id: "e-7" }))
        assert.strictEqual(report.requests.byOutcome.lostResponse, 1)
        const items = yield* GroundTruth.scanTable(store.tableName)
        assert.strictEqual(items.length, 1)
        assert.strictEqual(items[0]?.writes?.N, "1", "the retry did not write a second time")
      })
    ))

  it.effect("a store is provided under the caller's own tag", () =>
    Effect.gen(function*() {
      const store = yield* Events
      yield* store.ensureTable
      assert.deepStrictEqual(yield* store.put(event(1)), { _tag: "Stored", id: "e-1" })
    }).pipe(
      Effect.provide(EventStore.layer(Events, { tableName: `typed-${Date.now().toString(36)}`, schema: Event }))
    ))

  it.effect.prop(
    "whatever the plan, every event put reported as stored is in the table exactly once",
    [
      Arbitraries.faultPlan({
        services: ["dynamodb"],
        faults: ["throttle", "status503", "reset", "lostResponse"],
        maxProbability: 0.25
      }),
      Arbitraries.credentialEvents({ horizonMs: 200, maxEvents: 2, maxOutageMs: 100 })
    ],
    ([plan, events]) =>
      withStore((store) =>
        Effect.gen(function*() {
          const report = yield* Scenario.run(
            Effect.forEach(Array.from({ length: 15 }, (_, i) => event(i)), (e) => Effect.either(store.put(e)), {
              concurrency: 5
            }),
            { plan, events }
          )
          assert.isTrue(Exit.isSuccess(report.exit))
          if (!Exit.isSuccess(report.exit)) return
          const stored = report.exit.value.flatMap((r) => (r._tag === "Right" ? [r.right.id] : []))
          const items = yield* GroundTruth.scanTable(store.tableName)
          const ids = items.map((item) => item.id?.S)
          for (const id of stored) assert.isTrue(ids.includes(id), `${id} was reported stored`)
          // One item per id is the table's key; that each landed once is what `writes` tells.
          for (const item of items) assert.strictEqual(item.writes?.N, "1", `${item.id?.S} written once`)
        })
      ),
    { fastCheck: { numRuns: 6 } }
  )
})
