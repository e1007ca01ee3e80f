/**
 * A SigV4-verifying reverse proxy in front of the local DynamoDB, SQS and STS backends. One
 * loopback port serves all three: the service is read from the credential scope of the request's
 * `Authorization` header. It answers auth failures exactly as AWS does (or, on demand, in the malformed shape some
 * emulators and proxies use), injects faults from a seeded `FaultPlan`, and counts every request by outcome.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import { CredentialsAuthority } from "./CredentialsAuthority.js"
import * as FaultPlan from "./FaultPlan.js"
import {
  errorResponse,
  type GatewayFailure,
  isCredentialRejection,
  malformedRejection,
  type WireResponse
} from "./internal/awsErrors.js"
import { makeFaultInjector } from "./internal/faultInjector.js"
import { type BackendResponse, type BackendTarget, forward, readBody } from "./internal/forward.js"
import { listen } from "./internal/httpServer.js"
import { withLiveClock } from "./internal/liveClock.js"
import { safeEqual } from "./internal/secrets.js"
import {
  makeSignerCache,
  parseAmzDate,
  parseAuthorization,
  type ParsedAuthorization,
  verifySignature
} from "./internal/sigv4.js"
import { splitBatchWrite, withUnprocessed } from "./internal/unprocessed.js"
import type * as StackError from "./StackError.js"

/**
 * How the gateway handled one request.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | "ok"
  | "latency"
  | "lostResponse"
  | "unprocessed"
  | "reset"
  | "throttle"
  | "status500"
  | "status503"
  | "missingAuthentication"
  | "unrecognizedClient"
  | "expiredToken"
  | "invalidSignature"
  | "signatureExpired"
  | "badGateway"
  | "unsupported"

/**
 * Request counts by outcome.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutcomeCounts {
  readonly total: number
  readonly byOutcome: Readonly<Partial<Record<Outcome, number>>>
}

/**
 * Request counts since start or the last `resetStats`; `forwarded` counts requests that reached a backend.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats extends OutcomeCounts {
  readonly forwarded: number
  readonly byService: Readonly<Partial<Record<FaultPlan.ServiceName, OutcomeCounts>>>
}

/**
 * Base URLs of the backends (`http://127.0.0.1:port`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Backends {
  readonly dynamodb: string
  readonly sqs: string
  readonly sts: string
}

/**
 * How the gateway answers a credentials rejection (an unknown, revoked or still propagating key, a forged or expired
 * session token, a wrong secret) on DynamoDB and SQS:
 * - `aws`: as AWS does, in the service's JSON protocol (`__type`, and `x-amzn-query-error` on SQS), so the SDK
 *   raises `UnrecognizedClientException`, `InvalidClientTokenId`, `ExpiredToken...`;
 * - `malformed`: as some emulators and proxies do, HTTP 403 with a Query-protocol XML body
 *   (`<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>...`), `content-type: text/html`,
 *   no `x-amzn-ErrorType`, `x-amzn-query-error` or `x-amzn-requestid` header (the request id is only in the body).
 *   The SDK cannot parse it and throws a `SyntaxError` carrying `$metadata.httpStatusCode` 403 and `$response`.
 *
 * STS, whose protocol is XML already, and the other failures (missing authentication, clock skew, injected faults)
 * keep the AWS shape.
 *
 * @since 0.1.0
 * @category models
 */
export type RejectionShape = "aws" | "malformed"

/**
 * Options of `setRejectionShape`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RejectionShapeOptions {
  /**
   * Use the shape only this long, then go back to the one last set without `for` (default: until changed). A later
   * call replaces an earlier window.
   */
  readonly for?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly backends: Backends
  /** Loopback host to listen on (default "127.0.0.1"). */
  readonly host?: string
  /** Port to listen on (default 0: any free port). */
  readonly port?: number
  /** Initial fault plan (default `FaultPlan.empty`), validated when the gateway starts. */
  readonly plan?: FaultPlan.FaultPlanEncoded | FaultPlan.FaultPlan | undefined
  /**
   * The gateway's clock minus the real one, in ms (default 0). Like AWS, it refuses a request signed more than
   * 5 minutes away from its clock ("Signature expired"), and every response carries its clock in `Date`.
   */
  readonly clockOffsetMs?: number | undefined
  /** How credentials rejections are answered (default "aws"). See `RejectionShape`. */
  readonly rejectionShape?: RejectionShape | undefined
}

/**
 * The running gateway: where it listens, its fault plan, its clock and its counts.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Base URL of the gateway, the endpoint for all three services. */
  readonly url: string
  readonly port: number
  readonly plan: Effect.Effect<FaultPlan.FaultPlan>
  /**
   * Validates and installs a plan; its seeded sequence and `times` budgets restart. An invalid plan fails
   * with `FaultPlanError` and leaves the current plan in place.
   */
  readonly setPlan: (
    plan: FaultPlan.FaultPlanEncoded | FaultPlan.FaultPlan
  ) => Effect.Effect<void, FaultPlan.FaultPlanError>
  /** Installs `FaultPlan.empty`, which cannot fail (for finalizers). */
  readonly clearPlan: Effect.Effect<void>
  /** Moves the gateway's clock: `offsetMs` ahead of the real one (negative: behind). See `Options.clockOffsetMs`. */
  readonly setClockOffset: (offsetMs: number) => Effect.Effect<void>
  /** The shape credentials rejections are answered in now. */
  readonly rejectionShape: Effect.Effect<RejectionShape>
  /** Answers credentials rejections in `shape`, until changed or for `options.for`. See `RejectionShape`. */
  readonly setRejectionShape: (shape: RejectionShape, options?: RejectionShapeOptions) => Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
  readonly resetStats: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Gateway extends Context.Tag("@aws-resilience/testkit/Gateway")<Gateway, Service>() {}

const emptyStats: Stats = { total: 0, forwarded: 0, byOutcome: {}, byService: {} }

const bump = (counts: OutcomeCounts, outcome: Outcome): OutcomeCounts => ({
  total: counts.total + 1,
  byOutcome: { ...counts.byOutcome, [outcome]: (counts.byOutcome[outcome] ?? 0) + 1 }
})

const FORWARDED: ReadonlySet<Outcome> = new Set(["ok", "latency", "lostResponse", "unprocessed"])

const record = (stats: Stats, service: FaultPlan.ServiceName | undefined, outcome: Outcome): Stats => {
  const overall = bump(stats, outcome)
  return {
    ...overall,
    forwarded: stats.forwarded + (FORWARDED.has(outcome) ? 1 : 0),
    byService: service === undefined ? stats.byService : {
      ...stats.byService,
      [service]: bump(stats.byService[service] ?? { total: 0, byOutcome: {} }, outcome)
    }
  }
}

const header = (headers: Http.IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

const serviceOf = (
  authorization: ParsedAuthorization | undefined,
  headers: Http.IncomingHttpHeaders
): FaultPlan.ServiceName | undefined => {
  const scoped = authorization?.service
  if (scoped === "dynamodb" || scoped === "sqs" || scoped === "sts") return scoped
  // Unsigned requests: recognise the protocol instead.
  const target = header(headers, "x-amz-target") ?? ""
  if (target.startsWith("DynamoDB_")) return "dynamodb"
  if (target.startsWith("AmazonSQS.")) return "sqs"
  if ((header(headers, "content-type") ?? "").startsWith("application/x-www-form-urlencoded")) return "sts"
  return undefined
}

const operationOf = (service: FaultPlan.ServiceName, headers: Http.IncomingHttpHeaders, body: Buffer): string => {
  if (service === "sts") return new URLSearchParams(body.toString("utf8")).get("Action") ?? ""
  const target = header(headers, "x-amz-target") ?? ""
  return target.slice(target.lastIndexOf(".") + 1)
}

const targetOf = (url: string): BackendTarget => {
  const parsed = new URL(url)
  return { hostname: parsed.hostname, port: Number(parsed.port) }
}

// Every answer carries the gateway's clock, as AWS's do: the SDK corrects its clock offset from it.
const reply = (response: Http.ServerResponse, wire: WireResponse | BackendResponse, now: number): void => {
  response.writeHead(wire.status, {
    ...wire.headers,
    date: new Date(now).toUTCString(),
    "content-length": String(Buffer.byteLength(wire.body))
  })
  response.end(wire.body)
}

// AWS refuses a signing date more than 5 minutes away from its clock.
const skewTolerance = 5 * 60_000

const amzDate = (ms: number): string => new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "")

// AWS's own texts for a signing date outside the tolerance.
const skewDetail = (signed: string, signedAt: number, now: number): string =>
  signedAt < now
    ? `Signature expired: ${signed} is now earlier than ${amzDate(now - skewTolerance)} (${amzDate(now)} - 5 min.)`
    : `Signature not yet current: ${signed} is still later than ${amzDate(now + skewTolerance)} (${
      amzDate(now)
    } + 5 min.)`

interface ShapeState {
  readonly base: RejectionShape
  /** A shape in force until `until` (epoch ms, wall clock), then `base` again. */
  readonly temporary: { readonly shape: RejectionShape; readonly until: number } | undefined
}

const shapeAt = (state: ShapeState, now: number): RejectionShape =>
  state.temporary !== undefined && now < state.temporary.until ? state.temporary.shape : state.base

// Backends set their own request id; the gateway supplies one when they do not.
const withRequestId = (backend: BackendResponse, requestId: string): BackendResponse =>
  backend.headers["x-amzn-requestid"] === undefined
    ? { ...backend, headers: { ...backend.headers, "x-amzn-requestid": requestId } }
    : backend

/**
 * Starts the gateway on a loopback port; it stops when the scope closes, interrupting the requests in flight
 * (their sockets are destroyed). Fails with `FaultPlanError` if `options.plan` is invalid.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  Service,
  StackError.StackError | FaultPlan.FaultPlanError,
  CredentialsAuthority | Scope.Scope
> =>
  Effect.gen(function*() {
    const initialPlan = options.plan === undefined ? FaultPlan.empty : yield* FaultPlan.decode(options.plan)
    const authority = yield* CredentialsAuthority
    const host = options.host ?? "127.0.0.1"
    const requestedPort = options.port ?? 0
    const targets: Record<FaultPlan.ServiceName, BackendTarget> = {
      dynamodb: targetOf(options.backends.dynamodb),
      sqs: targetOf(options.backends.sqs),
      sts: targetOf(options.backends.sts)
    }
    const injector = yield* Ref.make(makeFaultInjector(initialPlan))
    const stats = yield* Ref.make(emptyStats)
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Http.Agent({ keepAlive: true, maxSockets: 64 })),
      (agent) => Effect.sync(() => agent.destroy())
    )

    const shapes = yield* Ref.make<ShapeState>({ base: options.rejectionShape ?? "aws", temporary: undefined })
    const signers = makeSignerCache()
    let clockOffset = options.clockOffsetMs ?? 0
    const now = () => Date.now() + clockOffset

    const authenticate = (
      request: Http.IncomingMessage,
      body: Buffer,
      authorization: ParsedAuthorization | undefined
    ): Effect.Effect<GatewayFailure | undefined> =>
      Effect.gen(function*() {
        if (authorization === undefined) return "missingAuthentication"
        const signingDate = parseAmzDate(header(request.headers, "x-amz-date"))
        const key = yield* authority.lookup(authorization.accessKeyId)
        // A key that is still propagating is not known to the service yet.
        if (key.status === "unknown" || key.status === "revoked" || key.status === "propagating") {
          return "unrecognizedClient"
        }
        const sessionToken = Redacted.value(key.sessionToken)
        const givenToken = header(request.headers, "x-amz-security-token")
        if (givenToken === undefined || !safeEqual(givenToken, sessionToken)) return "unrecognizedClient"
        if (signingDate === undefined || !header(request.headers, "x-amz-date")!.startsWith(authorization.date)) {
          return "invalidSignature"
        }
        const valid = yield* Effect.promise(() =>
          verifySignature(signers, {
            method: request.method ?? "POST",
            url: request.url ?? "/",
            headers: request.headers,
            body,
            authorization,
            signingDate,
            secretAccessKey: Redacted.value(key.secretAccessKey),
            sessionToken
          })
        )
        if (!valid) return "invalidSignature"
        if (Math.abs(signingDate.getTime() - now()) > skewTolerance) return "signatureExpired"
        if (key.status === "expired") return "expiredToken"
        return undefined
      })

    const handle = (request: Http.IncomingMessage, response: Http.ServerResponse): Effect.Effect<void, Error> =>
      Effect.gen(function*() {
        const body = yield* readBody(request)
        const requestId = randomUUID()
        const authorization = parseAuthorization(header(request.headers, "authorization"))
        const service = serviceOf(authorization, request.headers)
        const count = (outcome: Outcome) => Ref.update(stats, (s) => record(s, service, outcome))
        if (service === undefined) {
          reply(response, {
            status: 400,
            headers: { "content-type": "application/json", "x-amzn-requestid": requestId },
            body: JSON.stringify({ message: "The gateway serves only dynamodb, sqs and sts" })
          }, now())
          return yield* count("unsupported")
        }
        const failure = yield* authenticate(request, body, authorization)
        if (failure !== undefined) {
          const signed = header(request.headers, "x-amz-date") ?? ""
          const detail = failure === "signatureExpired"
            ? skewDetail(signed, parseAmzDate(signed)?.getTime() ?? 0, now())
            : undefined
          const shape = shapeAt(yield* Ref.get(shapes), Date.now())
          reply(
            response,
            shape === "malformed" && service !== "sts" && isCredentialRejection(failure)
              ? malformedRejection(failure, requestId)
              : errorResponse(service, failure, requestId, detail),
            now()
          )
          return yield* count(failure)
        }
        const operation = operationOf(service, request.headers, body)
        const rule = yield* Effect.map(Ref.get(injector), (injector) => injector.next(service, operation))
        // Resolves to undefined when the backend is unreachable, after answering 502.
        const forwardBody = (payload: Buffer) =>
          forward(agent, targets[service], request, payload).pipe(
            Effect.catchAll(() =>
              Effect.sync(() =>
                reply(response, {
                  status: 502,
                  headers: { "content-type": "application/json", "x-amzn-requestid": requestId },
                  body: JSON.stringify({ message: "The gateway could not reach the backend" })
                }, now())
              ).pipe(Effect.zipRight(count("badGateway")), Effect.as(undefined))
            )
          )
        const proxy = forwardBody(body)
        // Forwards the request as it came and passes the backend's answer on.
        const passThrough = (outcome: Outcome) =>
          Effect.flatMap(proxy, (backend) =>
            backend === undefined ? Effect.void : Effect.zipRight(
              Effect.sync(() => reply(response, withRequestId(backend, requestId), now())),
              count(outcome)
            ))
        switch (rule?.fault) {
          case undefined:
            return yield* passThrough("ok")
          case "throttle":
          case "status500":
          case "status503": {
            reply(response, errorResponse(service, rule.fault, requestId), now())
            return yield* count(rule.fault)
          }
          case "reset": {
            request.socket.destroy()
            return yield* count("reset")
          }
          case "latency": {
            yield* Effect.sleep(Duration.millis(rule.latencyMs ?? FaultPlan.defaultLatencyMs))
            return yield* passThrough("latency")
          }
          case "lostResponse": {
            // The backend has fully answered (the write is committed) before the client loses it.
            const backend = yield* proxy
            if (backend === undefined) return
            request.socket.destroy()
            return yield* count("lostResponse")
          }
          case "unprocessed": {
            // The injector only picks this rule for DynamoDB BatchWriteItem. The signature was verified on the
            // original bytes; the backend does not check it, so it gets a new body with half of the requests.
            const split = splitBatchWrite(body)
            if (split === undefined || split.heldCount === 0) return yield* passThrough("ok")
            const backend = yield* forwardBody(split.forward)
            if (backend === undefined) return
            reply(response, withRequestId(withUnprocessed(backend, split.held), requestId), now())
            // A backend error answers for the whole request, so nothing was held back from the client.
            return yield* count(backend.status === 200 ? "unprocessed" : "ok")
          }
        }
      })

    // Request fibers belong to the gateway's scope: closing it interrupts latency sleeps and forwards in flight.
    const runFork = yield* FiberSet.makeRuntime<never, void, never>()
    const onRequest = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      runFork(
        handle(request, response).pipe(
          withLiveClock,
          Effect.catchAllCause(() => Effect.sync(() => response.headersSent || request.socket.destroy())),
          Effect.onInterrupt(() => Effect.sync(() => request.socket.destroy()))
        )
      )
    }

    const { port } = yield* listen(() => Http.createServer(onRequest), {
      component: "gateway",
      host,
      port: requestedPort,
      // Longer than the SDK's idle keep-alive, so an idle socket is not closed under a new request.
      keepAliveTimeout: 65_000
    })

    return Gateway.of({
      url: `http://${host}:${port}`,
      port,
      plan: Effect.map(Ref.get(injector), (injector) => injector.plan),
      setPlan: (plan) =>
        Effect.flatMap(FaultPlan.decode(plan), (decoded) => Ref.set(injector, makeFaultInjector(decoded))),
      clearPlan: Ref.set(injector, makeFaultInjector(FaultPlan.empty)),
      setClockOffset: (offsetMs) =>
        Effect.sync(() => {
          clockOffset = offsetMs
        }),
      rejectionShape: Effect.map(Ref.get(shapes), (state) => shapeAt(state, Date.now())),
      setRejectionShape: (shape, shapeOptions) =>
        Ref.update(shapes, (state): ShapeState =>
          shapeOptions?.for === undefined
            ? { base: shape, temporary: undefined }
            : {
              ...state,
              temporary: { shape, until: Date.now() + Duration.toMillis(Duration.decode(shapeOptions.for)) }
            }),
      stats: Ref.get(stats),
      resetStats: Ref.set(stats, emptyStats)
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Gateway, StackError.StackError | FaultPlan.FaultPlanError, CredentialsAuthority> =>
  Layer.scoped(Gateway, make(options))
