/**
 * Starting and stopping the stack's `node:http` servers (gateway, credentials endpoint, dynalite) the same way:
 * listen on a loopback port or fail with a `StackError`, and on close stop listening and destroy every
 * connection, so a hanging request cannot hold the scope open.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import type * as Http from "node:http"
import * as StackError from "../StackError.js"

/**
 * The error for a server that could not listen: `PortInUseError` for a taken port, `StartError` otherwise.
 *
 * @internal
 */
export const fromListenError = (
  component: string,
  host: string,
  port: number
): (cause: unknown) => StackError.StackError =>
(cause) =>
  Predicate.hasProperty(cause, "code") && cause.code === "EADDRINUSE"
    ? new StackError.PortInUseError({ component, host, port, cause })
    : new StackError.StartError({ component, cause })

/** @internal */
export interface ListenOptions {
  /** Named in errors, e.g. "gateway". */
  readonly component: string
  readonly host: string
  /** 0: any free port. */
  readonly port: number
  /** Idle keep-alive of the server's sockets, in ms (default: Node's). */
  readonly keepAliveTimeout?: number | undefined
}

/** @internal */
export interface Listening {
  readonly server: Http.Server
  /** The port the server is bound to. */
  readonly port: number
}

/**
 * Listens with the server `make` builds; the server closes when the scope does.
 *
 * @internal
 */
export const listen = (
  make: () => Http.Server,
  options: ListenOptions
): Effect.Effect<Listening, StackError.StackError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Http.Server, StackError.StackError>((resume) => {
      const server = make()
      if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout
      server.once("error", (error) =>
        resume(Effect.fail(fromListenError(options.component, options.host, options.port)(error))))
      server.listen(options.port, options.host, () =>
        resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map((server) => {
    const address = server.address()
    return { server, port: typeof address === "object" && address !== null ? address.port : options.port }
  }))
