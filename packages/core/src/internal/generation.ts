/**
 * The verdicts of the newest generations, kept by the credentials engine (the rules are `Generation`'s).
 */
import * as Generation from "../Generation.js"

/**
 * What AWS has said of the newest generations: the newest one it accepted, and how many requests it served with it.
 * Plain numbers, so the hot path pays one comparison per success.
 */
export class Verdicts {
  private acceptedUpTo = Generation.none
  // Successes with `acceptedUpTo`, the newest generation AWS accepted.
  private successes = 0
  /** Records a success with generation `generation`; `true` when that is news (its first success). */
  accept(generation: number): boolean {
    if (generation === this.acceptedUpTo) {
      this.successes++
      return false
    }
    if (generation < this.acceptedUpTo) return false
    this.acceptedUpTo = generation
    this.successes = 1
    return true
  }
  /** How many requests AWS served with `generation` so far: 0 for one never accepted, `Infinity` for an older one. */
  successesOf(generation: number): number {
    return generation === this.acceptedUpTo ? this.successes : generation > this.acceptedUpTo ? 0 : Infinity
  }
  /**
   * Whether a rejection of `generation`, seen when it had `before` successes, is worth trying the same set again
   * for: when AWS had never accepted it then (a new key still propagating), or has accepted it since (the rejection
   * was of a request signed while it propagated).
   */
  worthRetrying(generation: number, before: number): boolean {
    return before === 0 || this.successesOf(generation) > before
  }
}
