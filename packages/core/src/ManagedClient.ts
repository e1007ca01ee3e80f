/**
 * A scoped AWS SDK client built from one credentials generation, which can be rebuilt for a newer one
 * without failing any call that is still using the old client.
 *
 * @since 0.1.0
 */
import type { AwsCredentialIdentity, RequestHandler } from "@smithy/types"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as AwsConfig from "./AwsConfig.js"
import * as AwsError from "./AwsError.js"
import * as Credentials from "./Credentials.js"
import * as ConnectionPool from "./internal/connectionPool.js"
import * as Turnstile from "./internal/turnstile.js"
import * as Metrics from "./Metrics.js"
import * as RetryBudget from "./RetryBudget.js"

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
  /**
   * Hands the clock offset the current SDK client has learnt from the server's `Date` header (its
   * `config.systemClockOffset`) to the credentials service, which then judges expiry by the server's clock.
   * Called on the retry path, so a skewed clock is noticed after its first rejected call.
   */
  readonly syncClockOffset: Effect.Effect<void>
  /**
   * The borrow of `use` without an effect, for a hot path that runs its own request (as `Resilience.execute`
   * does): the current client when it can be lent at once (credentials fresh, client of their generation, scope
   * open), else `undefined`, and then `use` does the rest. The caller must `release` it exactly when its use ends
   * (however it ends: success, failure or interruption), and must take it where it cannot be interrupted before
   * it has arranged that, e.g. in `Effect.async`'s register function. Until then the client is not destroyed,
   * and closing the scope waits for it (and interrupts `fiber` after `drainTimeout`). For interruption, set the
   * borrow's `aborter` and have `unsafeCanceler` run when the fiber is interrupted: it releases the borrow and
   * aborts.
   */
  readonly unsafeBorrow: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => Borrow<C> | undefined
  /**
   * What to run when a call that took `unsafeBorrow` is interrupted (as `Effect.async`'s canceler, or from a failure
   * handler that sees the interruption): it gives back the fiber's borrows that have an `aborter`, and aborts it.
   * One effect for every call: a canceler made per call (a closure over its signal) keeps each call's request and
   * response alive long after the call, a cost in garbage collection on every call.
   */
  readonly unsafeCanceler: Effect.Effect<void>
}

/**
 * One client lent for one use.
 *
 * @since 0.1.0
 * @category models
 */
export interface Borrow<C> {
  readonly client: C
  readonly generation: number
  /** Gives the client back; `true` the first time, `false` after (so it can be called from every way out). */
  readonly release: () => boolean
  /** What `unsafeCanceler` aborts when the borrower's fiber is interrupted (after giving the client back). */
  aborter: { abort(): void } | undefined
}

interface Entry<C> {
  readonly client: C
  readonly generation: number
  readonly accessKeyId: string
  borrowers: number
  retired: boolean
  /** Set while a renewal after a rejection of this generation runs: new calls wait for it. */
  renewing: Deferred.Deferred<void> | undefined
}

const clockOffsetOf = (client: unknown): number | undefined => {
  const offset = (client as { config?: { systemClockOffset?: unknown } } | undefined)?.config?.systemClockOffset
  return typeof offset === "number" && Number.isFinite(offset) ? offset : undefined
}

// Placeholder credentials for the probe client `make` builds to check `build` and its configuration.
const probeCredentials: AwsCredentialIdentity = { accessKeyId: "probe", secretAccessKey: "probe" }

// How many calls that waited for a renewal go on in the first turn of the event loop (twice as many in the next):
// each signs its request, ~0.3 ms of CPU.
const RESUMED_PER_TURN = 16

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
  Effect.gen(function*() {
    const region = yield* AwsConfig.validateRegion(options.region)
    const endpoint = options.endpoint === undefined || options.endpoint === ""
      ? undefined
      : yield* AwsConfig.validateEndpoint(options.endpoint)
    const configFor = (
      credentials: AwsCredentialIdentity,
      systemClockOffset: number,
      pool: RequestHandler<any, any, any> | undefined
    ): ClientConfig => ({
      region,
      credentials,
      maxAttempts: 1,
      systemClockOffset,
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(pool !== undefined ? { requestHandler: ConnectionPool.view(pool) } : {})
    })
    const build = (config: ClientConfig) =>
      Effect.try({
        try: () => options.build(config),
        catch: (cause) =>
          new AwsError.ConfigurationError({
            setting: `${options.service} client`,
            detail: `building the SDK client failed: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      })
    // A `build` that throws, or an SDK client that refuses its configuration, fails here rather than on a call.
    const probe = yield* build(configFor(probeCredentials, 0, undefined))
    // Its request handler (made by the SDK from the caller's settings, or the caller's own) is the one connection
    // pool of every client built from here on; the probe has used no connection.
    const pool = ConnectionPool.handlerOf(probe)
    if (pool === undefined) probe.destroy()

    const credentials = yield* Credentials.Credentials
    const budget = yield* RetryBudget.make(options.budget)
    const lock = yield* Effect.makeSemaphore(1)
    const drainTimeout = options.drainTimeout ?? "10 seconds"
    const live = new Set<Entry<C>>()
    // The borrows not yet given back, with the fiber of each: closing the scope waits for them, then interrupts.
    const borrowing = new Set<Lent>()
    let current: Entry<C> | undefined
    let builds = 0
    let state: "open" | "draining" | "closed" = "open"
    let drained: Deferred.Deferred<void> | undefined
    // After a renewal the calls that waited for it, or failed for the old generation, go on in growing groups, one
    // per turn of the event loop; calls that start while some still wait queue behind them.
    const turnstile = Turnstile.make(RESUMED_PER_TURN)

    const destroy = (entry: Entry<C>) => {
      live.delete(entry)
      entry.client.destroy()
    }

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // Under the lock, so a rebuild in flight either finishes first or sees `draining` and builds nothing.
        yield* lock.withPermits(1)(Effect.sync(() => {
          state = "draining"
        }))
        if (borrowing.size > 0) {
          drained = Deferred.unsafeMake(FiberId.none)
          // Finalizers run uninterruptibly: the wait must be interruptible for the timeout to end it.
          const finished = yield* Deferred.await(drained).pipe(
            Effect.interruptible,
            Effect.timeout(drainTimeout),
            Effect.option
          )
          if (Option.isNone(finished)) {
            yield* Effect.logWarning(
              `${options.service}: ${borrowing.size} call(s) still running when the scope closed; interrupting them`
            )
            yield* Fiber.interruptAll(new Set(Array.from(borrowing, (borrow) => borrow.fiber)))
          }
        }
        state = "closed"
        for (const entry of live) destroy(entry)
        current = undefined
        pool?.destroy?.()
      })
    )

    const install = (next: Credentials.AwsCredentials) =>
      Effect.gen(function*() {
        const identity = next.toSdk()
        const client = yield* build(configFor(identity, yield* credentials.clockOffset, pool))
        // With the SDK's handler cache on (`cacheMiddleware: true`), calls hand the pool their signals through it.
        ConnectionPool.carryCallSignals(client)
        const entry: Entry<C> = {
          client,
          generation: next.generation,
          accessKeyId: identity.accessKeyId,
          borrowers: 0,
          retired: false,
          renewing: undefined
        }
        live.add(entry)
        const previous = current
        current = entry
        builds++
        // The old client is retired, and destroyed only once its last borrower has returned it.
        if (previous) {
          previous.retired = true
          if (previous.borrowers === 0) destroy(previous)
          yield* Metric.increment(Metrics.clientRebuilds)
          yield* Effect.logDebug(`${options.service} client rebuilt`).pipe(
            Effect.annotateLogs({ from: previous.generation, to: next.generation })
          )
        }
      })

    const rebuild = (staleGeneration: number) =>
      lock.withPermits(1)(Effect.gen(function*() {
        if (state === "closed") return yield* Effect.dieMessage(`${options.service} client used after its scope closed`)
        // While draining, calls in flight finish with the clients they have: nothing new is built.
        if (state === "draining") return
        if (current && current.generation > staleGeneration) return
        const next = yield* credentials.get
        if (current && next.generation <= current.generation) return
        yield* install(next)
      }))

    // Requests of `generation` still queued for a connection are withdrawn: AWS would reject them too.
    const withdraw = (generation: number, reason: AwsError.CredentialsReason) =>
      Effect.suspend(() => {
        let withdrawn = 0
        for (const entry of live) {
          if (entry.generation !== generation) continue
          const handler = ConnectionPool.handlerOf(entry.client)
          if (handler === undefined) continue
          withdrawn += ConnectionPool.withdrawQueued(
            handler,
            entry.accessKeyId,
            () => new AwsError.WithdrawnRequest(reason, generation)
          )
        }
        return withdrawn === 0 ? Effect.void : Effect.logDebug(
          `${options.service}: ${withdrawn} queued request(s) signed with rejected credentials withdrawn unsent`
        ).pipe(Effect.annotateLogs({ generation, reason }))
      })

    const renew = (staleGeneration: number, reason?: AwsError.CredentialsReason) => {
      const renewal = Effect.zipRight(credentials.refresh(staleGeneration), rebuild(staleGeneration))
      // A provider's failure says nothing of the requests signed before it.
      if (reason === undefined || reason === "ProviderFailure") return renewal
      // Uninterruptible but for the work, so that a generation marked rejected is always unmarked.
      return Effect.uninterruptibleMask((restore) => {
        const entry = current
        // The first call to see the rejection withdraws the queued requests and marks the generation rejected;
        // the others share its renewal.
        if (entry === undefined || entry.generation !== staleGeneration || entry.renewing !== undefined) {
          return restore(Effect.zipRight(renewal, turnstile.pass))
        }
        const done = entry.renewing = Deferred.unsafeMake<void>(FiberId.none)
        const work = withdraw(staleGeneration, reason).pipe(
          Effect.zipRight(renewal),
          Effect.tap(() =>
            // Requests signed before the new client was installed may have been queued since (unless the new
            // client signs with the same key, when there is nothing to tell them apart by).
            current !== undefined && current.accessKeyId !== entry.accessKeyId
              ? withdraw(staleGeneration, reason)
              : Effect.void
          )
        )
        return restore(work).pipe(
          Effect.ensuring(Effect.sync(() => {
            entry.renewing = undefined
            Deferred.unsafeDone(done, Exit.void)
          })),
          Effect.zipRight(restore(turnstile.pass))
        )
      })
    }

    class Lent implements Borrow<C> {
      readonly client: C
      readonly generation: number
      aborter: { abort(): void } | undefined = undefined
      private returned = false
      constructor(readonly entry: Entry<C>, readonly fiber: Fiber.RuntimeFiber<unknown, unknown>) {
        this.client = entry.client
        this.generation = entry.generation
        entry.borrowers++
        borrowing.add(this)
      }
      release(): boolean {
        if (this.returned) return false
        this.returned = true
        const entry = this.entry
        entry.borrowers--
        borrowing.delete(this)
        if (entry.retired && entry.borrowers === 0 && live.has(entry)) destroy(entry)
        if (drained !== undefined && borrowing.size === 0) Deferred.unsafeDone(drained, Exit.void)
        return true
      }
    }

    // The borrow: taken and given back without a fiber switch; uninterruptible but for `f`, so that an
    // interruption can never leave a borrow counted (the client would outlive its use) or uncounted (destroyed
    // under its borrower).
    const lend = <A, E, R>(f: (client: C, generation: number) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.withFiberRuntime<A, E, R>((fiber) => {
          const entry = current
          if (entry === undefined) return Effect.dieMessage(`${options.service} client used after its scope closed`)
          const borrow = new Lent(entry, fiber)
          return Effect.ensuring(restore(f(entry.client, entry.generation)), Effect.sync(() => borrow.release()))
        })
      )

    const unsafeCanceler = Effect.withFiberRuntime<void>((fiber) => {
      // Only on an interruption: a scan of the borrows in flight finds the fiber's (one for `execute`'s fast path).
      for (const borrow of borrowing) {
        if (borrow.fiber === fiber && borrow.aborter !== undefined && borrow.release()) borrow.aborter.abort()
      }
      return Effect.void
    })

    return {
      service: options.service,
      region,
      // A cached credentials read and a generation comparison, then the borrow; checked when the effect runs (a
      // retry runs the same effect again).
      use: (f) =>
        Effect.suspend(() => {
          const borrow = Effect.flatMap(
            credentials.get,
            (c) =>
              current !== undefined && current.generation >= c.generation
                ? lend(f)
                : Effect.zipRight(rebuild(current?.generation ?? 0), lend(f))
          )
          // The current generation has been rejected: its requests would be too, so wait for the renewal.
          const renewing = current?.renewing
          if (renewing !== undefined) {
            return Effect.zipRight(Effect.zipRight(Deferred.await(renewing), turnstile.pass), borrow)
          }
          return turnstile.waiting() > 0 ? Effect.zipRight(turnstile.pass, borrow) : borrow
        }),
      rebuild,
      renew,
      budget,
      generation: Effect.sync(() => current?.generation ?? 0),
      builds: Effect.sync(() => builds),
      syncClockOffset: Effect.suspend(() => {
        const offset = clockOffsetOf(current?.client)
        return offset === undefined ? Effect.void : credentials.reportClockOffset(offset)
      }),
      unsafeBorrow: (fiber) => {
        const entry = current
        if (entry === undefined || state !== "open" || entry.renewing !== undefined || turnstile.waiting() > 0) {
          return undefined
        }
        const fresh = credentials.unsafeFresh(Context.get(fiber.currentDefaultServices, Clock.Clock))
        return fresh !== undefined && entry.generation >= fresh.generation ? new Lent(entry, fiber) : undefined
      },
      unsafeCanceler
    } satisfies ManagedClient<C>
  })

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
