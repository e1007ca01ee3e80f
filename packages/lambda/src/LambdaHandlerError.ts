/**
 * The errors a Lambda handler of this package adds to its own: an invocation out of time, an execution environment
 * whose credentials cannot heal, and an event that is not what the handler takes. Failures of AWS calls stay in the
 * core `AwsError` taxonomy, and failures to build the layer are the layer's own errors.
 *
 * @since 0.1.0
 */
import type { AwsError } from "@aws-resilience/core"
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * Brands the errors of this module, so that they are recognised by `isLambdaHandlerError` rather than by
 * `instanceof`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/lambda/LambdaHandlerError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why an invocation ran out of time:
 * - `retry`: a retry was not started, because its delay would have ended too close to the deadline for it to finish;
 * - `running`: the handler was still running at the deadline, and was interrupted;
 * - `building`: the layer was still being built at the deadline;
 * - `notStarted`: no time was left to start (the invocation, or an SQS record waiting for its turn).
 *
 * @since 0.1.0
 * @category models
 */
export type DeadlineReason = "retry" | "running" | "building" | "notStarted"

const describeReason = (self: DeadlineExceededError): string => {
  switch (self.reason) {
    case "retry":
      return `a retry ${self.delayMs ?? 0} ms from now could not finish before the deadline (${
        self.leftMs ?? 0
      } ms left); not retried`
    case "running":
      return "the handler was still running at the deadline, and was interrupted"
    case "building":
      return "the layer was still being built at the deadline"
    case "notStarted":
      return "no time was left to start"
  }
}

/**
 * The invocation's deadline (its remaining time minus the margin) came first. `lastError` is the AWS error whose
 * retry was not started (`retry`), or the last one a retry schedule saw before the deadline; `cause` is the
 * handler's own failure, when it failed rather than being interrupted.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeadlineExceededError extends Data.TaggedError("DeadlineExceededError")<{
  readonly reason: DeadlineReason
  readonly awsRequestId: string
  /** The time the invocation had: its remaining time at the start, minus the margin. */
  readonly budgetMs: number
  readonly lastError?: AwsError.AwsError | undefined
  /** `retry` only: the delay the retry policy asked for. */
  readonly delayMs?: number | undefined
  /** `retry` only: the time that was left before the deadline. */
  readonly leftMs?: number | undefined
  readonly messageId?: string | undefined
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `invocation ${this.awsRequestId}` + (this.messageId !== undefined ? `, message ${this.messageId}` : "") +
      `: deadline exceeded (${this.budgetMs} ms): ${describeReason(this)}` +
      (this.lastError !== undefined ? `; last error: ${this.lastError.message}` : "")
  }
}

/**
 * Credentials from the environment variables were rejected, and re-reading them gives the same set: in Lambda they
 * are fixed for the life of the execution environment, so nothing inside it can heal them. `cause` is the
 * rejection; `exiting` says whether the environment ends after this response (`exitOnPoisonedCredentials`).
 *
 * @since 0.1.0
 * @category errors
 */
export class PoisonedSandboxError extends Data.TaggedError("PoisonedSandboxError")<{
  readonly cause: AwsError.CredentialsError
  /** The rejected access key id, masked (`Credentials.maskAccessKeyId`). */
  readonly accessKeyId: string
  readonly exiting: boolean
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `credentials from the environment (access key ${this.accessKeyId}) were rejected (${this.cause.reason}) and re-reading the environment gives the same set: this execution ` +
      `environment cannot recover; ` +
      (this.exiting
        ? "it ends after this response, so that Lambda starts a fresh one with fresh credentials"
        : "enable exitOnPoisonedCredentials to end it after the response, or have Lambda replace it") +
      ` (${this.cause.message})`
  }
}

/**
 * The event is not what the handler takes, e.g. not an SQS event. `issues` name each problem by its path.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidLambdaEventError extends Data.TaggedError("InvalidLambdaEventError")<{
  /** What the handler expected, e.g. `SQS`. */
  readonly expected: string
  readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }>
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `not an ${this.expected} event: ` +
      this.issues.map((issue) => `${issue.path || "(root)"}: ${issue.message}`).join("; ")
  }
}

/**
 * Any error of this module.
 *
 * @since 0.1.0
 * @category models
 */
export type LambdaHandlerError = DeadlineExceededError | PoisonedSandboxError | InvalidLambdaEventError

/**
 * True for any error of this module.
 *
 * @since 0.1.0
 * @category guards
 */
export const isLambdaHandlerError = (u: unknown): u is LambdaHandlerError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isDeadlineExceededError = (u: unknown): u is DeadlineExceededError =>
  isLambdaHandlerError(u) && u._tag === "DeadlineExceededError"

/**
 * @since 0.1.0
 * @category guards
 */
export const isPoisonedSandboxError = (u: unknown): u is PoisonedSandboxError =>
  isLambdaHandlerError(u) && u._tag === "PoisonedSandboxError"

/**
 * @since 0.1.0
 * @category guards
 */
export const isInvalidLambdaEventError = (u: unknown): u is InvalidLambdaEventError =>
  isLambdaHandlerError(u) && u._tag === "InvalidLambdaEventError"
