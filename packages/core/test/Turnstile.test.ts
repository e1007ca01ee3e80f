import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Fiber } from "effect"
import * as Turnstile from "../src/internal/turnstile.js"

// A hand-driven event loop: `turn` runs what was scheduled for the next turn, then lets the fibers it resumed run.
const manualLoop = () => {
  let pending: Array<() => void> = []
  const drain = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
  return {
    nextTurn: (f: () => void) => void pending.push(f),
    drain,
    turn: Effect.zipRight(
      Effect.sync(() => {
        const due = pending
        pending = []
        for (const f of due) f()
      }),
      drain
    ),
    scheduled: () => pending.length
  }
}

describe("Turnstile", () => {
  it.effect.prop(
    "lets `initial` through at once, then twice as many each turn, in the order they came; the interrupted never pass",
    [
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 0, max: 300 }),
      fc.func(fc.boolean())
    ],
    ([initial, n, interrupts]) =>
      Effect.gen(function*() {
        const loop = manualLoop()
        const turnstile = Turnstile.make(initial, loop.nextTurn)
        const passed: Array<number> = []
        const fibers = yield* Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) => Effect.fork(Effect.zipRight(turnstile.pass, Effect.sync(() => passed.push(i))))
        )
        yield* loop.drain
        // The first `initial` went through in the turn they came in.
        assert.deepStrictEqual(passed, Array.from({ length: Math.min(n, initial) }, (_, i) => i))
        assert.strictEqual(turnstile.waiting(), Math.max(0, n - initial))
        // Some of those still waiting are interrupted: they never pass and take no one's place.
        const interrupted = new Set<number>()
        for (let i = initial; i < n; i++) {
          if (interrupts(i)) {
            interrupted.add(i)
            yield* Fiber.interrupt(fibers[i]!)
          }
        }
        const expected = Array.from({ length: n }, (_, i) => i).filter((i) => !interrupted.has(i))
        let allowance = initial
        let turns = 0
        while (passed.length < expected.length) {
          const before = passed.length
          allowance *= 2
          yield* loop.turn
          turns++
          assert.strictEqual(passed.length - before, Math.min(allowance, expected.length - before), `turn ${turns}`)
          assert.isAtMost(turns, 20)
        }
        assert.deepStrictEqual(passed, expected)
        assert.strictEqual(turnstile.waiting(), 0)
        // A turn with no one waiting ends the run: the next burst starts again at `initial`.
        yield* loop.turn
        assert.strictEqual(loop.scheduled(), 0)
        const later: Array<number> = []
        yield* Effect.forEach(
          Array.from({ length: initial + 1 }, (_, i) => i),
          (i) => Effect.fork(Effect.zipRight(turnstile.pass, Effect.sync(() => later.push(i))))
        )
        yield* loop.drain
        assert.strictEqual(later.length, initial)
        yield* loop.turn
        assert.strictEqual(later.length, initial + 1)
      })
  )
})
