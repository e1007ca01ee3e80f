/**
 * Diagnostics of the credentials service: what a provider's failure means, sets that are almost always a
 * misconfiguration, and identity verification through STS.
 */
import type { AwsCredentialIdentity } from "@smithy/types"
import * as Effect from "effect/Effect"
import * as AwsError from "../AwsError.js"
import type * as CredentialsProvider from "../CredentialsProvider.js"
import type { AwsCredentials } from "./awsCredentials.js"
import * as redact from "./redact.js"

/** Errors of a provider whose message says the SDK refused the container credentials URI. */
const refusedUri = /URL not accepted|No HTTP credential provider host provided/

export const providerFailure = (provider: CredentialsProvider.Provider, generation: number, cause: unknown) => {
  const message = cause instanceof Error ? cause.message : String(cause)
  if (refusedUri.test(message)) {
    return new AwsError.ConfigurationError({
      setting: process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI !== undefined
        ? "AWS_CONTAINER_CREDENTIALS_FULL_URI"
        : "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      detail: `the SDK refused the container credentials URI: ${message.split("\n")[0]}`,
      cause
    })
  }
  return new AwsError.CredentialsError({
    service: "credentials",
    operation: provider.name,
    reason: "ProviderFailure",
    generation,
    cause
  })
}

/** Warnings for credential sets that are almost always a misconfiguration. */
export const misconfigurations = (
  identity: AwsCredentialIdentity,
  env: Readonly<Record<string, string | undefined>> = process.env
): ReadonlyArray<string> => {
  const warnings: Array<string> = []
  if (identity.accessKeyId.startsWith("ASIA") && !identity.sessionToken) {
    warnings.push(
      `temporary access key ${
        redact.maskAccessKeyId(identity.accessKeyId)
      } (ASIA...) has no session token: every call ` +
        `will fail with InvalidClientTokenId. Set AWS_SESSION_TOKEN alongside AWS_ACCESS_KEY_ID.`
    )
  }
  if (env.AWS_PROFILE && env.AWS_ACCESS_KEY_ID) {
    warnings.push(
      `AWS_PROFILE (${env.AWS_PROFILE}) is set beside static keys in AWS_ACCESS_KEY_ID: the SDK chain skips the ` +
        `environment keys and uses the profile. Unset one of them.`
    )
  }
  return warnings
}

// The STS client is loaded only when verification is asked for (it is off by default): a handler that does not
// verify does not evaluate it at start-up, and a bundler that splits code can leave it out of the main chunk.
const loadSts = Effect.tryPromise({
  try: () => import("@aws-sdk/client-sts"),
  catch: (cause) =>
    new AwsError.ConfigurationError({
      setting: "verify",
      detail: `verifying credentials needs @aws-sdk/client-sts, which could not be loaded: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      cause
    })
})

/** Calls STS `GetCallerIdentity` with a set and logs the account and ARN. */
export const verifyIdentity = (credentials: AwsCredentials, region: string | undefined) =>
  Effect.flatMap(loadSts, ({ GetCallerIdentityCommand, STSClient }) =>
    Effect.acquireUseRelease(
      Effect.sync(() =>
        new STSClient({ ...(region ? { region } : {}), credentials: credentials.toSdk(), maxAttempts: 1 })
      ),
      (sts) =>
        Effect.tryPromise({
          try: (signal) => sts.send(new GetCallerIdentityCommand({}), { abortSignal: signal }),
          catch: (e) => {
            const error = AwsError.classify(e, {
              service: "sts",
              operation: "GetCallerIdentity",
              generation: credentials.generation
            })
            return error._tag === "CredentialsError" || error._tag === "ConfigurationError" ?
              error :
              new AwsError.CredentialsError({
                service: "sts",
                operation: "GetCallerIdentity",
                reason: "ProviderFailure",
                generation: credentials.generation,
                cause: error
              })
          }
        }).pipe(
          Effect.tap((identity) =>
            Effect.logInfo("credentials verified").pipe(
              Effect.annotateLogs({ account: identity.Account ?? "?", arn: identity.Arn ?? "?" })
            )
          )
        ),
      (sts) => Effect.sync(() => sts.destroy())
    ))
