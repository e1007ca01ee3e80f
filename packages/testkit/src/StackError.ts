/**
 * Errors raised while starting the local AWS stack.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

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

/** @internal */
export const fromListenError = (component: string, host: string, port: number) => (cause: unknown): StackError =>
  typeof cause === "object" && cause !== null && "code" in cause && cause.code === "EADDRINUSE"
    ? new PortInUseError({ component, host, port, cause })
    : new StartError({ component, cause })
