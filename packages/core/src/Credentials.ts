/**
 * The credentials service: resolves through the SDK's own providers, caches the result with its source,
 * expiration and a generation number, refreshes before expiry, and refreshes on demand only once per stale
 * generation however many fibers ask.
 *
 * @since 0.1.0
 */
import type { AwsCredentialIdentity } from "@smithy/types"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import { NodeInspectSymbol } from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AwsConfig from "./AwsConfig.js"
import type * as AwsError from "./AwsError.js"
import * as CredentialsProvider from "./CredentialsProvider.js"
import * as diagnostics from "./internal/credentialDiagnostics.js"
import * as redact from "./internal/redact.js"
import * as Metrics from "./Metrics.js"

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
export class AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken: Redacted.Redacted<string> | undefined
  readonly expiration: Date | undefined
  /** Which provider produced the set, e.g. `environment`, `container`, `imds`, `profile`. */
  readonly source: string
  /** Increases with each new set this service resolves. */
  readonly generation: number
  constructor(fields: {
    readonly accessKeyId: string
    readonly secretAccessKey: Redacted.Redacted<string>
    readonly sessionToken?: Redacted.Redacted<string> | undefined
    readonly expiration?: Date | undefined
    readonly source: string
    readonly generation: number
  }) {
    this.accessKeyId = fields.accessKeyId
    this.secretAccessKey = fields.secretAccessKey
    this.sessionToken = fields.sessionToken
    this.expiration = fields.expiration
    this.source = fields.source
    this.generation = fields.generation
  }
  /** The access key id with all but its last 4 characters hidden. */
  get maskedAccessKeyId(): string {
    return maskAccessKeyId(this.accessKeyId)
  }
  /** The plain identity the SDK signs with. */
  toSdk(): AwsCredentialIdentity {
    return {
      accessKeyId: this.accessKeyId,
      secretAccessKey: Redacted.value(this.secretAccessKey),
      ...(this.sessionToken ? { sessionToken: Redacted.value(this.sessionToken) } : {}),
      ...(this.expiration ? { expiration: this.expiration } : {})
    }
  }
  toJSON(): unknown {
    return {
      _id: "AwsCredentials",
      accessKeyId: this.maskedAccessKeyId,
      source: this.source,
      generation: this.generation,
      expiration: this.expiration?.toISOString()
    }
  }
  toString(): string {
    return `AwsCredentials(${this.maskedAccessKeyId}, ${this.source}, generation ${this.generation})`
  }
  [NodeInspectSymbol](): unknown {
    return this.toJSON()
  }
}

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
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The current set, resolving or refreshing it first when there is none or it is about to expire. */
  readonly get: Effect.Effect<AwsCredentials, AwsError.CredentialsError | AwsError.ConfigurationError>
  /** Resolves a new set, but only if `staleGeneration` is still the current generation. */
  readonly refresh: (
    staleGeneration: number
  ) => Effect.Effect<AwsCredentials, AwsError.CredentialsError | AwsError.ConfigurationError>
  /** The cached set, without resolving anything. */
  readonly current: Effect.Effect<Option.Option<AwsCredentials>>
  /** How many times the provider has been called. */
  readonly resolutions: Effect.Effect<number>
  /** AWS's clock minus the local clock, in ms, as last reported (0 until then). Expiry is judged by AWS's clock. */
  readonly clockOffset: Effect.Effect<number>
  /**
   * Records AWS's clock minus the local clock, in ms, e.g. an SDK client's `config.systemClockOffset`. Logs a
   * warning when the offset first exceeds 1 minute or moves by more than that since the last warning.
   */
  readonly reportClockOffset: (offsetMs: number) => Effect.Effect<void>
  /**
   * The cached set when `get` would serve it at once without any other work: one that does not expire, or whose
   * expiry (by AWS's clock, read through `clock`) is beyond the advisory window. `undefined` otherwise: then use
   * `get`. For hot paths that cannot afford an effect per call.
   */
  readonly unsafeFresh: (clock: Clock.Clock) => AwsCredentials | undefined
}

type Failure = AwsError.CredentialsError | AwsError.ConfigurationError

// The provider is not asked again within this long of a failure.
const failurePause = 1_000
// Nor within this long of a set that arrived already inside the windows (or expired): it is what the provider
// has, and asking sooner would bring the same, one new generation (and one new client) per call.
const windowPause = 10_000
// An offset from AWS's clock worth a warning: a fifth of the mandatory window. The SDK itself only corrects skews
// of 5 minutes or more, so every offset it reports is already past this.
const skewThreshold = 60_000

/**
 * @since 0.1.0
 * @category tags
 */
export class Credentials extends Context.Tag("@aws-resilience/core/Credentials")<Credentials, Service>() {}

/**
 * Builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const provider = options.provider ?? CredentialsProvider.chain()
    const advisory = Duration.toMillis(options.advisoryWindow ?? "10 minutes")
    const mandatory = Duration.toMillis(options.mandatoryWindow ?? "5 minutes")
    const timeout = options.timeout ?? "5 seconds"
    let resolutions = 0
    let verified = !options.verify
    let cached: AwsCredentials | undefined
    let resolvedAt = Number.NEGATIVE_INFINITY
    let failedAt = Number.NEGATIVE_INFINITY
    let lastFailure: Failure | undefined
    // Whether the last set the provider gave was already inside the advisory window (or expired) on arrival.
    let arrivedInWindow = false
    // AWS's clock minus ours, and the offset last warned about (0: none).
    let offset = 0
    let warnedOffset = 0
    // The one resolution in flight, shared by every caller that saw the same generation, success or failure.
    let flight: Deferred.Deferred<AwsCredentials, Failure> | undefined

    // How long a set has left, in ms, judged by AWS's clock (which signs and checks the expiry).
    const leftOf = (credentials: AwsCredentials, now: number): number =>
      credentials.expiration === undefined
        ? Number.POSITIVE_INFINITY
        : credentials.expiration.getTime() - (now + offset)

    const resolve = (generation: number) =>
      Effect.gen(function*() {
        resolutions++
        yield* Metric.increment(Metrics.credentialRefreshes)
        // Disconnected, so that a load that cannot be interrupted still times out: it finishes in the background.
        const identity = yield* Effect.disconnect(provider.load).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new Error(`credential provider ${provider.name} did not answer within ${Duration.format(timeout)}`)
          }),
          Effect.mapError((cause) => diagnostics.providerFailure(provider, generation - 1, cause))
        )
        const credentials = new AwsCredentials({
          accessKeyId: identity.accessKeyId,
          secretAccessKey: Redacted.make(identity.secretAccessKey),
          sessionToken: identity.sessionToken ? Redacted.make(identity.sessionToken) : undefined,
          expiration: identity.expiration,
          source: CredentialsProvider.sourceOf(identity, provider),
          generation
        })
        for (const warning of diagnostics.misconfigurations(identity)) yield* Effect.logWarning(warning)
        if (!verified) {
          yield* diagnostics.verifyIdentity(credentials, options.region)
          verified = true
        }
        yield* Effect.logInfo("credentials resolved").pipe(
          Effect.annotateLogs({
            source: credentials.source,
            accessKeyId: credentials.maskedAccessKeyId,
            generation: credentials.generation,
            expires: credentials.expiration?.toISOString() ?? "never (served until rejected)"
          })
        )
        const now = yield* Clock.currentTimeMillis
        const left = leftOf(credentials, now)
        if (left <= 0) {
          yield* Effect.logWarning(
            `credential provider ${provider.name} returned a set that expired ${Math.ceil(-left / 1000)} s ago by ` +
              `AWS's clock; it is served as the provider's latest, and asked for again in ${windowPause / 1000} s`
          ).pipe(
            Effect.annotateLogs({ accessKeyId: credentials.maskedAccessKeyId, generation: credentials.generation })
          )
        }
        cached = credentials
        resolvedAt = now
        arrivedInWindow = left <= advisory
        return credentials
      }).pipe(
        Effect.tapError((e) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            failedAt = now
            lastFailure = e
            return Effect.logWarning("credentials resolution failed", e.message)
          })
        ),
        Effect.withSpan("Credentials.resolve", { attributes: { provider: provider.name }, captureStackTrace: false })
      )

    // Starts a resolution unless one is in flight. It runs in a fiber of its own (bounded by the provider
    // timeout), so interrupting the caller that started it does not cancel it for the others; starting it is
    // uninterruptible, so the shared result is always delivered.
    const startFlight = (seen: number) =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (flight !== undefined) return Effect.succeed(flight)
        const deferred = Deferred.unsafeMake<AwsCredentials, Failure>(FiberId.none)
        flight = deferred
        // A forked fiber inherits this region's status: the resolution itself stays interruptible.
        return Effect.interruptible(resolve(seen + 1)).pipe(
          Effect.onExit((exit) =>
            Effect.suspend(() => {
              flight = undefined
              return Deferred.done(deferred, exit)
            })
          ),
          Effect.forkDaemon,
          Effect.as(deferred)
        )
      }))

    const resolveIfStill = (seen: number): Effect.Effect<AwsCredentials, Failure> =>
      Effect.suspend(() =>
        cached !== undefined && cached.generation > seen
          ? Effect.succeed(cached)
          : Effect.flatMap(startFlight(seen), Deferred.await)
      )

    // The provider is not asked again right after a failure, nor right after a set that arrived already inside
    // the windows, whatever callers ask and whether that set is still valid or not: this bounds the load on it. A
    // set that arrived healthy and then was rejected is worth asking again for at once.
    const paused = (now: number) => now - failedAt < failurePause || (arrivedInWindow && now - resolvedAt < windowPause)

    // Inside the pauses, callers get what the provider last answered: its failure if that came last, else its set.
    const lastAnswer = (
      credentials: AwsCredentials | undefined,
      seen: number
    ): Effect.Effect<AwsCredentials, Failure> =>
      lastFailure !== undefined && (credentials === undefined || failedAt > resolvedAt)
        ? Effect.fail(lastFailure)
        : credentials !== undefined
        ? Effect.succeed(credentials)
        : resolveIfStill(seen)

    // The hot path of every call: one read and, for expiring sets, one clock read; no fiber-level work.
    const get: Service["get"] = Effect.suspend(() => {
      const credentials = cached
      if (credentials === undefined) {
        return Effect.clockWith((clock) =>
          flight === undefined && paused(clock.unsafeCurrentTimeMillis())
            ? lastAnswer(undefined, 0)
            : resolveIfStill(0)
        )
      }
      if (credentials.expiration === undefined) return Effect.succeed(credentials)
      return Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const left = leftOf(credentials, now)
        if (left > advisory) return Effect.succeed(credentials)
        const recentlyTried = paused(now)
        if (left <= mandatory) {
          // Inside the pause: a valid set is served, an expired one too if it is the provider's latest answer.
          if (recentlyTried && left > 0) return Effect.succeed(credentials)
          if (recentlyTried && flight === undefined) return lastAnswer(credentials, credentials.generation)
          return resolveIfStill(credentials.generation).pipe(
            Effect.catchAll((error) => left > 0 ? Effect.succeed(credentials) : Effect.fail(error))
          )
        }
        if (!recentlyTried && flight === undefined) return Effect.as(startFlight(credentials.generation), credentials)
        return Effect.succeed(credentials)
      })
    })

    const refresh: Service["refresh"] = (staleGeneration) =>
      Effect.suspend(() => {
        const credentials = cached
        if (credentials !== undefined && credentials.generation > staleGeneration) return get
        return Effect.clockWith((clock) =>
          paused(clock.unsafeCurrentTimeMillis()) && flight === undefined
            ? lastAnswer(credentials, staleGeneration)
            : resolveIfStill(staleGeneration)
        )
      })

    const reportClockOffset: Service["reportClockOffset"] = (offsetMs) =>
      Effect.suspend(() => {
        if (!Number.isFinite(offsetMs)) return Effect.void
        offset = offsetMs
        const skewed = Math.abs(offsetMs) >= skewThreshold
        // Once per significant change, never per call.
        if (skewed ? Math.abs(offsetMs - warnedOffset) < skewThreshold : warnedOffset === 0) return Effect.void
        warnedOffset = skewed ? offsetMs : 0
        if (!skewed) return Effect.logInfo("clock skew gone: local clock agrees with AWS within a minute")
        const seconds = Math.round(Math.abs(offsetMs) / 1000)
        return Effect.logWarning(
          `clock skew detected: local clock is ${seconds} s ${offsetMs > 0 ? "behind" : "ahead of"} AWS; ` +
            `credentials expiry is judged by AWS's clock`
        ).pipe(Effect.annotateLogs({ clockOffsetMs: offsetMs }))
      })

    return {
      get,
      refresh,
      current: Effect.sync(() => Option.fromNullable(cached)),
      resolutions: Effect.sync(() => resolutions),
      clockOffset: Effect.sync(() => offset),
      reportClockOffset,
      unsafeFresh: (clock) => {
        const credentials = cached
        if (credentials === undefined || credentials.expiration === undefined) return credentials
        return leftOf(credentials, clock.unsafeCurrentTimeMillis()) > advisory
          ? credentials
          : undefined
      }
    } satisfies Service
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Credentials> => Layer.effect(Credentials, make(options))

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
