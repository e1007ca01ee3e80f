/**
 * One connection pool for every client a `ManagedClient` builds, and the withdrawal of requests that wait in it
 * with credentials AWS has rejected.
 *
 * Every client of one managed client sends through the same SDK request handler (so through the same HTTP agent
 * and its warm keep-alive connections): a rebuild after a rotation starts on open connections instead of opening
 * (and, against AWS, TLS-handshaking) a new pool. Each client gets a view of that handler whose `destroy` does
 * nothing; the handler itself is destroyed once, when the managed client's scope closes.
 */
import type { RequestHandler } from "@smithy/types"
import { keepErrorBody } from "./classification.js"

/** An SDK HTTP handler (`HttpHandler` of `@smithy/protocol-http`), as far as the pool uses it. */
interface Handler extends RequestHandler<any, any, any> {
  updateHttpClientConfig?(key: never, value: never): void
  httpHandlerConfigs?(): unknown
}

/** The request handler an SDK client sends through (`client.config.requestHandler`), if it has one. */
export const handlerOf = (client: unknown): Handler | undefined => {
  const handler = (client as { config?: { requestHandler?: unknown } } | undefined)?.config?.requestHandler
  return typeof (handler as Handler | undefined)?.handle === "function" ? handler as Handler : undefined
}

/**
 * Where a call hands its abort signal to the pool, in the options of `client.send`, instead of in `abortSignal`:
 * the SDK's retry middleware races every call against an `abortSignal` (a promise, a `Promise.race` and a
 * `finally` per call, and a listener on the signal), though only the request handler can abort a request. Under
 * this key only the view sees it, and gives it to the handler as its `abortSignal`.
 */
export const callSignal: unique symbol = Symbol.for("@aws-resilience/core/ConnectionPool/callSignal")

interface SignalOptions {
  abortSignal?: { readonly aborted: boolean; readonly reason?: unknown }
  [callSignal]?: { readonly aborted: boolean; readonly reason?: unknown }
}

const views = new WeakSet<object>()

/** Whether `handler` is a view, which takes a call's signal under `callSignal`. */
export const isView = (handler: unknown): boolean =>
  typeof handler === "object" && handler !== null && views.has(handler)

/**
 * A view of `handler` for one client: it sends through `handler`, and destroying it leaves `handler` open. A signal
 * under `callSignal` in the options is the request's `abortSignal`; a request whose signal is already aborted is
 * not handed on. An error response's body is kept readable (`keepErrorBody`), so that a rejection the SDK cannot
 * parse can still be classified by its code.
 */
export const view = (handler: Handler): Handler => {
  const shown: Handler = {
    handle: (request, options?: SignalOptions) => {
      const sent = options?.[callSignal]
      if (sent !== undefined) {
        if (sent.aborted) return Promise.reject(abortError(sent.reason))
        // The options are the call's own object (`client.send`'s second argument), made for this call.
        options!.abortSignal = sent
        return handler.handle(request, options).then(keepErrorBody)
      }
      const carried = (request as { readonly [callSignal]?: SignalOptions["abortSignal"] } | null)?.[callSignal]
      if (carried !== undefined) {
        if (carried.aborted) return Promise.reject(abortError(carried.reason))
        // A cached handler passes every call the same options object: this call's are a copy.
        return handler.handle(request, { ...options, abortSignal: carried }).then(keepErrorBody)
      }
      return handler.handle(request, options).then(keepErrorBody)
    },
    updateHttpClientConfig: (key, value) => handler.updateHttpClientConfig?.(key, value),
    httpHandlerConfigs: () => handler.httpHandlerConfigs?.() ?? {},
    destroy: () => {},
    get metadata() {
      return handler.metadata!
    }
  }
  views.add(shown)
  return shown
}

const carrying = new WeakSet<object>()

/**
 * For a client that caches its middleware per command class (the SDK's `cacheMiddleware: true`), which `send`s
 * only calls without options through its cache: adds the innermost middleware that moves a call's signal from the
 * call's arguments (`callArguments`) onto the request it sends, where the view takes it. Returns whether the
 * client now carries signals that way (a client sending through a view, with `cacheMiddleware` on).
 */
export const carryCallSignals = (client: unknown): boolean => {
  const sdk = client as {
    readonly config?: { readonly cacheMiddleware?: unknown; readonly requestHandler?: unknown }
    readonly middlewareStack?: { add(middleware: unknown, options: unknown): void }
  }
  if (sdk?.config?.cacheMiddleware !== true || !isView(sdk.config.requestHandler)) return false
  if (typeof sdk.middlewareStack?.add !== "function") return false
  sdk.middlewareStack.add(
    (next: (args: unknown) => unknown) => (args: { readonly [callSignal]?: unknown; readonly request?: unknown }) => {
      const signal = args[callSignal]
      // The request is this attempt's own (serialized and signed for it).
      if (signal !== undefined && typeof args.request === "object" && args.request !== null) {
        ;(args.request as Record<symbol, unknown>)[callSignal] = signal
      }
      return next(args)
    },
    { step: "deserialize", priority: "low", name: "awsResilienceCallSignal", override: true }
  )
  carrying.add(sdk)
  return true
}

/** Whether `client` carries a call's signal from its arguments (`carryCallSignals`). */
export const carriesCallSignals = (client: unknown): boolean =>
  typeof client === "object" && client !== null && carrying.has(client)

// Shared by every call's arguments: what `client.send` asks of a command the first time it meets its class.
function resolveMiddleware(this: CallArguments, ...args: Array<unknown>): unknown {
  return this[commandOf].resolveMiddleware(...args)
}

const commandOf: unique symbol = Symbol.for("@aws-resilience/core/ConnectionPool/commandOf")

interface CallArguments {
  readonly constructor: unknown
  readonly input: unknown
  readonly resolveMiddleware: typeof resolveMiddleware
  readonly [commandOf]: { resolveMiddleware(...args: Array<unknown>): unknown }
  readonly [callSignal]: unknown
}

/**
 * What to `send` a command as, on a client that carries call signals: the command's class (the key of the SDK's
 * handler cache) and input, with the call's signal, in an object of one shape for every call. The SDK hands it to
 * the cached handler as the call's arguments; the middleware of `carryCallSignals` takes the signal from there.
 */
export const callArguments = (
  command: { readonly input: unknown; resolveMiddleware(...args: Array<any>): unknown },
  signal: unknown
): CallArguments => ({
  constructor: command.constructor,
  input: command.input,
  resolveMiddleware,
  [commandOf]: command,
  [callSignal]: signal
})

// What the SDK's handlers reject an aborted request with.
const abortError = (reason: unknown): Error =>
  Object.assign(new Error("Request aborted", reason instanceof Error ? { cause: reason } : undefined), {
    name: "AbortError"
  })

interface QueuedRequest {
  readonly destroyed?: boolean
  getHeader(name: string): unknown
  destroy(error?: Error): unknown
}

interface Agent {
  readonly requests?: Readonly<Record<string, ReadonlyArray<QueuedRequest> | undefined>>
}

const agentsOf = (handler: Handler): Array<Agent> => {
  let configs: Record<string, unknown> | undefined
  try {
    // A view passes this on to the handler it shows.
    configs = handler.httpHandlerConfigs?.() as Record<string, unknown> | undefined
  } catch {
    return []
  }
  const agents: Array<Agent> = []
  for (const key of ["httpAgent", "httpsAgent"]) {
    const agent = configs?.[key] as Agent | undefined
    if (agent !== undefined && typeof agent.requests === "object" && agent.requests !== null) agents.push(agent)
  }
  return agents
}

/**
 * How many sockets the handler's HTTP agent opens to one host (the SDK's `NodeHttpHandler` sets 50): `Infinity` for a
 * handler without a Node agent (HTTP/2, fetch), `undefined` while its configuration is not resolved yet.
 */
export const maxSocketsOf = (handler: Handler): number | undefined => {
  let configs: Record<string, unknown> | undefined
  try {
    configs = handler.httpHandlerConfigs?.() as Record<string, unknown> | undefined
  } catch {
    return Infinity
  }
  if (configs === undefined || Object.keys(configs).length === 0) return undefined
  const limits = agentsOf(handler).map((agent) => (agent as { readonly maxSockets?: unknown }).maxSockets)
  const finite = limits.filter((n): n is number => typeof n === "number" && Number.isFinite(n) && n > 0)
  return finite.length === 0 ? Infinity : Math.min(...finite)
}

/**
 * Destroys, with `error`, every request still queued in the handler's HTTP agents (not yet given a socket, so
 * certainly not written) whose SigV4 `Authorization` header names `accessKeyId`. Node reports the error to the
 * request's sender when the agent reaches it in its queue. Returns how many were withdrawn. Handlers without a
 * Node agent (HTTP/2, fetch) queue nothing of their own: nothing is withdrawn.
 */
export const withdrawQueued = (handler: Handler, accessKeyId: string, error: () => Error): number => {
  const credential = `Credential=${accessKeyId}/`
  let withdrawn = 0
  for (const agent of agentsOf(handler)) {
    for (const queue of Object.values(agent.requests!)) {
      if (queue === undefined) continue
      // A copy: a destroyed request may leave the queue while this loop runs.
      for (const request of Array.from(queue)) {
        if (request.destroyed === true) continue
        const authorization = request.getHeader("authorization")
        if (typeof authorization === "string" && authorization.includes(credential)) {
          request.destroy(error())
          withdrawn++
        }
      }
    }
  }
  return withdrawn
}
