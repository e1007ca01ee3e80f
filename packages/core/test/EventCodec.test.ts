import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { EventCodec } from "../src/index.js"

const Event = Schema.Struct({
  id: Schema.String,
  amount: Schema.Number.pipe(Schema.positive()),
  at: Schema.DateFromString
})

describe("EventCodec", () => {
  const codec = EventCodec.make(Event)

  it.effect("round-trips an event through JSON", () =>
    Effect.gen(function*() {
      const event = { id: "e-1", amount: 3, at: new Date("2026-01-02T03:04:05.000Z") }
      const json = yield* codec.encode(event)
      assert.deepStrictEqual(JSON.parse(json), { id: "e-1", amount: 3, at: "2026-01-02T03:04:05.000Z" })
      assert.deepStrictEqual(yield* codec.decode(json), event)
      assert.strictEqual(codec.idOf(event), "e-1")
    }))

  it.effect("names every bad field of a rejected event", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(codec.encode({ id: 7, amount: -1, at: new Date() } as any))
      assert.strictEqual(error._tag, "InvalidEventError")
      assert.deepStrictEqual(error.issues.map((i) => i.path), ["id", "amount"])
      assert.include(error.message, "amount")
    }))

  it.effect("rejects stored text that is not the schema's JSON", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(codec.decode("{\"id\":\"e\"}"))
      assert.strictEqual(error.direction, "decode")
      assert.include(error.message, "amount")
    }))

  it.effect("encodes through a schema with an asynchronous step, and rejects through it too", () =>
    Effect.gen(function*() {
      // The encoding side waits (as a lookup would): the synchronous encoder cannot run it.
      const Slow = Schema.transformOrFail(Schema.String, Schema.String, {
        strict: true,
        decode: (s) => Effect.succeed(s),
        encode: (s) => Effect.promise(() => Promise.resolve(s.toUpperCase()))
      })
      const slow = EventCodec.make(Schema.Struct({ id: Schema.String, name: Slow }))
      assert.deepStrictEqual(JSON.parse(yield* slow.encode({ id: "e-1", name: "ada" })), { id: "e-1", name: "ADA" })
      const error = yield* Effect.flip(slow.encode({ id: 1, name: "ada" } as any))
      assert.deepStrictEqual(error.issues.map((i) => i.path), ["id"])
    }))
})
