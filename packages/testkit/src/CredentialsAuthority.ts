/**
 * An in-memory issuer of temporary AWS credentials, with a container-credentials HTTP endpoint
 * (the one the SDK reads through `AWS_CONTAINER_CREDENTIALS_FULL_URI`) and knobs to rotate,
 * revoke, expire and break it. It uses wall-clock time, because real network servers read it.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import { listen } from "./internal/httpServer.js"
import { withLiveClock } from "./internal/liveClock.js"
import { randomAlnum, randomBase64, safeEqual } from "./internal/secrets.js"
import type * as StackError from "./StackError.js"

/**
 * One issued set of temporary credentials. Secrets stay redacted.
 *
 * @since 0.1.0
 * @category models
 */
export interface CredentialSet {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken: Redacted.Redacted<string>
  readonly expiration: Date
}

/**
 * The same set as plain values, the shape the AWS SDK takes as static credentials.
 *
 * @since 0.1.0
 * @category models
 */
export interface StaticCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken: string
  readonly expiration: Date
}

/**
 * What the gateway learns about an access key id.
 *
 * @since 0.1.0
 * @category models
 */
export type Lookup =
  | { readonly status: "unknown" }
  | {
    readonly status: "valid" | "revoked" | "expired"
    readonly secretAccessKey: Redacted.Redacted<string>
    readonly sessionToken: Redacted.Redacted<string>
  }

/**
 * Options of `rotate`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RotateOptions {
  /** How long the previous set stays valid; by default it is invalid at once. */
  readonly graceFor?: Duration.DurationInput
}

/**
 * Options of `outage`: answer 500 (`fail`) or never answer (`hang`) for a while.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutageOptions {
  readonly mode: "fail" | "hang"
  readonly for: Duration.DurationInput
}

/**
 * Options of the authority.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Lifetime of each issued set (default "1 hour"). */
  readonly ttl?: Duration.DurationInput
  /** Token the endpoint expects in `Authorization` (default: random). */
  readonly authorizationToken?: Redacted.Redacted<string>
  /** Loopback host of the endpoint (default "127.0.0.1"). */
  readonly host?: string
  /** Port of the endpoint (default 0: any free port). */
  readonly port?: number
  /** Role ARN returned with the credentials. */
  readonly roleArn?: string
  /**
   * When the current set is revoked or expired, the endpoint issues a new one on the next fetch, as ECS and
   * Lambda do (default true). Set false to keep serving the bad set.
   */
  readonly reissue?: boolean
}

/**
 * The authority: its endpoint, its current set, and the knobs that break it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Full URI of the container-credentials endpoint. */
  readonly endpoint: string
  readonly authorizationToken: Redacted.Redacted<string>
  readonly current: Effect.Effect<CredentialSet>
  /** The current set as plain values, for static or environment credentials. */
  readonly currentStatic: Effect.Effect<StaticCredentials>
  readonly rotate: (options?: RotateOptions) => Effect.Effect<CredentialSet>
  /** Makes the key (default: the current one) unknown to the gateway. */
  readonly revoke: (accessKeyId?: string) => Effect.Effect<void>
  /** Sets the key's expiration (default: the current one) to now. */
  readonly expire: (accessKeyId?: string) => Effect.Effect<void>
  readonly outage: (options: OutageOptions) => Effect.Effect<void>
  /** How many times the HTTP endpoint was asked for credentials. */
  readonly fetchCount: Effect.Effect<number>
  readonly lookup: (accessKeyId: string) => Effect.Effect<Lookup>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CredentialsAuthority extends Context.Tag("@aws-resilience/testkit/CredentialsAuthority")<
  CredentialsAuthority,
  Service
>() {}

/**
 * Unwraps a set into the plain values the SDK takes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toStatic = (set: CredentialSet): StaticCredentials => ({
  accessKeyId: set.accessKeyId,
  secretAccessKey: Redacted.value(set.secretAccessKey),
  sessionToken: Redacted.value(set.sessionToken),
  expiration: set.expiration
})

interface Entry {
  readonly set: CredentialSet
  readonly revoked: boolean
  /** Epoch ms after which a rotated-out set stops being valid. */
  readonly retiredAt: number | undefined
}

interface State {
  readonly current: string
  readonly entries: ReadonlyMap<string, Entry>
}

interface Outage {
  readonly mode: "fail" | "hang"
  readonly until: number
}

const issue = (ttl: Duration.Duration): CredentialSet => ({
  accessKeyId: `ASIA${randomAlnum(16)}`,
  secretAccessKey: Redacted.make(randomBase64(30)),
  sessionToken: Redacted.make(`FwoGZXIvYXdzE${randomBase64(96)}`),
  expiration: new Date(Date.now() + Duration.toMillis(ttl))
})

const statusOf = (entry: Entry, now: number): "valid" | "revoked" | "expired" => {
  if (entry.revoked || (entry.retiredAt !== undefined && now >= entry.retiredAt)) return "revoked"
  if (entry.set.expiration.getTime() <= now) return "expired"
  return "valid"
}

// AWS sends seconds precision; the SDK parses RFC 3339 either way.
const iso = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, "Z")

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

/**
 * Starts the authority and its HTTP endpoint; both stop when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, StackError.StackError, Scope.Scope> =>
  Effect.gen(function*() {
    const ttl = Duration.decode(options.ttl ?? "1 hour")
    const host = options.host ?? "127.0.0.1"
    const port = options.port ?? 0
    const roleArn = options.roleArn ?? "arn:aws:iam::000000000000:role/local-aws"
    const authorizationToken = options.authorizationToken ?? Redacted.make(randomBase64(24))
    const reissue = options.reissue ?? true

    const first = issue(ttl)
    const state = yield* Ref.make<State>({
      current: first.accessKeyId,
      entries: new Map([[first.accessKeyId, { set: first, revoked: false, retiredAt: undefined }]])
    })
    const outageRef = yield* Ref.make<Outage | undefined>(undefined)
    const fetches = yield* Ref.make(0)

    const currentEntry = Effect.map(Ref.get(state), (s) => s.entries.get(s.current)!)
    const current = Effect.map(currentEntry, (entry) => entry.set)

    const updateEntry = (accessKeyId: string | undefined, f: (entry: Entry) => Entry) =>
      Ref.update(state, (s) => {
        const id = accessKeyId ?? s.current
        const entry = s.entries.get(id)
        if (entry === undefined) return s
        const entries = new Map(s.entries)
        entries.set(id, f(entry))
        return { ...s, entries }
      })

    // Issues a new current set and retires the previous one at `retiredAt`.
    const rotated = (s: State, retiredAt: number): [CredentialSet, State] => {
      const next = issue(ttl)
      const entries = new Map(s.entries)
      const previous = entries.get(s.current)
      if (previous !== undefined) entries.set(s.current, { ...previous, retiredAt })
      entries.set(next.accessKeyId, { set: next, revoked: false, retiredAt: undefined })
      return [next, { current: next.accessKeyId, entries }]
    }

    const rotate = (rotateOptions?: RotateOptions) =>
      Ref.modify(state, (s) =>
        rotated(
          s,
          Date.now() + (rotateOptions?.graceFor === undefined ? 0 : Duration.toMillis(rotateOptions.graceFor))
        ))

    // The set the endpoint serves. Checking the current set and replacing a bad one happen in one step, so
    // concurrent fetches of a bad set all get the same new set instead of each retiring the previous fetcher's.
    const serve = Ref.modify(state, (s): [CredentialSet, State] => {
      const entry = s.entries.get(s.current)!
      const now = Date.now()
      return reissue && statusOf(entry, now) !== "valid" ? rotated(s, now) : [entry.set, s]
    })

    const lookup = (accessKeyId: string) =>
      Effect.map(Ref.get(state), (s): Lookup => {
        const entry = s.entries.get(accessKeyId)
        if (entry === undefined) return { status: "unknown" }
        return {
          status: statusOf(entry, Date.now()),
          secretAccessKey: entry.set.secretAccessKey,
          sessionToken: entry.set.sessionToken
        }
      })

    const credentialsHandler = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      yield* Ref.update(fetches, (n) => n + 1)
      const given = request.headers["authorization"]
      if (given === undefined || given === "") {
        return json(401, { Code: "Unauthorized", Message: "Missing authorization token" })
      }
      if (!safeEqual(given, Redacted.value(authorizationToken))) {
        return json(403, { Code: "AccessDenied", Message: "Invalid authorization token" })
      }
      const outage = yield* Ref.get(outageRef)
      const now = Date.now()
      if (outage !== undefined && now < outage.until) {
        if (outage.mode === "fail") {
          return json(500, { Code: "InternalError", Message: "The credentials endpoint is unavailable" })
        }
        yield* Effect.sleep(Duration.millis(outage.until - now))
      }
      // Like a real platform, the endpoint never hands out a set it knows to be revoked or expired.
      const set = yield* serve
      return json(200, {
        Code: "Success",
        Type: "AWS-HMAC",
        AccessKeyId: set.accessKeyId,
        SecretAccessKey: Redacted.value(set.secretAccessKey),
        Token: Redacted.value(set.sessionToken),
        Expiration: iso(set.expiration),
        LastUpdated: iso(new Date()),
        RoleArn: roleArn
      })
    }).pipe(withLiveClock)

    const handler = yield* NodeHttpServer.makeHandler(HttpRouter.empty.pipe(
      HttpRouter.get("/credentials", credentialsHandler)
    ))
    const { port: boundPort } = yield* listen(() => Http.createServer(handler), {
      component: "credentials endpoint",
      host,
      port
    })

    return CredentialsAuthority.of({
      endpoint: `http://${host}:${boundPort}/credentials`,
      authorizationToken,
      current,
      currentStatic: Effect.map(current, toStatic),
      rotate,
      revoke: (accessKeyId) => updateEntry(accessKeyId, (entry) => ({ ...entry, revoked: true })),
      expire: (accessKeyId) =>
        updateEntry(accessKeyId, (entry) => ({ ...entry, set: { ...entry.set, expiration: new Date(Date.now()) } })),
      outage: (outage) => Ref.set(outageRef, { mode: outage.mode, until: Date.now() + Duration.toMillis(outage.for) }),
      fetchCount: Ref.get(fetches),
      lookup
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<CredentialsAuthority, StackError.StackError> =>
  Layer.scoped(CredentialsAuthority, make(options))
