/**
 * The network as the doctor sees it: name resolution (`Dns`), TCP connects with an optional TLS handshake (`Tcp`)
 * and one plain HTTP request for a server's `Date` header (`Http`). Each is a service, so tests replace them to
 * give private, public or NXDOMAIN answers and closed or hanging ports; `layer` is the live network, through
 * Node's `dns.lookup` (the resolver the SDK itself uses), `net`, `tls` and `http(s)`.
 *
 * Every live operation is interruptible: interrupting it destroys its socket. The doctor bounds each one with its
 * own timeout as well, so a replacement that never answers still ends as a timeout.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeDns from "node:dns"
import * as NodeHttp from "node:http"
import * as Https from "node:https"
import * as Net from "node:net"
import * as Tls from "node:tls"

/**
 * One address a hostname resolved to.
 *
 * @since 0.1.0
 * @category models
 */
export interface Address {
  readonly address: string
  readonly family: 4 | 6
}

/**
 * How a lookup failed: `notFound` is NXDOMAIN (or no address record), `timeout` a resolver that did not answer.
 *
 * @since 0.1.0
 * @category models
 */
export type DnsFailure = "notFound" | "timeout" | "failure"

/**
 * A hostname did not resolve.
 *
 * @since 0.1.0
 * @category errors
 */
export class DnsError extends Data.TaggedError("DnsError")<{
  readonly hostname: string
  readonly kind: DnsFailure
  /** The resolver's code, e.g. `ENOTFOUND`, `EAI_AGAIN`. */
  readonly code: string
}> {
  override get message(): string {
    const what = this.kind === "notFound"
      ? "does not exist (NXDOMAIN)"
      : this.kind === "timeout"
      ? "got no answer from the resolver"
      : "could not be resolved"
    return `${this.hostname} ${what} (${this.code})`
  }
}

/**
 * Where a connection attempt stopped: resolving the name, the TCP connect, or the TLS handshake.
 *
 * @since 0.1.0
 * @category models
 */
export type Phase = "dns" | "tcp" | "tls" | "http"

/**
 * Why a connection attempt failed.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectFailure = "refused" | "timeout" | "unreachable" | "reset" | "notFound" | "tls" | "other"

/**
 * A connection attempt failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectError extends Data.TaggedError("ConnectError")<{
  readonly host: string
  readonly port: number
  readonly phase: Phase
  readonly kind: ConnectFailure
  /** The errno or TLS code, e.g. `ECONNREFUSED`, `ETIMEDOUT`, `CERT_HAS_EXPIRED`. */
  readonly code: string
}> {
  override get message(): string {
    const what: Record<ConnectFailure, string> = {
      refused: "connection refused",
      timeout: "no answer (timed out)",
      unreachable: "no route to the host",
      reset: "connection reset",
      notFound: "hostname does not resolve",
      tls: "TLS handshake failed",
      other: "connection failed"
    }
    return `${this.host}:${this.port}: ${what[this.kind]} during ${this.phase} (${this.code})`
  }
}

/**
 * What a connect established.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** The address connected to. */
  readonly remoteAddress: string
  readonly connectMs: number
  /** Handshake time, when TLS was asked for. */
  readonly tlsMs?: number | undefined
  /** E.g. `TLSv1.3`, when TLS was asked for. */
  readonly tlsProtocol?: string | undefined
}

/**
 * What a connect is asked to do.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions {
  readonly host: string
  readonly port: number
  /** Perform a TLS handshake after connecting, verifying the certificate against `host`. */
  readonly tls: boolean
  readonly timeout: Duration.DurationInput
}

/**
 * The answer to a plain request.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpAnswer {
  readonly status: number
  /** The `Date` header, as sent. */
  readonly date: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Dns {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Every address of a hostname, as the system resolver gives them (the one the SDK uses). */
    readonly lookup: (hostname: string) => Effect.Effect<ReadonlyArray<Address>, DnsError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Dns extends Context.Tag("@aws-resilience/doctor/Network/Dns")<Dns, Dns.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Tcp {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Connects (and shakes hands, for TLS), then closes at once. */
    readonly connect: (options: ConnectOptions) => Effect.Effect<Connection, ConnectError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Tcp extends Context.Tag("@aws-resilience/doctor/Network/Tcp")<Tcp, Tcp.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Http {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** One unsigned `GET` of `url`; any status is an answer. */
    readonly get: (url: string, timeout: Duration.DurationInput) => Effect.Effect<HttpAnswer, ConnectError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Http extends Context.Tag("@aws-resilience/doctor/Network/Http")<Http, Http.Service>() {}

/**
 * Every network service the doctor uses.
 *
 * @since 0.1.0
 * @category models
 */
export type Network = Dns | Tcp | Http

const errnoOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : "UNKNOWN"

const dnsKind = (code: string): DnsFailure =>
  code === "ENOTFOUND" || code === "ENODATA" || code === "EAI_NONAME" || code === "EAI_NODATA"
    ? "notFound"
    : code === "EAI_AGAIN" || code === "ETIMEOUT" || code === "ETIMEDOUT"
    ? "timeout"
    : "failure"

const connectKind = (code: string): ConnectFailure => {
  switch (code) {
    case "ECONNREFUSED":
      return "refused"
    case "ETIMEDOUT":
      return "timeout"
    case "ENETUNREACH":
    case "EHOSTUNREACH":
    case "EADDRNOTAVAIL":
      return "unreachable"
    case "ECONNRESET":
    case "EPIPE":
      return "reset"
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return "notFound"
    default:
      return /CERT|SSL|TLS|SIGNATURE|ALTNAME|SELF_SIGNED|UNABLE_TO/.test(code) ? "tls" : "other"
  }
}

/**
 * The system resolver, as the SDK's HTTP handler uses it (`dns.lookup`, all addresses).
 *
 * @since 0.1.0
 * @category constructors
 */
export const dnsLive: Dns.Service = {
  lookup: (hostname) =>
    Effect.async<ReadonlyArray<Address>, DnsError>((resume) => {
      NodeDns.lookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
        if (error) {
          const code = errnoOf(error)
          resume(Effect.fail(new DnsError({ hostname, kind: dnsKind(code), code })))
        } else {
          resume(Effect.succeed(addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))))
        }
      })
    })
}

/**
 * TCP connects and TLS handshakes through `net` and `tls`, each bounded by its own timeout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tcpLive: Tcp.Service = {
  connect: (options) =>
    Effect.async<Connection, ConnectError>((resume) => {
      const started = performance.now()
      let phase: Phase = Net.isIP(options.host) === 0 ? "dns" : "tcp"
      let connectMs = 0
      let done = false
      let socket: Net.Socket | Tls.TLSSocket = Net.connect({ host: options.host, port: options.port })
      const finish = (effect: Effect.Effect<Connection, ConnectError>) => {
        if (done) return
        done = true
        clearTimeout(timer)
        socket.destroy()
        resume(effect)
      }
      const fail = (code: string) =>
        finish(
          Effect.fail(
            new ConnectError({ host: options.host, port: options.port, phase, kind: connectKind(code), code })
          )
        )
      const timer = setTimeout(() => fail("ETIMEDOUT"), Duration.toMillis(options.timeout))
      socket.on("lookup", () => {
        phase = "tcp"
      })
      socket.on("error", (error) => fail(errnoOf(error)))
      socket.once("connect", () => {
        connectMs = performance.now() - started
        const remoteAddress = socket.remoteAddress ?? options.host
        if (!options.tls) {
          return finish(Effect.succeed({ remoteAddress, connectMs: Math.round(connectMs) }))
        }
        phase = "tls"
        const plain = socket
        const secure = Tls.connect({
          socket: plain,
          servername: Net.isIP(options.host) === 0 ? options.host : undefined,
          ALPNProtocols: ["http/1.1"]
        })
        socket = secure
        secure.on("error", (error) => fail(errnoOf(error)))
        secure.once("secureConnect", () =>
          finish(Effect.succeed({
            remoteAddress,
            connectMs: Math.round(connectMs),
            tlsMs: Math.round(performance.now() - started - connectMs),
            tlsProtocol: secure.getProtocol() ?? undefined
          })))
      })
      return Effect.sync(() => {
        done = true
        clearTimeout(timer)
        socket.destroy()
      })
    })
}

/**
 * One `GET` through `http`/`https` with no connection reuse, its body discarded.
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpLive: Http.Service = {
  get: (url, timeout) =>
    Effect.async<HttpAnswer, ConnectError>((resume) => {
      const parsed = new URL(url)
      const port = Number(parsed.port) || (parsed.protocol === "https:" ? 443 : 80)
      let done = false
      const finish = (effect: Effect.Effect<HttpAnswer, ConnectError>) => {
        if (done) return
        done = true
        resume(effect)
      }
      const fail = (code: string) =>
        finish(
          Effect.fail(new ConnectError({ host: parsed.hostname, port, phase: "http", kind: connectKind(code), code }))
        )
      const request = (parsed.protocol === "https:" ? Https : NodeHttp).request(parsed, {
        method: "GET",
        agent: false,
        timeout: Duration.toMillis(timeout)
      }, (response) => {
        const date = response.headers["date"]
        response.resume()
        finish(Effect.succeed({ status: response.statusCode ?? 0, date }))
        request.destroy()
      })
      request.on("timeout", () => {
        request.destroy()
        fail("ETIMEDOUT")
      })
      request.on("error", (error) => fail(errnoOf(error)))
      request.end()
      return Effect.sync(() => {
        done = true
        request.destroy()
      })
    })
}

/**
 * The live resolver.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDns: Layer.Layer<Dns> = Layer.succeed(Dns, dnsLive)

/**
 * Live TCP and TLS connects.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTcp: Layer.Layer<Tcp> = Layer.succeed(Tcp, tcpLive)

/**
 * Live HTTP requests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttp: Layer.Layer<Http> = Layer.succeed(Http, httpLive)

/**
 * The live network: `layerDns`, `layerTcp` and `layerHttp`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Network> = Layer.mergeAll(layerDns, layerTcp, layerHttp)
