/**
 * Credential events and their arbitraries, without a stack: periodic events on the TestClock, the events' new knobs
 * (source lag, propagation, malformed windows) as the arbitraries generate and shrink them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, FastCheck as fc, Fiber, Stream, TestClock } from "effect"
import * as Arbitraries from "../src/Arbitraries.js"
import * as CredentialEvent from "../src/CredentialEvent.js"
import * as CredentialsAuthority from "../src/CredentialsAuthority.js"

describe("CredentialEvent", () => {
  it.effect("every emits the event once a period, with its due time", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Stream.runCollect(Stream.take(CredentialEvent.every("2 seconds", { _tag: "Revoke", atMs: 0, lagMs: 5 }), 3))
      )
      yield* TestClock.adjust("5 seconds")
      assert.isNull(fiber.unsafePoll(), "the third is due at 6 seconds")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(fiber)), [
        { _tag: "Revoke", atMs: 2000, lagMs: 5 },
        { _tag: "Revoke", atMs: 4000, lagMs: 5 },
        { _tag: "Revoke", atMs: 6000, lagMs: 5 }
      ])
    }))

  it.scopedLive("a Malformed event without the gateway is a defect", () =>
    Effect.gen(function*() {
      const authority = yield* CredentialsAuthority.make()
      const exit = yield* Effect.exit(CredentialEvent.apply(authority, { _tag: "Malformed", atMs: 0, forMs: 1 }))
      assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Die", String(exit))
    }))
})

describe("Arbitraries.credentialEvent(s)", () => {
  it("the arbitraries' defaults generate the events they did before", () => {
    const events = fc.sample(Arbitraries.credentialEvent(), { numRuns: 300, seed: 7 })
    assert.deepStrictEqual(new Set(events.map((e) => e._tag)), new Set(["Rotate", "Revoke", "Expire", "Outage"]))
    assert.isTrue(events.every((e) => !("lagMs" in e) && !("propagationMs" in e)))
  })

  it("the arbitraries generate lags, propagations and malformed windows within their bounds", () => {
    const events = fc.sample(
      Arbitraries.credentialEvent({
        kinds: ["Rotate", "Revoke", "Expire", "Outage", "Malformed"],
        maxLagMs: 500,
        maxPropagationMs: 400,
        maxMalformedMs: 250
      }),
      { numRuns: 500, seed: 7 }
    )
    assert.deepStrictEqual(
      new Set(events.map((e) => e._tag)),
      new Set(["Rotate", "Revoke", "Expire", "Outage", "Malformed"])
    )
    const lags = events.flatMap((e) => (e._tag === "Revoke" || e._tag === "Expire" ? [e.lagMs] : []))
    const propagations = events.flatMap((e) => (e._tag === "Rotate" ? [e.propagationMs] : []))
    const windows = events.flatMap((e) => (e._tag === "Malformed" ? [e.forMs] : []))
    assert.isTrue(lags.every((ms) => ms !== undefined && ms >= 0 && ms <= 500))
    assert.isTrue(propagations.every((ms) => ms !== undefined && ms >= 0 && ms <= 400))
    assert.isTrue(windows.every((ms) => ms >= 1 && ms <= 250))
    assert.isTrue(lags.some((ms) => ms! > 250) && propagations.some((ms) => ms! > 200), "the ranges are covered")
  })

  it("a lag shrinks to the smallest that still breaks the property", () => {
    const result = fc.check(
      fc.property(
        Arbitraries.credentialEvents({ maxLagMs: 1000, maxPropagationMs: 1000 }),
        (events) => events.every((e) => e._tag !== "Revoke" || (e.lagMs ?? 0) < 100)
      ),
      { seed: 42 }
    )
    assert.isTrue(result.failed)
    assert.deepStrictEqual(result.counterexample![0], [{ _tag: "Revoke", atMs: 0, lagMs: 100 }])
  })
})
