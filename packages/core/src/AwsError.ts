/**
 * One taxonomy of the ways an AWS call can fail, and the single function that sorts an SDK error into it.
 *
 * The throttling, transient and clock-skew lists come from the SDK's own `@smithy/core/retry` (the successor
 * of `@smithy/service-error-classification`); only the credential and access-denied codes, which the SDK has
 * no list for, are named (in `internal/classification.ts`). A response the SDK could not parse (an emulator's or a
 * proxy's XML or HTML on a JSON protocol) is classified from its HTTP status, its error-type headers and its body. A
 * program adds its own codes (an emulator's names, say) with `withCodes` or `layer`; they take precedence over the
 * built-in rules.
 *
 * @since 0.1.0
 */
import type { Pluggable } from "@smithy/types"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as engine from "./internal/classification.js"
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
    /** Set when the call gave up waiting for usable credentials: what it tried. */
    readonly recovery?: CredentialsRecovery | undefined
    /** The code AWS (or an emulator) answered with, e.g. `UnrecognizedClientException`, when it answered. */
    readonly code?: string | undefined
  }
> {
  readonly [TypeId]: TypeId = TypeId
  constructor(
    args: Common & {
      readonly reason: CredentialsReason
      readonly generation: number
      readonly recovery?: CredentialsRecovery | undefined
      readonly code?: string | undefined
    }
  ) {
    super(scrubbed(args))
  }
  override get message(): string {
    const recovery = this.recovery === undefined ?
      "" :
      `; no usable credentials within ${
        (this.recovery.waitedMillis / 1000).toFixed(1)
      } s of recovery: ${this.recovery.sets} set(s) tried (generations ${this.recovery.generations.join(", ")}), ` +
      `last ${this.recovery.lastReason}`
    return describe(
      this,
      `credentials rejected (${this.reason}, generation ${this.generation}): ${causeMessage(this.cause)}${recovery}`
    )
  }
}

/**
 * What a call tried before it gave up waiting for usable credentials.
 *
 * @since 0.2.0
 * @category models
 */
export interface CredentialsRecovery {
  /** How long the call waited, from its first credentials failure, in ms. */
  readonly waitedMillis: number
  /** How many distinct sets AWS rejected for this call. */
  readonly sets: number
  /** Their generations, oldest first. */
  readonly generations: ReadonlyArray<number>
  /** Why the last attempt failed. */
  readonly lastReason: CredentialsReason
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

/**
 * What a code means: the class of `AwsError` it becomes, with the class's detail. The code itself is kept as the
 * error's `code`.
 *
 * @since 0.2.0
 * @category models
 */
export type Meaning =
  | { readonly _tag: "CredentialsError"; readonly reason: CredentialsReason }
  | { readonly _tag: "ThrottlingError" }
  | { readonly _tag: "TransientError"; readonly kind: TransientKind }
  | { readonly _tag: "AccessDeniedError" }
  | { readonly _tag: "ServiceError" }

/**
 * A program's own codes and what each means, e.g. an emulator's `BadToken`. They are looked up by the error's code
 * (the SDK error's name, or the code read from the raw response), then by its Node errno, and take precedence over
 * every built-in rule.
 *
 * @since 0.2.0
 * @category models
 */
export type Codes = Readonly<Record<string, Meaning>>

/**
 * The code means the request's credentials were rejected, for this reason: the call renews them.
 *
 * @since 0.2.0
 * @category constructors
 */
export const meansCredentials = (reason: CredentialsReason): Meaning => ({ _tag: "CredentialsError", reason })

/**
 * The code means the service asked the caller to slow down.
 *
 * @since 0.2.0
 * @category constructors
 */
export const meansThrottling: Meaning = { _tag: "ThrottlingError" }

/**
 * The code means a failure that is expected to pass (default kind: `server`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const meansTransient = (kind: TransientKind = "server"): Meaning => ({ _tag: "TransientError", kind })

/**
 * The code means a permissions problem: retrying cannot fix it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const meansAccessDenied: Meaning = { _tag: "AccessDeniedError" }

/**
 * The code is a plain `ServiceError`, whatever the built-in rules would make of it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const meansService: Meaning = { _tag: "ServiceError" }

/**
 * The codes the current fiber adds to the classification (none by default). `withCodes` and `layer` set it; code that
 * classifies outside an effect reads it with `fiber.getFiberRef(AwsError.currentCodes)`.
 *
 * @since 0.2.0
 * @category fiber refs
 */
export const currentCodes: FiberRef.FiberRef<Codes> = globalValue(
  Symbol.for("@aws-resilience/core/AwsError/currentCodes"),
  () => FiberRef.unsafeMakePatch<Codes, engine.CodesPatch>({}, { differ: engine.codesDiffer, fork: [] })
)

/**
 * The codes the current fiber adds to the classification.
 *
 * @since 0.2.0
 * @category fiber refs
 */
export const getCodes: Effect.Effect<Codes> = FiberRef.get(currentCodes)

const adding = (codes: Codes) => (current: Codes): Codes => engine.addCodes(current, codes)

/**
 * Runs an effect with more codes classified as they say: added to (and overriding) the codes already in force.
 *
 * @example
 * ```ts
 * import { AwsError } from "@aws-resilience/core"
 * import { Effect } from "effect"
 *
 * // A local emulator answers a stale token with its own code, and asks to slow down with another.
 * const emulatorCodes: AwsError.Codes = {
 *   BadToken: AwsError.meansCredentials("InvalidClientTokenId"),
 *   SlowDown: AwsError.meansThrottling
 * }
 *
 * declare const program: Effect.Effect<void, AwsError.AwsError>
 *
 * export const local = program.pipe(AwsError.withCodes(emulatorCodes))
 * export const alsoLocal = AwsError.withCodes(program, emulatorCodes)
 *
 * // Or for a whole program, as a layer.
 * export const EmulatorCodes = AwsError.layer(emulatorCodes)
 *
 * // The classification itself is pure: the codes can be passed to it.
 * export const classified: AwsError.AwsError = AwsError.classify(
 *   Object.assign(new Error("token rejected"), { name: "BadToken", $metadata: { httpStatusCode: 403 } }),
 *   { service: "dynamodb", operation: "PutItem", generation: 1 },
 *   emulatorCodes
 * )
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
export const withCodes: {
  (codes: Codes): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, codes: Codes): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, codes: Codes): Effect.Effect<A, E, R> =>
    Effect.locallyWith(self, currentCodes, adding(codes))
)

/**
 * Adds codes to the classification of a whole program, as `withCodes` does for one effect.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (codes: Codes): Layer.Layer<never> =>
  Layer.scopedDiscard(Effect.locallyScopedWith(currentCodes, adding(codes)))

/**
 * An SDK client plugin that keeps the body of an error response readable, so that `classify` can read its code when
 * the SDK cannot parse it (the SDK's JSON protocols read the body into memory and drop it when parsing fails). It
 * touches error responses (status 300 and above) only: `client.middlewareStack.use(AwsError.keepErrorBodies)`.
 *
 * @since 0.2.0
 * @category utils
 */
export const keepErrorBodies: Pluggable<any, any> = engine.keepErrorBodies

const make = (verdict: engine.Verdict, common: Common, generation: number): AwsError => {
  switch (verdict._tag) {
    case "CredentialsError":
      return new CredentialsError({ ...common, reason: verdict.reason, generation, code: verdict.code })
    case "ThrottlingError":
      return new ThrottlingError({ ...common, code: verdict.code })
    case "TransientError":
      return new TransientError({ ...common, kind: verdict.kind, code: verdict.code })
    case "AccessDeniedError":
      return new AccessDeniedError({ ...common, code: verdict.code, principal: verdict.principal })
    case "ServiceError":
      return new ServiceError({ ...common, code: verdict.code })
  }
}

const classifyShape = (e: engine.Shape, context: Context, cause: unknown, codes: Codes | undefined): AwsError =>
  make(engine.decide(e, codes), {
    service: context.service,
    operation: context.operation,
    cause,
    httpStatus: e.$metadata?.httpStatusCode,
    requestId: e.$metadata?.requestId ?? e.$metadata?.extendedRequestId
  }, context.generation)

/**
 * Sorts any error an SDK call can throw into the taxonomy: by its name, `$metadata.httpStatusCode`, `$retryable` and
 * Node errno, after the `codes` given (default: none; an effect reads its fiber's with `getCodes`).
 *
 * An error the SDK could not make sense of (its parser failed on the body: a `SyntaxError` or a "Deserialization
 * error"; or it found no code: `Unknown`) is classified from the raw response instead: the code in
 * `x-amzn-query-error`, `x-amzn-ErrorType` or the body (JSON `__type`, `code`, `Code`; XML `<Code>`; see
 * `keepErrorBodies`), with its HTTP status. With no code to read, the code is `UnparseableResponse` (transient for a
 * 5xx). The error's `cause` is then a `RawResponse` error (its `code`, `source`, `httpStatus` and `contentType`) whose
 * own `cause` is the SDK's error; neither headers nor body are kept.
 *
 * @since 0.1.0
 * @category constructors
 */
export const classify = (error: unknown, context: Context, codes?: Codes): AwsError => {
  if (isAwsError(error)) return error
  if (error instanceof WithdrawnRequest) {
    return new CredentialsError({
      service: context.service,
      operation: context.operation,
      cause: error,
      reason: error.reason,
      generation: context.generation
    })
  }
  const shape: engine.Shape = Predicate.isObject(error) ? error : {}
  const recovered = engine.isUnparsed(shape) ? engine.recover(shape) : undefined
  return recovered === undefined
    ? classifyShape(shape, context, error, codes)
    : classifyShape(engine.recoveredShape(shape, recovered), context, new engine.RawResponse(recovered, error), codes)
}

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
 * Builds the `AwsError` an error code means, by the same rules as `classify` (and the same `codes`), for failures AWS
 * reports as data: a failed batch entry's `Code`, `UnprocessedItems` (`ProvisionedThroughputExceededException`), and
 * the like.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCode = (code: string, info: CodeInfo, codes?: Codes): AwsError =>
  classifyShape(
    {
      name: code,
      message: info.message ?? "",
      $fault: info.fault ?? "client",
      $metadata: { httpStatusCode: info.httpStatus ?? (info.fault === "server" ? 500 : 400) }
    },
    info,
    info.cause ?? info.message ?? code,
    codes
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
