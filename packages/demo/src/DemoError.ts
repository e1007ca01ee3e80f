/**
 * Errors of the demo's command line: a `--faults` flag it cannot read, a millisecond flag (`--lag`, `--propagation`,
 * `--rotate-every`) with a bad value, and a replay that found problems.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/demo/DemoError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The replay found problems (see `Demo.problems`): the run exits non-zero.
 *
 * @since 0.1.0
 * @category errors
 */
export class DemoFailed extends Data.TaggedError("DemoFailed")<{ readonly problems: ReadonlyArray<string> }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return this.problems.join(", ")
  }
}

/**
 * The `--faults` flag names an unknown fault or a probability outside [0, 1].
 *
 * @since 0.1.0
 * @category errors
 */
export class BadFaultMix extends Data.TaggedError("BadFaultMix")<{ readonly input: string; readonly reason: string }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `--faults ${
      JSON.stringify(this.input)
    }: ${this.reason} (expected e.g. throttle=0.02,status503=0.02,lostResponse=0.01)`
  }
}

/**
 * A flag that takes milliseconds (`--lag`, `--propagation`, `--rotate-every`) got something else: not a number, a
 * negative one, a fraction, or 0 where a period is needed.
 *
 * @since 0.1.0
 * @category errors
 */
export class BadFlagValue extends Data.TaggedError("BadFlagValue")<{
  readonly flag: string
  readonly input: string
  readonly expected: string
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${this.flag} ${JSON.stringify(this.input)}: expected ${this.expected}`
  }
}

/**
 * Any error of the demo.
 *
 * @since 0.1.0
 * @category errors
 */
export type DemoError = DemoFailed | BadFaultMix | BadFlagValue

/**
 * @since 0.1.0
 * @category guards
 */
export const isDemoError = (u: unknown): u is DemoError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isDemoFailed = (u: unknown): u is DemoFailed => isDemoError(u) && u._tag === "DemoFailed"

/**
 * @since 0.1.0
 * @category guards
 */
export const isBadFaultMix = (u: unknown): u is BadFaultMix => isDemoError(u) && u._tag === "BadFaultMix"

/**
 * @since 0.1.0
 * @category guards
 */
export const isBadFlagValue = (u: unknown): u is BadFlagValue => isDemoError(u) && u._tag === "BadFlagValue"
