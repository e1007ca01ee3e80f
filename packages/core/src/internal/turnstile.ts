/**
 * Lets fibers through in groups, one group per turn of the event loop, in the order they came: first `initial`,
 * then twice as many each turn while any wait (as TCP's slow start does), and `initial` again once none is left.
 *
 * After a renewal, every call that waited for it would otherwise sign and send its request in one burst that holds
 * the event loop for as long as they all take (about 0.3 ms each, so 300 ms for 1,000 calls), and the first
 * responses on the new credentials would wait behind it. Through the turnstile the first few go at once, and
 * between two groups the event loop reads what has arrived; the doubling empties a backlog of n in about log2(n)
 * turns, so that calls arriving meanwhile (which queue behind it) are not held up for long.
 */
import * as Effect from "effect/Effect"

export interface Turnstile {
  readonly pass: Effect.Effect<void>
  /** How many fibers are waiting to pass. */
  readonly waiting: () => number
}

// Node runs immediates queued during its check phase on the next turn, after polling for I/O.
const nextTurnOfEventLoop: (f: () => void) => void = typeof globalThis.setImmediate === "function"
  ? (f) => globalThis.setImmediate(f)
  : (f) => globalThis.setTimeout(f, 0)

/** `nextTurn` schedules a function for the next turn of the event loop (tests pass their own). */
export const make = (initial: number, nextTurn: (f: () => void) => void = nextTurnOfEventLoop): Turnstile => {
  let allowance = initial
  let passed = 0
  let scheduled = false
  const queue: Array<() => void> = []
  const turn = () => {
    scheduled = false
    passed = 0
    if (queue.length === 0) {
      allowance = initial
      return
    }
    allowance *= 2
    while (passed < allowance && queue.length > 0) {
      passed++
      queue.shift()!()
    }
    schedule()
  }
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    nextTurn(turn)
  }
  return {
    pass: Effect.async<void>((resume) => {
      schedule()
      if (queue.length === 0 && passed < allowance) {
        passed++
        resume(Effect.void)
        return
      }
      const go = () => resume(Effect.void)
      queue.push(go)
      return Effect.sync(() => {
        const at = queue.indexOf(go)
        if (at >= 0) queue.splice(at, 1)
      })
    }),
    waiting: () => queue.length
  }
}
