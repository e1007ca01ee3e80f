/**
 * The credentials service: resolves through the SDK's own providers, caches the result with its source,
 * expiration and a generation number (a new number only for a different set), refreshes before expiry, and on
 * demand polls the provider once for however many fibers ask, spaced by a backoff while it keeps answering with a
 * rejected set or failing. The engine is `internal/credentials.ts`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as AwsConfig from "./AwsConfig.js"
import type * as AwsError from "./AwsError.js"
import type * as CredentialsProvider from "./CredentialsProvider.js"
import * as awsCredentials from "./internal/awsCredentials.js"
import * as internal from "./internal/credentials.js"
import * as redact from "./internal/redact.js"

/**
 * Shows at most the last 4 characters of an access key id.
 *
 * @since 0.1.0
 * @category utils
 */
export const maskAccessKeyId: (accessKeyId: string) => string = redact.maskAccessKeyId

/**
 * One resolved set of credentials. Printing or logging it shows only the masked access key id.
 *
 * @since 0.1.0
 * @category models
 */
export const AwsCredentials: typeof awsCredentials.AwsCredentials = awsCredentials.AwsCredentials

/**
 * @since 0.1.0
 * @category models
 */
export type AwsCredentials = awsCredentials.AwsCredentials

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where credentials come from. Default: the SDK's Node chain. */
  readonly provider?: CredentialsProvider.Provider | undefined
  /**
   * Inside this window before expiry, a call is served the current set while a refresh runs in the
   * background. Default 10 minutes: botocore's mandatory threshold, so we start early enough that callers
   * rarely wait, yet later than botocore's 15-minute advisory so that 15-minute STS sessions are not
   * refreshed constantly.
   */
  readonly advisoryWindow?: Duration.DurationInput | undefined
  /**
   * Inside this window callers wait for a new set. Default 5 minutes, the JS SDK's own expiry window, so we
   * never sign with a set that the SDK itself would already consider expired.
   */
  readonly mandatoryWindow?: Duration.DurationInput | undefined
  /** A provider that takes longer than this counts as a `ProviderFailure`. Default 5 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Call STS `GetCallerIdentity` on the first resolution and log the account and ARN. */
  readonly verify?: boolean | undefined
  /** Region for `verify`. Default: the SDK's own resolution (`AWS_REGION`). */
  readonly region?: string | undefined
  /**
   * After the provider answers with nothing new (the set already cached, or a failure), it is asked again no sooner
   * than this, doubling with each such answer up to `maxPollInterval`; a new set resets it. Default 500 ms.
   */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** The longest spacing of that poll. Default 4 seconds. */
  readonly maxPollInterval?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The current set, resolving or refreshing it first when there is none or it is about to expire. */
  readonly get: Effect.Effect<AwsCredentials, AwsError.CredentialsError | AwsError.ConfigurationError>
  /**
   * A set newer than `staleGeneration`: the cached one if it is, else one answer of the provider, shared by every
   * fiber that asks meanwhile and spaced by the poll's backoff after answers that brought nothing new. The answer
   * may be the set of `staleGeneration` again (a source that lags a revocation, a static key): compare generations.
   */
  readonly refresh: (
    staleGeneration: number
  ) => Effect.Effect<AwsCredentials, AwsError.CredentialsError | AwsError.ConfigurationError>
  /** The cached set, without resolving anything. */
  readonly current: Effect.Effect<Option.Option<AwsCredentials>>
  /** How many times the provider has been called. */
  readonly resolutions: Effect.Effect<number>
  /** AWS's clock minus the local clock, in ms, as last reported (0 until then). Expiry is judged by AWS's clock. */
  readonly clockOffset: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Credentials extends Context.Tag("@aws-resilience/core/Credentials")<Credentials, Service>() {}

/**
 * Builds the service. A duration that is not one (`NaN`, negative, a string that does not parse) is a
 * `ConfigurationError` naming the option.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, AwsError.ConfigurationError> =>
  internal.make(options)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Credentials, AwsError.ConfigurationError> =>
  Layer.effect(Credentials, make(options))

/**
 * `layer` with its options as `Config`s; `verify` defaults to `AWS_RESILIENCE_VERIFY_CREDENTIALS`, the provider to
 * the Node chain. A bad value is a `ConfigurationError` naming it.
 *
 * @example
 * ```ts
 * import { Credentials, CredentialsProvider } from "@aws-resilience/core"
 * import { Config } from "effect"
 *
 * // The SDK's chain, verified through STS when AWS_RESILIENCE_VERIFY_CREDENTIALS=true.
 * export const CredentialsLive = Credentials.layerConfig()
 * // A role assumed on top of the chain, its ARN from the environment.
 * export const RoleCredentials = Credentials.layerConfig({
 *   provider: Config.map(Config.string("APP_ROLE_ARN"), (roleArn) => CredentialsProvider.assumeRole({ roleArn }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: AwsConfig.Configs<Options> = {}
): Layer.Layer<Credentials, AwsError.ConfigurationError> =>
  Layer.effect(
    Credentials,
    Effect.flatMap(AwsConfig.read<Options>({ verify: AwsConfig.verifyCredentials }, options), make)
  )
