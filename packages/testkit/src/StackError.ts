/**
 * Errors raised while starting the local AWS stack.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/testkit/StackError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A server of the stack asked for a fixed port that another process already holds.
 *
 * @since 0.1.0
 * @category errors
 */
export class PortInUseError extends Data.TaggedError("PortInUseError")<{
  readonly component: string
  readonly host: string
  readonly port: number
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${this.component} cannot listen on ${this.host}:${this.port}: the port is already in use`
  }
}

/**
 * A server of the stack failed to start for another reason than a taken port.
 *
 * @since 0.1.0
 * @category errors
 */
export class StartError extends Data.TaggedError("StartError")<{
  readonly component: string
  readonly cause: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `${this.component} failed to start: ${reason}`
  }
}

/**
 * Any error raised while starting the stack.
 *
 * @since 0.1.0
 * @category errors
 */
export type StackError = PortInUseError | StartError

/**
 * @since 0.1.0
 * @category guards
 */
export const isStackError = (u: unknown): u is StackError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isPortInUseError = (u: unknown): u is PortInUseError => isStackError(u) && u._tag === "PortInUseError"

/**
 * @since 0.1.0
 * @category guards
 */
export const isStartError = (u: unknown): u is StartError => isStackError(u) && u._tag === "StartError"
