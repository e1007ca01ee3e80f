/**
 * The verdicts of the newest generations, kept by the credentials engine (the rules are `Generation`'s).
 */
import * as Generation from "../Generation.js"

/**
 * Tracks the verdicts of the newest generations: the newest one AWS accepted, and the newest one it rejected.
 * Plain numbers, so the hot path pays one comparison per success.
 */
export class Verdicts {
  private acceptedUpTo = Generation.none
  private rejectedUpTo = Generation.none
  /** Records a success with generation `generation`; `true` when that is news (its first success). */
  accept(generation: number): boolean {
    if (generation <= this.acceptedUpTo) return false
    this.acceptedUpTo = generation
    return true
  }
  reject(generation: number): void {
    if (generation > this.rejectedUpTo) this.rejectedUpTo = generation
  }
  of(generation: number): Generation.Verdict {
    const accepted = this.acceptedUpTo >= generation
    if (this.rejectedUpTo >= generation) return { _tag: "Rejected", accepted }
    return accepted ? { _tag: "Accepted" } : { _tag: "Untried" }
  }
  /** A rejection of this generation may be a new set still propagating: worth trying the same set again. */
  mayBePropagating(generation: number): boolean {
    return this.acceptedUpTo < generation
  }
}
