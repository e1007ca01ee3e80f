/**
 * An in-memory issuer of temporary AWS credentials, with a container-credentials HTTP endpoint
 * (the one the SDK reads through `AWS_CONTAINER_CREDENTIALS_FULL_URI`) and knobs to rotate,
 * revoke, expire and break it. It uses wall-clock time, because real network servers read it.
 *
 * It can also be a less kind source: one that lags a revocation (it keeps serving the revoked or expired set for
 * a while, as IAM's eventual consistency, a cached `credential_process` or a late container endpoint do), and one
 * whose new sets are refused for a while after they are issued (new keys propagate).
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
    /** `propagating`: issued less than the propagation time ago; the gateway refuses it as an unknown key. */
    readonly status: "valid" | "revoked" | "expired" | "propagating"
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
  /** How long the new set is refused after it is issued (default: the authority's `propagation`). */
  readonly propagation?: Duration.DurationInput
}

/**
 * Options of `revoke` and `expire`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RevokeOptions {
  /** The key to revoke or expire (default: the current one). */
  readonly accessKeyId?: string
  /**
   * How long the endpoint keeps serving the set after this revocation or expiry (default: the authority's
   * `revocationLag`). It matters only for the current set, the one the endpoint serves.
   */
  readonly lag?: Duration.DurationInput
}

/**
 * What a lagging source did: the windows in which the endpoint kept serving a revoked or expired current set, and
 * the fetches it answered with that set.
 *
 * @since 0.1.0
 * @category models
 */
export interface LagStats {
  /** Revocations or expiries of the current set that the endpoint lagged (a lag above 0). */
  readonly windows: number
  /**
   * Total length of those windows so far, in ms: each runs from the revocation until its lag ends or another set is
   * current, whichever comes first.
   */
  readonly lagMs: number
  /** Fetches answered with the revoked or expired set during those windows: the source calls made during lag. */
  readonly fetches: number
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
  /**
   * How long the endpoint keeps serving the current set after it is revoked or expired, before it issues a new one
   * (default 0). A revocation or expiry can override it (`RevokeOptions.lag`).
   */
  readonly revocationLag?: Duration.DurationInput
  /**
   * How long each set the authority issues is refused by the gateway, answered as an unknown key (default 0). A
   * rotation can override it (`RotateOptions.propagation`). The initial set is usable at once: it stands for the
   * credentials that existed before the test started.
   */
  readonly propagation?: Duration.DurationInput
}

/**
 * Options of `revokeEvery`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RevokeEveryOptions {
  /** The lag of each revocation (default: the authority's `revocationLag`). */
  readonly lag?: Duration.DurationInput
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
  /** Makes the key (default: the current one) unknown to the gateway; revoking a revoked key changes nothing. */
  readonly revoke: (accessKeyIdOrOptions?: string | RevokeOptions) => Effect.Effect<void>
  /** Sets the key's expiration (default: the current one) to now, unless it has expired already. */
  readonly expire: (accessKeyIdOrOptions?: string | RevokeOptions) => Effect.Effect<void>
  /**
   * Revokes the current set every `interval` (the first time one `interval` from now), on the wall clock, until the
   * scope closes. A revocation is what the platform does not announce: the endpoint issues the next set on its next
   * fetch (after the lag), whereas `rotate` would hand it over at once.
   */
  readonly revokeEvery: (
    interval: Duration.DurationInput,
    options?: RevokeEveryOptions
  ) => Effect.Effect<void, never, Scope.Scope>
  readonly outage: (options: OutageOptions) => Effect.Effect<void>
  /** How many times the HTTP endpoint was asked for credentials: the source calls. */
  readonly fetchCount: Effect.Effect<number>
  /** What the source's lag did so far (see `Options.revocationLag`). */
  readonly lagStats: Effect.Effect<LagStats>
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
  /** Epoch ms before which the gateway refuses the set (it is still propagating). */
  readonly usableFrom: number
  /** Epoch ms of its revocation. */
  readonly revokedAt: number | undefined
  /** Epoch ms after which a rotated-out set stops being valid. */
  readonly retiredAt: number | undefined
  /** Epoch ms at which another set became the current one. */
  readonly replacedAt: number | undefined
  /** How long the endpoint keeps serving the set once it is revoked or expired. */
  readonly lagMs: number
}

interface State {
  readonly current: string
  readonly entries: ReadonlyMap<string, Entry>
  /** Fetches answered with a revoked or expired set because of the lag. */
  readonly laggedFetches: number
}

interface Outage {
  readonly mode: "fail" | "hang"
  readonly until: number
}

const issue = (ttl: Duration.Duration, now: number): CredentialSet => ({
  accessKeyId: `ASIA${randomAlnum(16)}`,
  secretAccessKey: Redacted.make(randomBase64(30)),
  sessionToken: Redacted.make(`FwoGZXIvYXdzE${randomBase64(96)}`),
  expiration: new Date(now + Duration.toMillis(ttl))
})

// When the set stopped being usable (revoked, retired or expired), or undefined while it is usable.
const unusableSince = (entry: Entry, now: number): number | undefined => {
  const since = Math.min(entry.revokedAt ?? Infinity, entry.retiredAt ?? Infinity, entry.set.expiration.getTime())
  return since <= now ? since : undefined
}

const statusOf = (entry: Entry, now: number): "valid" | "revoked" | "expired" | "propagating" => {
  if (entry.revokedAt !== undefined || (entry.retiredAt !== undefined && now >= entry.retiredAt)) return "revoked"
  if (entry.set.expiration.getTime() <= now) return "expired"
  if (now < entry.usableFrom) return "propagating"
  return "valid"
}

// The window in which the endpoint served the set although it was unusable: from then until the lag ran out or
// another set became current. Only a set that went bad while it was the current one has one.
const lagWindow = (entry: Entry, now: number): number | undefined => {
  if (entry.lagMs <= 0) return undefined
  const since = unusableSince(entry, now)
  const servedUntil = entry.replacedAt ?? now
  if (since === undefined || since >= servedUntil) return undefined
  return Math.min(since + entry.lagMs, servedUntil) - since
}

const millis = (input: Duration.DurationInput | undefined): number =>
  input === undefined ? 0 : Duration.toMillis(Duration.decode(input))

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
    const revocationLag = millis(options.revocationLag)
    const propagation = millis(options.propagation)

    const entryOf = (set: CredentialSet, usableFrom: number): Entry => ({
      set,
      usableFrom,
      revokedAt: undefined,
      retiredAt: undefined,
      replacedAt: undefined,
      lagMs: revocationLag
    })

    // The initial set stands for credentials that existed before the test: it does not propagate.
    const start = Date.now()
    const first = issue(ttl, start)
    const state = yield* Ref.make<State>({
      current: first.accessKeyId,
      entries: new Map([[first.accessKeyId, entryOf(first, start)]]),
      laggedFetches: 0
    })
    const outageRef = yield* Ref.make<Outage | undefined>(undefined)
    const fetches = yield* Ref.make(0)

    const currentEntry = Effect.map(Ref.get(state), (s) => s.entries.get(s.current)!)
    const current = Effect.map(currentEntry, (entry) => entry.set)

    const updateEntry = (accessKeyId: string | undefined, f: (entry: Entry, now: number) => Entry) =>
      Ref.update(state, (s) => {
        const id = accessKeyId ?? s.current
        const entry = s.entries.get(id)
        if (entry === undefined) return s
        const entries = new Map(s.entries)
        entries.set(id, f(entry, Date.now()))
        return { ...s, entries }
      })

    // Issues a new current set, usable `propagationMs` from now, and retires the previous one at `retiredAt`.
    const rotated = (s: State, now: number, retiredAt: number, propagationMs: number): [CredentialSet, State] => {
      const next = issue(ttl, now)
      const entries = new Map(s.entries)
      const previous = entries.get(s.current)
      if (previous !== undefined) entries.set(s.current, { ...previous, retiredAt, replacedAt: now })
      entries.set(next.accessKeyId, entryOf(next, now + propagationMs))
      return [next, { ...s, current: next.accessKeyId, entries }]
    }

    const rotate = (rotateOptions?: RotateOptions) =>
      Ref.modify(state, (s) => {
        const now = Date.now()
        return rotated(
          s,
          now,
          now + millis(rotateOptions?.graceFor),
          rotateOptions?.propagation === undefined ? propagation : millis(rotateOptions.propagation)
        )
      })

    // The set the endpoint serves: the current one while it is usable or its lag lasts, then (with `reissue`) a new
    // one. Checking the current set and replacing a bad one happen in one step, so concurrent fetches of a bad set
    // all get the same new set instead of each retiring the previous fetcher's.
    const serve = Ref.modify(state, (s): [CredentialSet, State] => {
      const entry = s.entries.get(s.current)!
      const now = Date.now()
      const since = unusableSince(entry, now)
      if (since === undefined) return [entry.set, s]
      if (now < since + entry.lagMs) return [entry.set, { ...s, laggedFetches: s.laggedFetches + 1 }]
      return reissue ? rotated(s, now, now, propagation) : [entry.set, s]
    })

    const targetOf = (input: string | RevokeOptions | undefined): RevokeOptions =>
      typeof input === "string" ? { accessKeyId: input } : input ?? {}

    // A revocation or expiry sets the lag the endpoint gives it (unless the set had gone bad already); one of a set
    // that is already revoked (or expired) changes nothing.
    const spoil = (
      input: string | RevokeOptions | undefined,
      already: (entry: Entry, now: number) => boolean,
      spoiled: (entry: Entry, now: number) => Entry
    ) => {
      const target = targetOf(input)
      return updateEntry(target.accessKeyId, (entry, now) =>
        already(entry, now) ? entry : {
          ...spoiled(entry, now),
          ...(target.lag !== undefined && unusableSince(entry, now) === undefined ? { lagMs: millis(target.lag) } : {})
        })
    }
    const revoke = (input?: string | RevokeOptions) =>
      spoil(input, (entry) => entry.revokedAt !== undefined, (entry, now) => ({ ...entry, revokedAt: now }))
    const expire = (input?: string | RevokeOptions) =>
      spoil(
        input,
        (entry, now) => entry.set.expiration.getTime() <= now,
        (entry, now) => ({ ...entry, set: { ...entry.set, expiration: new Date(now) } })
      )

    const revokeEvery = (interval: Duration.DurationInput, everyOptions?: RevokeEveryOptions) =>
      Effect.sleep(interval).pipe(
        Effect.zipRight(revoke(everyOptions?.lag === undefined ? {} : { lag: everyOptions.lag })),
        Effect.forever,
        withLiveClock,
        Effect.forkScoped,
        Effect.asVoid
      )

    const lagStats = Effect.map(Ref.get(state), (s): LagStats => {
      const now = Date.now()
      let windows = 0
      let lagMs = 0
      for (const entry of s.entries.values()) {
        const window = lagWindow(entry, now)
        if (window === undefined) continue
        windows++
        lagMs += window
      }
      return { windows, lagMs, fetches: s.laggedFetches }
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
      // Like a real platform, the endpoint never hands out a set it knows to be revoked or expired, unless it lags.
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
      revoke,
      expire,
      revokeEvery,
      outage: (outage) => Ref.set(outageRef, { mode: outage.mode, until: Date.now() + Duration.toMillis(outage.for) }),
      fetchCount: Ref.get(fetches),
      lagStats,
      lookup
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<CredentialsAuthority, StackError.StackError> =>
  Layer.scoped(CredentialsAuthority, make(options))
