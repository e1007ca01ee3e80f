/**
 * The request slots of a managed client: never more requests in flight than the limit, and the waiting calls let in
 * in order, those already under way (retries, withdrawn requests) ahead of new ones.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import * as Slots from "../src/internal/slots.js"

type Step = { readonly _tag: "New" } | { readonly _tag: "Retry" } | { readonly _tag: "Done" } | {
  readonly _tag: "Cancel"
}

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant({ _tag: "New" } as const),
  fc.constant({ _tag: "Retry" } as const),
  fc.constant({ _tag: "Done" } as const),
  fc.constant({ _tag: "Cancel" } as const)
)

describe("Slots", () => {
  it.effect.prop(
    "at most `limit` in use; retries are let in before new calls, each kind in the order it came",
    [fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 80 })],
    ([limit, steps]) =>
      Effect.sync(() => {
        let inUse = 0
        const slots = Slots.make(() => limit, () => inUse)
        const woken: Array<{ readonly id: number; readonly retry: boolean }> = []
        const waiting: Array<{ readonly id: number; readonly retry: boolean; readonly waiter: Slots.Waiter }> = []
        let next = 0
        for (const s of steps) {
          if (s._tag === "Done") {
            if (inUse > 0) inUse--
            slots.release()
          } else if (s._tag === "Cancel") {
            const last = waiting.pop()
            if (last !== undefined) slots.cancel(last.waiter)
          } else {
            const id = next++
            const retry = s._tag === "Retry"
            if (slots.open() && !retry) {
              inUse++
              continue
            }
            const waiter: Slots.Waiter = {
              fiber: id,
              wake: () => {
                inUse++
                woken.push({ id, retry })
                const at = waiting.findIndex((w) => w.id === id)
                if (at >= 0) waiting.splice(at, 1)
              }
            }
            waiting.push({ id, retry, waiter })
            slots.wait(waiter, retry)
            slots.release()
          }
          assert.isAtMost(inUse, limit)
        }
        // Among the calls woken, a new call never went before a retry that was already waiting when it was woken.
        const order = woken.map((w) => w.id)
        const retries = woken.filter((w) => w.retry).map((w) => w.id)
        const news = woken.filter((w) => !w.retry).map((w) => w.id)
        assert.deepStrictEqual(retries, [...retries].sort((a, b) => a - b), "retries in order")
        assert.deepStrictEqual(news, [...news].sort((a, b) => a - b), "new calls in order")
        for (const w of woken) {
          if (w.retry) continue
          const at = order.indexOf(w.id)
          // A retry that came before this new call was woken is not woken after it.
          const passed = woken.slice(at + 1).filter((later) => later.retry && later.id < w.id)
          assert.deepStrictEqual(passed, [], `new call ${w.id} went ahead of an earlier retry`)
        }
        assert.strictEqual(slots.waiting(), waiting.length)
      })
  )

  it.effect("a waiter of an interrupted fiber is taken out of the queue", () =>
    Effect.sync(() => {
      let inUse = 1
      const slots = Slots.make(() => 1, () => inUse)
      const woken: Array<string> = []
      slots.wait({ fiber: "a", wake: () => woken.push("a") }, false)
      slots.wait({ fiber: "b", wake: () => woken.push("b") }, false)
      assert.strictEqual(slots.cancelFiber("a"), 1)
      inUse = 0
      slots.release()
      assert.deepStrictEqual(woken, ["b"])
    }))
})
