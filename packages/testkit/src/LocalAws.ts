/**
 * The whole local AWS stack, in-process: dynalite (DynamoDB), fauxqs (SQS and STS), the
 * credentials authority and the SigV4-verifying fault-injecting gateway in front of them.
 * Everything listens on loopback ephemeral ports and stops when the scope closes.
 *
 * @since 0.1.0
 */
import dynalite from "dynalite"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { buildApp } from "fauxqs"
import * as CredentialsAuthority from "./CredentialsAuthority.js"
import * as FaultPlan from "./FaultPlan.js"
import * as Gateway from "./Gateway.js"
import { groupBatchingStores } from "./internal/fifoGroups.js"
import { fromListenError, listen } from "./internal/httpServer.js"
import type * as StackError from "./StackError.js"

/**
 * Service endpoints, all through the gateway, plus the credentials endpoint's full URI.
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoints {
  readonly dynamodb: string
  readonly sqs: string
  readonly sts: string
  readonly credentials: string
}

/**
 * The backends without the gateway (no auth, no faults), for comparisons and direct reads.
 *
 * @since 0.1.0
 * @category models
 */
export interface DirectEndpoints {
  readonly dynamodb: string
  readonly sqs: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Region of the stack (default "us-east-1"). */
  readonly region?: string
  /** Lifetime of issued credentials (default "1 hour"). */
  readonly ttl?: Duration.DurationInput
  /** Token of the credentials endpoint (default: random). */
  readonly authorizationToken?: Redacted.Redacted<string>
  /** Fixed gateway port (default 0: any free port). */
  readonly gatewayPort?: number
  /** Fixed credentials endpoint port (default 0: any free port). */
  readonly credentialsPort?: number
  /** Initial fault plan of the gateway, validated when the stack starts. */
  readonly plan?: FaultPlan.FaultPlanEncoded | FaultPlan.FaultPlan | undefined
  /**
   * How long the credentials endpoint keeps serving a revoked or expired set before it issues a new one (default 0).
   * See `CredentialsAuthority.Options.revocationLag`.
   */
  readonly revocationLag?: Duration.DurationInput | undefined
  /**
   * How long each new set is refused by the gateway after it is issued (default 0; the initial set is usable at
   * once). See `CredentialsAuthority.Options.propagation`.
   */
  readonly propagation?: Duration.DurationInput | undefined
  /** How the gateway answers credentials rejections (default "aws"). See `Gateway.RejectionShape`. */
  readonly rejectionShape?: Gateway.RejectionShape | undefined
  /**
   * FIFO receives return as many messages of one group as asked for, in order, as SQS does; fauxqs alone returns
   * at most one message per group per receive. Default false.
   */
  readonly sqsFifoGroupBatches?: boolean | undefined
}

/**
 * The running stack: its region, endpoints, authority and gateway.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly region: string
  readonly endpoints: Endpoints
  readonly directEndpoints: DirectEndpoints
  readonly authorizationToken: Redacted.Redacted<string>
  readonly authority: CredentialsAuthority.Service
  readonly gateway: Gateway.Service
  /** Exactly the variables the SDK reads to use this stack (the token is a local dev token). */
  readonly env: Readonly<Record<string, string>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class LocalAws extends Context.Tag("@aws-resilience/testkit/LocalAws")<LocalAws, Service>() {}

const HOST = "127.0.0.1"

const startDynalite: Effect.Effect<string, StackError.StackError, Scope.Scope> = Effect.map(
  listen(() => dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }), {
    component: "dynalite",
    host: HOST,
    port: 0,
    // Longer than the gateway agent's reuse window, so a kept-alive socket is not closed under a request.
    keepAliveTimeout: 65_000
  }),
  ({ port }) => `http://${HOST}:${port}`
)

const startFauxqs = (
  region: string,
  fifoGroupBatches: boolean
): Effect.Effect<string, StackError.StackError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      // `startFauxqs` binds 0.0.0.0; building the app and listening ourselves keeps it on loopback.
      try: async () => {
        const stores = fifoGroupBatches ? { stores: await groupBatchingStores() } : {}
        const app = buildApp({ logger: false, defaultRegion: region, ...stores })
        const address = await app.listen({ port: 0, host: HOST })
        return { app, address }
      },
      catch: fromListenError("fauxqs", HOST, 0)
    }),
    ({ app }) => Effect.promise(() => app.close())
  ).pipe(Effect.map(({ address }) => address.replace("localhost", HOST)))

/**
 * Starts the whole stack; it stops when the scope closes. Fails with `FaultPlanError` if `options.plan` is invalid.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, StackError.StackError | FaultPlan.FaultPlanError, Scope.Scope> =>
  Effect.gen(function*() {
    const region = options.region ?? "us-east-1"
    // Checked before anything starts listening.
    const plan = options.plan === undefined ? undefined : yield* FaultPlan.decode(options.plan)
    const [dynamodbUrl, fauxqsUrl] = yield* Effect.all([
      startDynalite,
      startFauxqs(region, options.sqsFifoGroupBatches === true)
    ], { concurrency: 2 })
    const authority = yield* CredentialsAuthority.make({
      ...(options.ttl !== undefined ? { ttl: options.ttl } : {}),
      ...(options.authorizationToken !== undefined ? { authorizationToken: options.authorizationToken } : {}),
      ...(options.credentialsPort !== undefined ? { port: options.credentialsPort } : {}),
      ...(options.revocationLag !== undefined ? { revocationLag: options.revocationLag } : {}),
      ...(options.propagation !== undefined ? { propagation: options.propagation } : {})
    })
    const gateway = yield* Gateway.make({
      backends: { dynamodb: dynamodbUrl, sqs: fauxqsUrl, sts: fauxqsUrl },
      ...(options.gatewayPort !== undefined ? { port: options.gatewayPort } : {}),
      ...(plan !== undefined ? { plan } : {}),
      ...(options.rejectionShape !== undefined ? { rejectionShape: options.rejectionShape } : {})
    }).pipe(Effect.provideService(CredentialsAuthority.CredentialsAuthority, authority))

    return LocalAws.of({
      region,
      endpoints: { dynamodb: gateway.url, sqs: gateway.url, sts: gateway.url, credentials: authority.endpoint },
      directEndpoints: { dynamodb: dynamodbUrl, sqs: fauxqsUrl },
      authorizationToken: authority.authorizationToken,
      authority,
      gateway,
      env: {
        AWS_REGION: region,
        AWS_ENDPOINT_URL_DYNAMODB: gateway.url,
        AWS_ENDPOINT_URL_SQS: gateway.url,
        AWS_ENDPOINT_URL_STS: gateway.url,
        AWS_CONTAINER_CREDENTIALS_FULL_URI: authority.endpoint,
        AWS_CONTAINER_AUTHORIZATION_TOKEN: Redacted.value(authority.authorizationToken)
      }
    })
  })

/**
 * The stack, also exposing its authority and gateway under their own tags.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  LocalAws | CredentialsAuthority.CredentialsAuthority | Gateway.Gateway,
  StackError.StackError | FaultPlan.FaultPlanError
> =>
  Layer.scopedContext(
    Effect.map(make(options), (stack) =>
      Context.make(LocalAws, stack).pipe(
        Context.add(CredentialsAuthority.CredentialsAuthority, stack.authority),
        Context.add(Gateway.Gateway, stack.gateway)
      ))
  )

// Variables that would make the SDK's chain pick something other than the stack's container endpoint.
const shadowing = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_PROFILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  "AWS_ENDPOINT_URL"
]

/**
 * Points the process at the stack for the layer's lifetime through the variables the SDK reads in production
 * (`AWS_REGION`, `AWS_ENDPOINT_URL_*`, `AWS_CONTAINER_CREDENTIALS_FULL_URI`, `AWS_CONTAINER_AUTHORIZATION_TOKEN`),
 * so the production layers (`Credentials.layer()`, `DynamoDB.layerConfig()`, ...) work unchanged. The previous
 * values come back when the layer closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEnv: Layer.Layer<never, never, LocalAws> = Layer.scopedDiscard(
  Effect.flatMap(LocalAws, (stack) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const saved = new Map<string, string | undefined>()
        for (const key of [...shadowing, ...Object.keys(stack.env)]) saved.set(key, process.env[key])
        for (const key of shadowing) delete process.env[key]
        Object.assign(process.env, stack.env)
        return saved
      }),
      (saved) =>
        Effect.sync(() => {
          for (const [key, value] of saved) {
            if (value === undefined) delete process.env[key]
            else process.env[key] = value
          }
        })
    ))
)

/**
 * The stack with the process pointed at it: `layer(options)` plus `layerEnv`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithEnv = (
  options: Options = {}
): Layer.Layer<
  LocalAws | CredentialsAuthority.CredentialsAuthority | Gateway.Gateway,
  StackError.StackError | FaultPlan.FaultPlanError
> => Layer.provideMerge(layerEnv, layer(options))
