import * as Effect from "effect/Effect"
import * as Http from "node:http"

/** @internal */
export interface BackendResponse {
  readonly status: number
  readonly headers: Record<string, string | Array<string>>
  readonly body: Buffer
}

/** @internal */
export interface BackendTarget {
  readonly hostname: string
  readonly port: number
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length"
])

/**
 * Copies end-to-end headers; the body is re-framed with an exact content-length.
 *
 * @internal
 */
export const endToEndHeaders = (
  headers: Http.IncomingHttpHeaders,
  bodyLength: number
): Record<string, string | Array<string>> => {
  const out: Record<string, string | Array<string>> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  }
  out["content-length"] = String(bodyLength)
  return out
}

/** @internal */
export const readBody = (stream: Http.IncomingMessage): Effect.Effect<Buffer, Error> =>
  Effect.async<Buffer, Error>((resume) => {
    const chunks: Array<Buffer> = []
    stream.on("data", (chunk: Buffer) => chunks.push(chunk))
    stream.on("end", () => resume(Effect.succeed(Buffer.concat(chunks))))
    stream.on("error", (error) => resume(Effect.fail(error)))
    stream.on("aborted", () => resume(Effect.fail(new Error("request aborted"))))
  })

const send = (
  agent: Http.Agent,
  target: BackendTarget,
  request: Http.IncomingMessage,
  body: Buffer
): Effect.Effect<BackendResponse, Error & { readonly reusedSocket?: boolean }> =>
  Effect.async((resume) => {
    const outgoing = Http.request(
      {
        agent,
        hostname: target.hostname,
        port: target.port,
        method: request.method ?? "POST",
        path: request.url ?? "/",
        headers: endToEndHeaders(request.headers, body.length)
      },
      (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () =>
          resume(Effect.succeed({
            status: response.statusCode ?? 502,
            headers: endToEndHeaders(response.headers, 0),
            body: Buffer.concat(chunks)
          })))
        response.on("error", (error) => resume(Effect.fail(error)))
      }
    )
    outgoing.on("error", (error) => resume(Effect.fail(Object.assign(error, { reusedSocket: outgoing.reusedSocket }))))
    outgoing.end(body)
    return Effect.sync(() => outgoing.destroy())
  })

/**
 * Sends the buffered request to the backend and buffers its whole response. A keep-alive socket the
 * backend closed in the meantime is retried once on a fresh socket.
 *
 * @internal
 */
export const forward = (
  agent: Http.Agent,
  target: BackendTarget,
  request: Http.IncomingMessage,
  body: Buffer
): Effect.Effect<BackendResponse, Error> =>
  send(agent, target, request, body).pipe(
    Effect.catchIf((error) => error.reusedSocket === true, () => send(agent, target, request, body)),
    Effect.map((response) => ({
      ...response,
      headers: { ...response.headers, "content-length": String(response.body.length) }
    }))
  )
