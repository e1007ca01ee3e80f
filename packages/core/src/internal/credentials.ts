/**
 * The engine of the credentials service: the cache, the single-flight resolution, the windows before expiry, and
 * the poll of a source that keeps serving a rejected set (or keeps failing), spaced by a backoff that grows however
 * many callers wait.
 */
import type { AwsCredentialIdentity } from "@smithy/types"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AwsConfig from "../AwsConfig.js"
import type * as AwsError from "../AwsError.js"
import type * as Credentials from "../Credentials.js"
import * as CredentialsProvider from "../CredentialsProvider.js"
import * as Generation from "../Generation.js"
import * as Metrics from "../Metrics.js"
import { AwsCredentials } from "./awsCredentials.js"
import * as diagnostics from "./credentialDiagnostics.js"
import { Verdicts } from "./generation.js"

/** What the clients of this project need of the service beyond its public face. */
export interface Engine extends Credentials.Service {
  /**
   * The cached set when `get` would serve it at once without any other work: one that does not expire, or whose
   * expiry (by AWS's clock, read through `clock`) is beyond the advisory window. `undefined` otherwise.
   */
  readonly unsafeFresh: (clock: Clock.Clock) => AwsCredentials | undefined
  /** Records AWS's clock minus the local clock, in ms (an SDK client's `config.systemClockOffset`). */
  readonly reportClockOffset: (offsetMs: number) => Effect.Effect<void>
  /** What AWS has said of each generation. */
  readonly verdicts: Verdicts
  /** AWS served a request signed with `generation`: a poll backoff ends. In place, for the hot path. */
  readonly unsafeAccept: (generation: number) => void
}

const EngineId: unique symbol = Symbol.for("@aws-resilience/core/internal/credentials/Engine")

/** The engine behind a service built by `make`; `undefined` for a service made some other way. */
export const engineOf = (service: Credentials.Service): Engine | undefined =>
  (service as { readonly [EngineId]?: Engine })[EngineId]

type Failure = AwsError.CredentialsError | AwsError.ConfigurationError

/**
 * What the provider answered last: nothing yet, a set (which may have arrived already inside the advisory window, or
 * expired), or a failure. The cached set is kept apart: it outlives a failure.
 */
type Answer =
  | { readonly _tag: "None" }
  | { readonly _tag: "Set"; readonly at: number; readonly inWindow: boolean }
  | { readonly _tag: "Failed"; readonly at: number; readonly failure: Failure }

// Nor within this long of a set that arrived already inside the windows (or expired): it is what the provider
// has, and asking sooner would bring the same.
const windowPause = 10_000
// An offset from AWS's clock worth a warning: a fifth of the mandatory window. The SDK itself only corrects skews
// of 5 minutes or more, so every offset it reports is already past this.
const skewThreshold = 60_000

/** A provider's answer checked: an expiration must be a date. */
const checked = (
  identity: AwsCredentialIdentity,
  provider: CredentialsProvider.Provider,
  generation: number
): Effect.Effect<AwsCredentialIdentity, Failure> => {
  const expiration: unknown = identity.expiration
  if (expiration === undefined || (expiration instanceof Date && Number.isFinite(expiration.getTime()))) {
    return Effect.succeed(identity)
  }
  const shown = expiration instanceof Date ? "an invalid Date" : JSON.stringify(String(expiration)).slice(0, 40)
  return Effect.fail(diagnostics.providerFailure(
    provider,
    generation,
    new Error(`credential provider ${provider.name} returned an expiration that is not a date (expiration: ${shown})`)
  ))
}

/** The options' durations, checked: a bad one is a `ConfigurationError` naming it. */
const durationsOf = (options: Credentials.Options) =>
  Effect.all({
    advisory: AwsConfig.validateDuration(options.advisoryWindow ?? "10 minutes", "Credentials advisoryWindow"),
    mandatory: AwsConfig.validateDuration(options.mandatoryWindow ?? "5 minutes", "Credentials mandatoryWindow"),
    timeout: AwsConfig.validateDuration(options.timeout ?? "5 seconds", "Credentials timeout", { positive: true }),
    pollBase: AwsConfig.validateDuration(options.pollInterval ?? "500 millis", "Credentials pollInterval", {
      positive: true
    }),
    pollCap: AwsConfig.validateDuration(options.maxPollInterval ?? "4 seconds", "Credentials maxPollInterval", {
      positive: true
    })
  })

export const make = (
  options: Credentials.Options = {}
): Effect.Effect<Credentials.Service, AwsError.ConfigurationError> =>
  Effect.map(durationsOf(options), (durations) => {
    const provider = options.provider ?? CredentialsProvider.chain()
    const advisory = Duration.toMillis(durations.advisory)
    const mandatory = Duration.toMillis(durations.mandatory)
    const timeout = durations.timeout
    const pollBase = Duration.toMillis(durations.pollBase)
    const pollCap = Math.max(pollBase, Duration.toMillis(durations.pollCap))
    const verdicts = new Verdicts()
    let resolutions = 0
    let verified = !options.verify
    let cached: AwsCredentials | undefined
    // What the provider answered last.
    let answer: Answer = { _tag: "None" }
    // Answers in a row that brought no new set (a failure, or the set already cached): the poll's backoff.
    let streak = 0
    // AWS's clock minus ours, and the offset last warned about (0: none).
    let offset = 0
    let warnedOffset = 0
    // The one resolution in flight, shared by every caller, success or failure.
    let flight: Deferred.Deferred<AwsCredentials, Failure> | undefined

    // How long to wait, after the last answer, before asking the provider again: none after a new set, then
    // `pollBase` doubling up to `pollCap`.
    const spacing = () => streak === 0 ? 0 : Math.min(pollCap, pollBase * 2 ** (streak - 1))
    const lastAnsweredAt = () => answer._tag === "None" ? Number.NEGATIVE_INFINITY : answer.at

    // How long a set has left, in ms, judged by AWS's clock (which signs and checks the expiry).
    const leftOf = (credentials: AwsCredentials, now: number): number =>
      credentials.expiration === undefined
        ? Number.POSITIVE_INFINITY
        : credentials.expiration.getTime() - (now + offset)

    const resolve = Effect.gen(function*() {
      resolutions++
      yield* Metric.increment(Metrics.credentialRefreshes)
      const previous = cached
      // Disconnected, so that a load that cannot be interrupted still times out: it finishes in the background.
      const identity = yield* Effect.disconnect(provider.load).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new Error(`credential provider ${provider.name} did not answer within ${Duration.format(timeout)}`)
        }),
        Effect.mapError((cause) => diagnostics.providerFailure(provider, previous?.generation ?? 0, cause)),
        Effect.flatMap((identity) => checked(identity, provider, previous?.generation ?? 0))
      )
      const generation = Generation.numberFor(
        previous && { generation: previous.generation, identity: previous.toSdk() },
        identity
      )
      const credentials = new AwsCredentials({
        accessKeyId: identity.accessKeyId,
        secretAccessKey: Redacted.make(identity.secretAccessKey),
        sessionToken: identity.sessionToken ? Redacted.make(identity.sessionToken) : undefined,
        expiration: identity.expiration,
        source: CredentialsProvider.sourceOf(identity, provider),
        generation
      })
      const now = yield* Clock.currentTimeMillis
      if (previous !== undefined && previous.generation === generation) {
        // The set already cached: no progress. Kept with what the provider now says of its expiry.
        streak++
        cached = credentials
        answer = { _tag: "Set", at: now, inWindow: leftOf(credentials, now) <= advisory }
        yield* Effect.logDebug("credential provider answered with the set already cached").pipe(
          Effect.annotateLogs({ accessKeyId: credentials.maskedAccessKeyId, generation, nextPollMs: spacing() })
        )
        return credentials
      }
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
      answer = { _tag: "Set", at: now, inWindow: left <= advisory }
      // Only a healthy new set ends the poll's backoff: one that arrived inside the windows (or expired) is what a
      // provider with nothing better hands out, and asking it at once would bring another such.
      streak = answer.inWindow ? streak + 1 : 0
      return credentials
    }).pipe(
      Effect.tapError((e) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          streak++
          answer = { _tag: "Failed", at: now, failure: e }
          return Effect.logWarning("credentials resolution failed", e.message)
        })
      ),
      Effect.withSpan("Credentials.resolve", { attributes: { provider: provider.name }, captureStackTrace: false })
    )

    // Starts a resolution unless one is in flight, after the poll's spacing. It runs in a fiber of its own (bounded
    // by the spacing and the provider timeout), so interrupting the caller that started it does not cancel it for
    // the others; starting it is uninterruptible, so the shared result is always delivered.
    const startFlight = Effect.uninterruptible(Effect.suspend(() => {
      if (flight !== undefined) return Effect.succeed(flight)
      const deferred = Deferred.unsafeMake<AwsCredentials, Failure>(FiberId.none)
      flight = deferred
      const wait = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const due = lastAnsweredAt() + spacing() - now
        return due > 0 ? Effect.sleep(Duration.millis(due)) : Effect.void
      })
      // A forked fiber inherits this region's status: the resolution itself stays interruptible.
      return Effect.interruptible(Effect.zipRight(wait, resolve)).pipe(
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
        cached !== undefined && Generation.isNewer(cached.generation, seen)
          ? Effect.succeed(cached)
          : Effect.flatMap(startFlight, Deferred.await)
      )

    // `get` does not ask the provider again within the poll's spacing of a failure, nor right after a set that
    // arrived already inside the windows: this bounds the load on it.
    const paused = (now: number) =>
      answer._tag === "Failed"
        ? now - answer.at < spacing()
        : answer._tag === "Set" && answer.inWindow && now - answer.at < windowPause

    // Inside the pauses, callers get what the provider last answered: its failure, or its set.
    const lastAnswer = (credentials: AwsCredentials | undefined): Effect.Effect<AwsCredentials, Failure> =>
      answer._tag === "Failed"
        ? Effect.fail(answer.failure)
        : credentials !== undefined
        ? Effect.succeed(credentials)
        : resolveIfStill(Generation.none)

    // The hot path of every call: one read and, for expiring sets, one clock read; no fiber-level work.
    const get: Credentials.Service["get"] = Effect.suspend(() => {
      const credentials = cached
      if (credentials === undefined) {
        return Effect.clockWith((clock) =>
          flight === undefined && paused(clock.unsafeCurrentTimeMillis())
            ? lastAnswer(undefined)
            : resolveIfStill(Generation.none)
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
          if (recentlyTried && flight === undefined) return lastAnswer(credentials)
          return Effect.flatMap(startFlight, Deferred.await).pipe(
            Effect.catchAll((error) => left > 0 ? Effect.succeed(credentials) : Effect.fail(error))
          )
        }
        if (!recentlyTried && flight === undefined) return Effect.as(startFlight, credentials)
        return Effect.succeed(credentials)
      })
    })

    // A newer set than `staleGeneration` if one is cached; else one answer of the provider, after the poll's
    // spacing, shared by every caller: a new set, or the one it still serves.
    const refresh: Credentials.Service["refresh"] = (staleGeneration) => resolveIfStill(staleGeneration)

    const reportClockOffset: Engine["reportClockOffset"] = (offsetMs) =>
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

    const engine: Engine = {
      get,
      refresh,
      current: Effect.sync(() => Option.fromNullable(cached)),
      resolutions: Effect.sync(() => resolutions),
      clockOffset: Effect.sync(() => offset),
      reportClockOffset,
      verdicts,
      unsafeAccept: (generation) => {
        // A set AWS serves ends the backoff of a poll that brought it again (a key that was propagating).
        if (verdicts.accept(generation) && cached?.generation === generation) streak = 0
      },
      unsafeFresh: (clock) => {
        const credentials = cached
        if (credentials === undefined || credentials.expiration === undefined) return credentials
        return leftOf(credentials, clock.unsafeCurrentTimeMillis()) > advisory
          ? credentials
          : undefined
      }
    }
    const service: Credentials.Service = {
      get: engine.get,
      refresh: engine.refresh,
      current: engine.current,
      resolutions: engine.resolutions,
      clockOffset: engine.clockOffset
    }
    Object.defineProperty(service, EngineId, { value: engine, enumerable: false })
    return service
  })
