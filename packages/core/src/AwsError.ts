/**
 * One taxonomy of the ways an AWS call can fail, and the single function that sorts an SDK error into it.
 *
 * The throttling, transient and clock-skew lists come from the SDK's own `@smithy/core/retry` (the successor
 * of `@smithy/service-error-classification`); only the credential and access-denied codes, which the SDK has
 * no list for, are named here.
 *
 * @since 0.1.0
 */
import {
  isClockSkewCorrectedError,
  isClockSkewError,
  isServerError,
  isThrottlingError,
  isTransientError
} from "@smithy/core/retry"
import type { SdkError } from "@smithy/types"
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"
import { redactMessage, scrubCause } from "./internal/redact.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/core/AwsError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Fields every classified failure carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface Common {
  readonly service: string
  readonly operation: string
  readonly cause: unknown
  readonly httpStatus?: number | undefined
  readonly requestId?: string | undefined
}

/**
 * Why a request was rejected because of its credentials.
 *
 * @since 0.1.0
 * @category models
 */
export type CredentialsReason =
  | "InvalidClientTokenId"
  | "UnrecognizedClient"
  | "ExpiredToken"
  | "InvalidSignature"
  | "MissingAuthenticationToken"
  | "ProviderFailure"

// Every error keeps a scrubbed copy of what it was given as `cause`, so no rendering of it (`util.inspect`,
// `JSON.stringify`, `Cause.pretty` with causes, loggers, tracers) can show a token, a secret or a full key id.
const scrubbed = <A extends { readonly cause?: unknown }>(args: A): A =>
  "cause" in args ? { ...args, cause: scrubCause(args.cause) } : args

const describe = (self: Common, what: string): string =>
  `${self.service}.${self.operation}: ${what}` +
  (self.httpStatus !== undefined
    ? ` (HTTP ${self.httpStatus}` + (self.requestId ? `, request id ${self.requestId})` : ")")
    : "")

const causeMessage = (cause: unknown): string =>
  redactMessage(
    Predicate.hasProperty(cause, "message") && typeof cause.message === "string" && cause.message.length > 0
      ? cause.message
      : String(cause)
  )

/**
 * The request was rejected because of its credentials, or the provider chain could not produce any.
 *
 * @since 0.1.0
 * @category errors
 */
export class CredentialsError extends Data.TaggedError("CredentialsError")<
  Common & {
    readonly reason: CredentialsReason
    /** The credentials generation the failed call used (0 when none had been resolved yet). */
    readonly generation: number
  }
> {
  readonly [TypeId]: TypeId = TypeId
  constructor(args: Common & { readonly reason: CredentialsReason; readonly generation: number }) {
    super(scrubbed(args))
  }
  override get message(): string {
    return describe(
      this,
      `credentials rejected (${this.reason}, generation ${this.generation}): ${causeMessage(this.cause)}`
    )
  }
}

/**
 * The service asked the caller to slow down.
 *
 * @since 0.1.0
 * @category errors
 */
export class ThrottlingError extends Data.TaggedError("ThrottlingError")<Common & { readonly code: string }> {
  readonly [TypeId]: TypeId = TypeId
  constructor(args: Common & { readonly code: string }) {
    super(scrubbed(args))
  }
  override get message(): string {
    return describe(this, `throttled (${this.code})`)
  }
}

/**
 * What made a failure transient.
 *
 * @since 0.1.0
 * @category models
 */
export type TransientKind = "server" | "network" | "timeout" | "clockSkew"

/**
 * A failure that is expected to pass: a 5xx, a network errno, a timeout, or clock skew the SDK corrected.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransientError extends Data.TaggedError("TransientError")<
  Common & { readonly kind: TransientKind; readonly code: string }
> {
  readonly [TypeId]: TypeId = TypeId
  constructor(args: Common & { readonly kind: TransientKind; readonly code: string }) {
    super(scrubbed(args))
  }
  override get message(): string {
    return describe(this, `transient ${this.kind} failure (${this.code}): ${causeMessage(this.cause)}`)
  }
}

/**
 * A permissions problem. Retrying cannot fix it.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccessDeniedError extends Data.TaggedError("AccessDeniedError")<
  Common & { readonly code: string; readonly principal?: string | undefined }
> {
  readonly [TypeId]: TypeId = TypeId
  constructor(args: Common & { readonly code: string; readonly principal?: string | undefined }) {
    super(scrubbed(args))
  }
  override get message(): string {
    return describe(
      this,
      `access denied (${this.code})` + (this.principal ? ` for principal ${this.principal}` : "") +
        `: ${causeMessage(this.cause)}`
    )
  }
}

/**
 * Any other modelled error, such as `ConditionalCheckFailedException`, keeping its code.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServiceError extends Data.TaggedError("ServiceError")<Common & { readonly code: string }> {
  readonly [TypeId]: TypeId = TypeId
  constructor(args: Common & { readonly code: string }) {
    super(scrubbed(args))
  }
  override get message(): string {
    return describe(this, `${this.code}: ${causeMessage(this.cause)}`)
  }
}

/**
 * A setting is missing or refused. It names the setting, and is never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigurationError extends Data.TaggedError("ConfigurationError")<{
  readonly setting: string
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  constructor(args: { readonly setting: string; readonly detail: string; readonly cause?: unknown }) {
    super(scrubbed(args))
  }
  override get message(): string {
    return `${this.setting}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export type AwsError =
  | CredentialsError
  | ThrottlingError
  | TransientError
  | AccessDeniedError
  | ServiceError
  | ConfigurationError

/**
 * @since 0.1.0
 * @category guards
 */
export const isAwsError = (u: unknown): u is AwsError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isCredentialsError = (u: unknown): u is CredentialsError => isAwsError(u) && u._tag === "CredentialsError"

/**
 * True for the modelled error with this code, e.g. `hasCode(e, "ConditionalCheckFailedException")`.
 *
 * @since 0.1.0
 * @category guards
 */
export const hasCode = (u: unknown, code: string): u is ServiceError =>
  isAwsError(u) && u._tag === "ServiceError" && u.code === code

const credentialReasons: Readonly<Record<string, CredentialsReason>> = {
  InvalidClientTokenId: "InvalidClientTokenId",
  UnrecognizedClientException: "UnrecognizedClient",
  UnrecognizedClient: "UnrecognizedClient",
  ExpiredToken: "ExpiredToken",
  ExpiredTokenException: "ExpiredToken",
  InvalidSignatureException: "InvalidSignature",
  SignatureDoesNotMatch: "InvalidSignature",
  IncompleteSignature: "InvalidSignature",
  IncompleteSignatureException: "InvalidSignature",
  MissingAuthenticationToken: "MissingAuthenticationToken",
  MissingAuthenticationTokenException: "MissingAuthenticationToken",
  CredentialsProviderError: "ProviderFailure"
}

const accessDeniedCodes: ReadonlySet<string> = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "AuthorizationError",
  "AuthorizationErrorException",
  "UnauthorizedOperation",
  "KMS.AccessDeniedException",
  "KmsAccessDeniedException"
])

const skewOnlyCodes: ReadonlySet<string> = new Set(["RequestExpired", "RequestInTheFuture", "RequestTimeTooSkewed"])
const skewTexts = /Signature expired|Signature not yet current|too skewed/i

const timeoutCodes: ReadonlySet<string> = new Set(["TimeoutError", "RequestTimeout", "RequestTimeoutException"])

/**
 * The cause of a `CredentialsError` for a request that was never sent: it was still waiting for a connection,
 * signed with credentials AWS had meanwhile rejected for another request, so it was withdrawn. Nothing of it
 * reached AWS, so it is retried (with the renewed credentials) like any rejected request, a write included.
 *
 * @since 0.1.0
 * @category models
 */
export class WithdrawnRequest extends Error {
  override readonly name = "WithdrawnRequest"
  constructor(readonly reason: CredentialsReason, readonly generation: number) {
    super(
      `not sent: it was waiting for a connection, signed with credentials already rejected (${reason}, generation ${generation})`
    )
  }
}

/**
 * Where a failure happened, and the credentials generation the call used.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly service: string
  readonly operation: string
  readonly generation: number
}

const principalOf = (message: string): string | undefined =>
  /User: (\S+) is not authorized/.exec(message)?.[1] ?? /principal[:\s]+(arn:\S+)/i.exec(message)?.[1]

const classifyShape = (
  e: Partial<SdkError> & { code?: string; message?: string },
  context: Context,
  cause: unknown
): AwsError => {
  const name = typeof e.name === "string" ? e.name : "Unknown"
  const message = typeof e.message === "string" ? e.message : ""
  const httpStatus = e.$metadata?.httpStatusCode
  const common: Common = {
    service: context.service,
    operation: context.operation,
    cause,
    httpStatus,
    requestId: e.$metadata?.requestId ?? e.$metadata?.extendedRequestId
  }
  const sdkError = e as SdkError
  if (cause instanceof WithdrawnRequest) {
    return new CredentialsError({ ...common, reason: cause.reason, generation: context.generation })
  }
  // A request refused for its clock (the SDK has usually corrected its offset from the response's Date header
  // already) is worth one more try as it is. The SDK's clock-skew codes include SignatureDoesNotMatch and
  // InvalidSignatureException, which also mean a wrong secret: only their skew texts count as skew.
  if (skewOnlyCodes.has(name) || (isClockSkewError(sdkError) && skewTexts.test(message))) {
    return new TransientError({ ...common, kind: "clockSkew", code: name })
  }
  // A rejected token stays a credentials failure even when the SDK corrected its clock from the same response.
  const reason = credentialReasons[name]
  if (reason !== undefined) return new CredentialsError({ ...common, reason, generation: context.generation })
  if (isClockSkewCorrectedError(sdkError)) return new TransientError({ ...common, kind: "clockSkew", code: name })
  if (isThrottlingError(sdkError)) return new ThrottlingError({ ...common, code: name })
  if (accessDeniedCodes.has(name)) {
    return new AccessDeniedError({ ...common, code: name, principal: principalOf(message) })
  }
  if (isTransientError(sdkError) || isServerError(sdkError) || (httpStatus !== undefined && httpStatus >= 500)) {
    const errno = typeof e.code === "string" ? e.code : undefined
    const kind: TransientKind = httpStatus !== undefined && httpStatus >= 500
      ? "server"
      : timeoutCodes.has(name) || errno === "ETIMEDOUT"
      ? "timeout"
      : "network"
    return new TransientError({ ...common, kind, code: errno ?? name })
  }
  return new ServiceError({ ...common, code: name })
}

/**
 * Sorts any error an SDK call can throw into the taxonomy: by its name, `$metadata.httpStatusCode`,
 * `$retryable` and Node errno.
 *
 * @since 0.1.0
 * @category constructors
 */
export const classify = (error: unknown, context: Context): AwsError =>
  isAwsError(error) ? error : classifyShape(Predicate.isObject(error) ? error as any : {}, context, error)

/**
 * What is known of a failure reported as data rather than thrown, e.g. one failed entry of a batch.
 *
 * @since 0.1.0
 * @category models
 */
export interface CodeInfo extends Context {
  /** The service's text for the failure. */
  readonly message?: string | undefined
  /** Whose fault: `client` (sender) or `server`. Server faults are treated as HTTP 500 when no status is given. */
  readonly fault?: "client" | "server" | undefined
  readonly httpStatus?: number | undefined
  /** Kept as the error's `cause`. Default: the message. */
  readonly cause?: unknown
}

/**
 * Builds the `AwsError` an error code means, by the same rules as `classify`, for failures AWS reports as data:
 * a failed batch entry's `Code`, `UnprocessedItems` (`ProvisionedThroughputExceededException`), and the like.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCode = (code: string, info: CodeInfo): AwsError =>
  classifyShape(
    {
      name: code,
      message: info.message ?? "",
      $fault: info.fault ?? "client",
      $metadata: { httpStatusCode: info.httpStatus ?? (info.fault === "server" ? 500 : 400) }
    },
    info,
    info.cause ?? info.message ?? code
  )

/**
 * True when the request may have been processed although it failed: a 5xx, a reset connection, a timeout, a
 * lost response. Resending such a request may apply it twice unless it is idempotent.
 *
 * @since 0.1.0
 * @category predicates
 */
export const mayHaveBeenProcessed = (error: AwsError): boolean =>
  error._tag === "TransientError" && error.kind !== "clockSkew"

/**
 * True when AWS refused the request before processing it (credentials, throttling, clock skew, access denied,
 * configuration): resending it cannot apply it twice.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRejectedBeforeProcessing = (error: AwsError): boolean =>
  error._tag === "CredentialsError" || error._tag === "ThrottlingError" || error._tag === "AccessDeniedError" ||
  error._tag === "ConfigurationError" || (error._tag === "TransientError" && error.kind === "clockSkew")
