/**
 * SDK clients as the doctor uses them: one attempt per call (the doctor reports what one request sees), destroyed
 * after use, every call abortable and classified by core's taxonomy, with the codes in force on the fiber
 * (`AwsError.withCodes`, the doctor's `codes` option) and the error bodies kept for it (`AwsError.keepErrorBodies`).
 */
import * as AwsError from "@aws-resilience/core/AwsError"
import type * as CredentialsProvider from "@aws-resilience/core/CredentialsProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** A set of credentials as the SDK takes it (the type core's providers produce). */
export type Identity = Effect.Effect.Success<CredentialsProvider.Provider["load"]>

export const scoped = <
  C extends { destroy: () => void; middlewareStack: { use: (plugin: typeof AwsError.keepErrorBodies) => void } }
>(make: () => C): Effect.Effect<C, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = make()
      client.middlewareStack.use(AwsError.keepErrorBodies)
      return client
    }),
    (client) => Effect.sync(() => client.destroy())
  )

/** One call, classified; a call that takes longer than `timeout` is aborted and reported as a timeout. */
export const call = <A>(
  service: string,
  operation: string,
  timeout: Duration.Duration,
  send: (signal: AbortSignal) => Promise<A>
): Effect.Effect<A, AwsError.AwsError> =>
  Effect.flatMap(AwsError.getCodes, (codes) =>
    Effect.tryPromise({
      try: send,
      catch: (e) => AwsError.classify(e, { service, operation, generation: 1 }, codes)
    })).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new AwsError.TransientError({
            service,
            operation,
            kind: "timeout",
            code: "TimeoutError",
            cause: `no answer within ${Duration.format(timeout)}`
          })
      })
    )

const causeField = (cause: unknown, field: "name" | "message"): string | undefined =>
  typeof cause === "object" && cause !== null && field in cause &&
    typeof (cause as Record<string, unknown>)[field] === "string"
    ? (cause as Record<string, string>)[field]
    : undefined

/**
 * The code AWS (or the network) gave, as core's classification read it (from the SDK error, or from the raw response
 * when the SDK could not parse it), e.g. `InvalidClientTokenId`; else the class's code.
 */
export const codeOf = (error: AwsError.AwsError): string => {
  switch (error._tag) {
    case "CredentialsError":
      return error.code ?? causeField(error.cause, "name") ?? error.reason
    case "ConfigurationError":
      return error.setting
    default:
      return error.code
  }
}

/** The failure's own text, already redacted by core (its errors keep a scrubbed copy of their cause). */
export const textOf = (error: AwsError.AwsError): string =>
  error._tag === "ConfigurationError"
    ? error.message
    : typeof error.cause === "string"
    ? error.cause
    : causeField(error.cause, "message") ?? error.message

/** One line for a summary: `InvalidClientTokenId: The security token included in the request is invalid.` */
export const describe = (error: AwsError.AwsError): string => {
  const code = codeOf(error)
  const text = textOf(error)
  return text.startsWith(code) ? text : `${code}: ${text}`
}
