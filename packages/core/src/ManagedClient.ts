/**
 * A scoped AWS SDK client built from one credentials generation, which can be rebuilt for a newer one
 * without failing any call that is still using the old client.
 *
 * @since 0.1.0
 */
import type { AwsCredentialIdentity } from "@smithy/types"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as AwsError from "./AwsError.js"
import * as Credentials from "./Credentials.js"
import * as Metrics from "./Metrics.js"
import * as RetryBudget from "./RetryBudget.js"

/**
 * What an SDK client needs to be built. `maxAttempts` is always 1: retries are ours, so they never multiply
 * with the SDK's.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientConfig {
  readonly region: string
  readonly credentials: AwsCredentialIdentity
  readonly maxAttempts: 1
  readonly endpoint?: string
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
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ManagedClient<C> {
  readonly service: string
  readonly region: string
  /** Borrows the current client for one call. It is not destroyed before `f` ends. */
  readonly use: <A, E, R>(
    f: (client: C, generation: number) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | AwsError.CredentialsError | AwsError.ConfigurationError, R>
  /** Builds a new client, once, if the current one is still of `staleGeneration` and newer credentials exist. */
  readonly rebuild: (
    staleGeneration: number
  ) => Effect.Effect<void, AwsError.CredentialsError | AwsError.ConfigurationError>
  /** Refreshes the credentials and rebuilds the client after a `CredentialsError`, each once per generation. */
  readonly renew: (
    staleGeneration: number
  ) => Effect.Effect<void, AwsError.CredentialsError | AwsError.ConfigurationError>
  /** The retry budget shared by every call through this client. */
  readonly budget: RetryBudget.RetryBudget
  /** The generation of the current client (0 before the first call). */
  readonly generation: Effect.Effect<number>
  /** How many clients this has built. */
  readonly builds: Effect.Effect<number>
}

interface Entry<C> {
  readonly client: C
  readonly generation: number
  borrowers: number
  retired: boolean
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <C extends { destroy(): void }>(
  options: Options<C>
): Effect.Effect<ManagedClient<C>, never, Credentials.Credentials | Scope.Scope> =>
  Effect.gen(function*() {
    const credentials = yield* Credentials.Credentials
    const budget = yield* RetryBudget.make(options.budget)
    const lock = yield* Effect.makeSemaphore(1)
    const live = new Set<Entry<C>>()
    let current: Entry<C> | undefined
    let builds = 0
    let closed = false

    const destroy = (entry: Entry<C>) => {
      live.delete(entry)
      entry.client.destroy()
    }

    // Under the lock, so a rebuild in flight either finishes first or sees `closed` and builds nothing.
    yield* Effect.addFinalizer(() =>
      lock.withPermits(1)(Effect.sync(() => {
        closed = true
        for (const entry of live) destroy(entry)
        current = undefined
      }))
    )

    const install = (next: Credentials.AwsCredentials) =>
      Effect.gen(function*() {
        const client = options.build({
          region: options.region,
          credentials: next.toSdk(),
          maxAttempts: 1,
          ...(options.endpoint ? { endpoint: options.endpoint } : {})
        })
        const entry: Entry<C> = { client, generation: next.generation, borrowers: 0, retired: false }
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
        if (closed) return yield* Effect.dieMessage(`${options.service} client used after its scope closed`)
        if (current && current.generation > staleGeneration) return
        const next = yield* credentials.get
        if (current && next.generation <= current.generation) return
        yield* install(next)
      }))

    // Cheap on the hot path: a cached credentials read and a generation comparison.
    const fresh = Effect.flatMap(credentials.get, (c) =>
      current && current.generation >= c.generation ? Effect.void : rebuild(current?.generation ?? 0))

    const borrow = Effect.suspend(() => {
      const entry = current
      if (entry === undefined) {
        return Effect.dieMessage("ManagedClient used after its scope closed")
      }
      entry.borrowers++
      return Effect.succeed(entry)
    })

    const giveBack = (entry: Entry<C>) =>
      Effect.sync(() => {
        entry.borrowers--
        if (entry.retired && entry.borrowers === 0 && live.has(entry)) {
          destroy(entry)
        }
      })

    return {
      service: options.service,
      region: options.region,
      use: (f) =>
        Effect.zipRight(
          fresh,
          Effect.acquireUseRelease(borrow, (entry) =>
            f(entry.client, entry.generation), giveBack)
        ),
      rebuild,
      renew: (staleGeneration) => Effect.zipRight(credentials.refresh(staleGeneration), rebuild(staleGeneration)),
      budget,
      generation: Effect.sync(() => current?.generation ?? 0),
      builds: Effect.sync(() => builds)
    } satisfies ManagedClient<C>
  })

/**
 * The region as the SDK reads it from the environment (`AWS_REGION`, then `AWS_DEFAULT_REGION`). A missing
 * region is a `ConfigurationError` naming `AWS_REGION`.
 *
 * @since 0.1.0
 * @category config
 */
export const regionConfig: Effect.Effect<string, AwsError.ConfigurationError> = Config.string("AWS_REGION").pipe(
  Config.orElse(() => Config.string("AWS_DEFAULT_REGION")),
  Config.option,
  Effect.mapError((cause) =>
    new AwsError.ConfigurationError({ setting: "AWS_REGION", detail: `could not be read: ${cause}`, cause })
  ),
  Effect.flatMap(Option.match({
    onNone: () =>
      Effect.fail(
        new AwsError.ConfigurationError({
          setting: "AWS_REGION",
          detail: "is not set: set AWS_REGION to the region your tables and queues live in, e.g. us-east-1"
        })
      ),
    onSome: (region) =>
      region.trim() === ""
        ? Effect.fail(new AwsError.ConfigurationError({ setting: "AWS_REGION", detail: "is empty" }))
        : Effect.succeed(region)
  }))
)

/**
 * The endpoint the SDK would read from the environment for a service (`AWS_ENDPOINT_URL_<SERVICE>`, then
 * `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true). Passing it to the client explicitly
 * saves the SDK from resolving it again on every request.
 *
 * @since 0.1.0
 * @category config
 */
export const endpointConfig = (serviceId: string): Effect.Effect<Option.Option<string>> =>
  Config.all({
    ignore: Config.boolean("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").pipe(Config.withDefault(false)),
    endpoint: Config.option(
      Config.string(`AWS_ENDPOINT_URL_${serviceId.toUpperCase()}`).pipe(
        Config.orElse(() => Config.string("AWS_ENDPOINT_URL"))
      )
    )
  }).pipe(
    Effect.map(({ endpoint, ignore }) =>
      ignore ? Option.none() : Option.filter(Option.map(endpoint, (e) => e.trim()), (e) => e !== "")
    ),
    // A malformed AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is the SDK's to refuse; here it only means "not ignored".
    Effect.orElseSucceed(() => Option.none())
  )
