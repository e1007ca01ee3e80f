/**
 * Where credentials come from: a `Provider` makes one fresh resolution each time its `load` runs. The constructors
 * wrap the AWS SDK's own providers (its Node chain, environment, container endpoint, STS AssumeRole), so their
 * resolution rules, timeouts and caching are the SDK's.
 *
 * @since 0.1.0
 */
import * as SdkProviders from "@aws-sdk/credential-providers"
import type { AwsCredentialIdentity } from "@smithy/types"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"

/**
 * A way to produce credentials. `load` makes one fresh resolution each time it runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Provider {
  readonly name: string
  readonly load: Effect.Effect<AwsCredentialIdentity, unknown>
}

/**
 * Wraps an SDK credential provider factory; a new SDK provider is made per resolution.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSdk = (name: string, make: () => () => Promise<AwsCredentialIdentity>): Provider => ({
  name,
  // A new SDK provider per resolution: the SDK's chain memoizes, and we must be able to force a fresh set.
  load: Effect.tryPromise({ try: () => make()(), catch: (e) => e })
})

// The SDK's providers are imported statically: a dynamic `import()` saved under 2 ms of module load, and a bundler
// that splits code (esbuild with `splitting` and its default `mainFields`) hands it back without its exports.
const fromSdkProviders = (
  name: string,
  make: (sdk: typeof SdkProviders) => () => Promise<AwsCredentialIdentity>
): Provider => fromSdk(name, () => make(SdkProviders))

/**
 * The SDK's default Node chain: environment (Lambda), container endpoint (ECS, EKS Pod Identity), web
 * identity, profile, then IMDS.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chain = (init?: Parameters<typeof SdkProviders.fromNodeProviderChain>[0]): Provider =>
  fromSdkProviders("chain", (sdk) => sdk.fromNodeProviderChain(init))

/**
 * Fixed credentials, e.g. from a secret store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromStatic = (options: {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken?: Redacted.Redacted<string> | undefined
  readonly expiration?: Date | undefined
}): Provider => ({
  name: "static",
  load: Effect.sync(() => ({
    accessKeyId: options.accessKeyId,
    secretAccessKey: Redacted.value(options.secretAccessKey),
    ...(options.sessionToken ? { sessionToken: Redacted.value(options.sessionToken) } : {}),
    ...(options.expiration ? { expiration: options.expiration } : {})
  }))
})

/**
 * Only the environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), as on Lambda.
 *
 * @since 0.1.0
 * @category constructors
 */
export const environment = (): Provider => fromSdkProviders("environment", (sdk) => sdk.fromEnv())

/**
 * The container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` or `..._RELATIVE_URI`, with
 * `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`), as on ECS and EKS Pod Identity.
 *
 * @since 0.1.0
 * @category constructors
 */
export const container = (
  options?: { readonly timeout?: Duration.DurationInput; readonly maxRetries?: number }
): Provider =>
  fromSdkProviders(
    "container",
    (sdk) =>
      sdk.fromHttp({ timeout: Duration.toMillis(options?.timeout ?? "1 second"), maxRetries: options?.maxRetries ?? 3 })
  )

/**
 * Assumes a role through STS, signing with `source` (default: the Node chain).
 *
 * @example
 * ```ts
 * import { Credentials, CredentialsProvider } from "@aws-resilience/core"
 *
 * export const CredentialsLive = Credentials.layer({
 *   provider: CredentialsProvider.assumeRole({ roleArn: "arn:aws:iam::123456789012:role/app", duration: "1 hour" })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const assumeRole = (options: {
  readonly roleArn: string
  readonly sessionName?: string
  readonly duration?: Duration.DurationInput
  readonly region?: string
  readonly source?: Provider
  /** Anything else for the STS client, e.g. an endpoint or a request handler. */
  readonly clientConfig?: NonNullable<Parameters<typeof SdkProviders.fromTemporaryCredentials>[0]["clientConfig"]>
}): Provider => {
  const source = options.source
  // The source runs in the runtime of the fiber loading credentials (its logger, tracer and clock): the SDK asks
  // for the source's set only while a `load` is running, and each `load` records its runtime first.
  let runtime: Runtime.Runtime<never> = Runtime.defaultRuntime
  // One SDK provider for the layer's life, made at the first resolution: it keeps one STS client and calls
  // AssumeRole on every resolution.
  let provider: (() => Promise<AwsCredentialIdentity>) | undefined
  const sdk = fromSdkProviders("assume-role", (sdk) =>
    provider ??= sdk.fromTemporaryCredentials({
      params: {
        RoleArn: options.roleArn,
        RoleSessionName: options.sessionName ?? "aws-resilience",
        ...(options.duration ? { DurationSeconds: Math.round(Duration.toSeconds(options.duration)) } : {})
      },
      ...(source ? { masterCredentials: () => Runtime.runPromise(runtime, source.load) } : {}),
      clientConfig: { ...options.clientConfig, ...(options.region ? { region: options.region } : {}) }
    }))
  return {
    name: sdk.name,
    load: Effect.flatMap(Effect.runtime<never>(), (current) => {
      runtime = current
      return sdk.load
    })
  }
}

// The SDK stamps each identity with the provider feature that produced it (`$source`).
const sourceFeatures: ReadonlyArray<readonly [string, string]> = [
  ["CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN", "web-identity"],
  ["CREDENTIALS_STS_ASSUME_ROLE_WEB_ID", "web-identity"],
  ["CREDENTIALS_PROFILE_STS_WEB_ID_TOKEN", "web-identity"],
  ["CREDENTIALS_STS_ASSUME_ROLE", "assume-role"],
  ["CREDENTIALS_ENV_VARS", "environment"],
  ["CREDENTIALS_HTTP", "container"],
  ["CREDENTIALS_IMDS", "imds"],
  ["CREDENTIALS_PROFILE_SSO", "sso"],
  ["CREDENTIALS_SSO", "sso"],
  ["CREDENTIALS_PROFILE_PROCESS", "process"],
  ["CREDENTIALS_PROCESS", "process"],
  ["CREDENTIALS_PROFILE", "profile"],
  ["CREDENTIALS_CODE", "static"]
]

/**
 * Which provider of a chain produced a set, from the SDK's own stamp on it (`$source`), else the provider's name.
 *
 * @since 0.1.0
 * @category utils
 */
export const sourceOf = (identity: AwsCredentialIdentity, provider: Provider): string => {
  const features = (identity as { $source?: Record<string, string> }).$source
  if (features) {
    for (const [feature, source] of sourceFeatures) {
      if (feature in features) return source
    }
  }
  return provider.name
}
