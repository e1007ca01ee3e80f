/**
 * The request slots of one managed client: at most `limit()` requests in flight, the calls beyond it waiting in
 * order, unsigned, those already under way (retries) ahead of new ones. A request signed and then queued in the HTTP
 * agent would carry credentials that a revocation can void before it is sent; here it waits before it is signed.
 *
 * A waiter is plain code (`wake`), run when a slot frees, in the same step: the fast path of a call waits at the cost
 * of one closure, not of an effect.
 */

/** One waiting call. `wake` runs once, when a slot is its; `fiber` identifies it for an interruption. */
export interface Waiter {
  readonly fiber: unknown
  readonly wake: () => void
}

export interface Slots {
  /** Whether a call may take a slot now without waiting: one is free and nobody waits. */
  readonly open: () => boolean
  /** Queues `waiter` (ahead of new calls when `first`). */
  readonly wait: (waiter: Waiter, first: boolean) => void
  /** Takes `waiter` out of the queue; `false` when it is not there (it was woken). */
  readonly cancel: (waiter: Waiter) => boolean
  /** Takes out the waiters of `fiber`; how many. */
  readonly cancelFiber: (fiber: unknown) => number
  /** Wakes waiters while slots are free; run after a slot was given back. */
  readonly release: () => void
  readonly waiting: () => number
}

/** `inUse()` counts the slots taken (the borrows in flight); a woken waiter must take its slot in `wake`. */
export const make = (limit: () => number, inUse: () => number): Slots => {
  // A queue with a moving head: taking the first is O(1).
  let queue: Array<Waiter | undefined> = []
  let head = 0
  // How many at the head are calls under way.
  let ahead = 0
  let size = 0
  let waking = false
  const compact = () => {
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head)
      head = 0
    }
  }
  const remove = (at: number) => {
    queue.splice(at, 1)
    size--
    if (at - head < ahead) ahead--
  }
  return {
    open: () => size === 0 && inUse() < limit(),
    wait: (waiter, first) => {
      size++
      if (first) queue.splice(head + ahead++, 0, waiter)
      else queue.push(waiter)
    },
    cancel: (waiter) => {
      const at = queue.indexOf(waiter, head)
      if (at < 0) return false
      remove(at)
      return true
    },
    cancelFiber: (fiber) => {
      let removed = 0
      for (let at = queue.length - 1; at >= head; at--) {
        if (queue[at]!.fiber === fiber) {
          remove(at)
          removed++
        }
      }
      return removed
    },
    release: () => {
      // A waiter's request may fail at once and give its slot back inside `wake`: the outer loop goes on.
      if (waking) return
      waking = true
      try {
        while (size > 0 && inUse() < limit()) {
          const waiter = queue[head]!
          queue[head++] = undefined
          size--
          if (ahead > 0) ahead--
          waiter.wake()
        }
        compact()
      } finally {
        waking = false
      }
    },
    waiting: () => size
  }
}
