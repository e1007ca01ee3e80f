/**
 * A scoped AWS SDK client built from one credentials generation, which can be rebuilt for a newer one
 * without failing any call that is still using the old client.
 *
 * @since 0.1.0
 */
import type { AwsCredentialIdentity, RequestHandler } from "@smithy/types"
import * as Config from "effect/Config"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as AwsConfig from "./AwsConfig.js"
import type * as AwsError from "./AwsError.js"
import type * as Credentials from "./Credentials.js"
import * as internal from "./internal/managedClient.js"
import type * as RetryBudget from "./RetryBudget.js"

/**
 * What an SDK client needs to be built. `maxAttempts` is always 1: retries are ours, so they never multiply
 * with the SDK's. `requestHandler` is the one connection pool every client of a managed client shares (a view
 * of the handler the SDK made for the first, or of the caller's own): pass it on, so that a rebuild keeps the
 * warm connections and a request queued with rejected credentials can be withdrawn before it is sent.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientConfig {
  readonly region: string
  readonly credentials: AwsCredentialIdentity
  readonly maxAttempts: 1
  readonly endpoint?: string
  /** Server time minus local time, in ms, as last seen by any client of this service: a new client starts with it. */
  readonly systemClockOffset: number
  readonly requestHandler?: RequestHandler<any, any, any>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<C> {
  /** The service name used in errors, spans and metrics, e.g. `dynamodb`. */
  readonly service: string
  /** Builds one SDK client, e.g. `(config) => new DynamoDBClient(config)`. */
  readonly build: (config: ClientConfig) => C
  readonly region: string
  /** An explicit endpoint. Without it the SDK reads `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL` itself. */
  readonly endpoint?: string | undefined
  readonly budget?: RetryBudget.Options | undefined
  /**
   * When the scope closes, calls still using a client get this long to finish before they are interrupted (which
   * aborts their requests); only then are the clients destroyed. Default 10 seconds.
   */
  readonly drainTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ManagedClient<C> {
  readonly service: string
  readonly region: string
  /**
   * Borrows the current client for one call. It is not destroyed before `f` ends. While a renewal after a
   * rejection of the current generation runs, it waits for that renewal first.
   */
  readonly use: <A, E, R>(
    f: (client: C, generation: number) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | AwsError.CredentialsError | AwsError.ConfigurationError, R>
  /** Builds a new client, once, if the current one is still of `staleGeneration` and newer credentials exist. */
  readonly rebuild: (
    staleGeneration: number
  ) => Effect.Effect<void, AwsError.CredentialsError | AwsError.ConfigurationError>
  /**
   * Refreshes the credentials and rebuilds the client after a `CredentialsError`, each once per generation.
   * Given the `reason` AWS rejected `staleGeneration` for, it also withdraws the requests signed with that
   * generation that are still queued for a connection (they fail with a `CredentialsError` whose cause is a
   * `WithdrawnRequest`, and are retried like the rejected one), and until the renewal ends new calls wait for it
   * instead of sending requests that would be rejected too.
   */
  readonly renew: (
    staleGeneration: number,
    reason?: AwsError.CredentialsReason
  ) => Effect.Effect<void, AwsError.CredentialsError | AwsError.ConfigurationError>
  /** The retry budget shared by every call through this client. */
  readonly budget: RetryBudget.RetryBudget
  /** The generation of the current client (0 before the first call). */
  readonly generation: Effect.Effect<number>
  /** How many clients this has built. */
  readonly builds: Effect.Effect<number>
}

/**
 * Builds the managed client. The region, the endpoint and the `build` function are checked here, so bad
 * configuration fails the layer with a `ConfigurationError` naming the setting, not the first call. No
 * credentials are resolved until the first call.
 *
 * Closing the scope drains: calls in flight keep their client (a retry may still borrow it, but no new client is
 * built) for up to `drainTimeout`; calls still running then are interrupted, and only then is every client
 * destroyed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <C extends { destroy(): void }>(
  options: Options<C>
): Effect.Effect<ManagedClient<C>, AwsError.ConfigurationError, Credentials.Credentials | Scope.Scope> =>
  internal.make(options)

/**
 * What every client of this project takes: where it is, and how it retries and closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions<SdkConfig> {
  readonly region: string
  /** An explicit endpoint. Without it the SDK reads `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL` itself. */
  readonly endpoint?: string | undefined
  /** The retry budget shared by every call through this client. */
  readonly budget?: RetryBudget.Options | undefined
  /** See `Options.drainTimeout`. Default 10 seconds. */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /**
   * Anything else for the SDK client, e.g. a `requestHandler` with its own timeouts, or `cacheMiddleware: true`
   * (the SDK's handler cache, which calls through `Resilience` keep in use: see `Resilience.sendCommand`).
   */
  readonly clientConfig?: SdkConfig | undefined
}

/**
 * `ClientOptions` as `Config`s, each optional: the region defaults to `AwsConfig.region` and the endpoint to
 * `AwsConfig.endpoint(serviceId)`, the variables the SDK itself reads.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientConfigOptions<SdkConfig> = AwsConfig.Configs<ClientOptions<SdkConfig>>

/**
 * How one AWS service's client is built.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientSpec<C, SdkConfig> {
  /** The service name used in errors, spans and metrics, e.g. `dynamodb`. */
  readonly service: string
  /** The service id of the SDK's endpoint variables, as in `AWS_ENDPOINT_URL_<SERVICE_ID>`, e.g. `DYNAMODB`. */
  readonly serviceId: string
  /** Builds one SDK client from our settings and the caller's `clientConfig`. */
  readonly build: (config: ClientConfig, clientConfig: SdkConfig | undefined) => C
}

/**
 * The constructors of one service's client, all alike: `make`, `layer` and `layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientFactory<Self, C, SdkConfig> {
  readonly make: (
    options: ClientOptions<SdkConfig>
  ) => Effect.Effect<ManagedClient<C>, AwsError.ConfigurationError, Credentials.Credentials | Scope.Scope>
  readonly layer: (
    options: ClientOptions<SdkConfig>
  ) => Layer.Layer<Self, AwsError.ConfigurationError, Credentials.Credentials>
  readonly layerConfig: (
    options?: ClientConfigOptions<SdkConfig>
  ) => Layer.Layer<Self, AwsError.ConfigurationError, Credentials.Credentials>
}

/**
 * The one factory of this project's service clients: `DynamoDB` and `SQS` are each a tag and a `ClientSpec`.
 *
 * @example
 * ```ts
 * import { ManagedClient } from "@aws-resilience/core"
 * import { STSClient, type STSClientConfig } from "@aws-sdk/client-sts"
 * import { Context } from "effect"
 *
 * class STS extends Context.Tag("app/STS")<STS, ManagedClient.ManagedClient<STSClient>>() {}
 * const STSClients = ManagedClient.factory(STS, {
 *   service: "sts",
 *   serviceId: "STS",
 *   build: (config, extra: STSClientConfig | undefined) => new STSClient({ ...extra, ...config })
 * })
 * // Region and endpoint from AWS_REGION and AWS_ENDPOINT_URL_STS, as the SDK reads them.
 * export const STSLive = STSClients.layerConfig()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const factory = <Self, C extends { destroy(): void }, SdkConfig>(
  tag: Context.Tag<Self, ManagedClient<C>>,
  spec: ClientSpec<C, SdkConfig>
): ClientFactory<Self, C, SdkConfig> => {
  const makeClient = (
    options: ClientOptions<SdkConfig>
  ): Effect.Effect<ManagedClient<C>, AwsError.ConfigurationError, Credentials.Credentials | Scope.Scope> =>
    make({
      service: spec.service,
      region: options.region,
      endpoint: options.endpoint,
      budget: options.budget,
      drainTimeout: options.drainTimeout,
      build: (config) => spec.build(config, options.clientConfig)
    })
  return {
    make: makeClient,
    layer: (options) => Layer.scoped(tag, makeClient(options)),
    layerConfig: (options = {}) =>
      Layer.scoped(
        tag,
        Effect.flatMap(
          AwsConfig.read<ClientOptions<SdkConfig>>({
            region: AwsConfig.region,
            endpoint: Config.map(AwsConfig.endpoint(spec.serviceId), Option.getOrUndefined)
          }, options),
          makeClient
        )
      )
  }
}
