/**
 * The classification engine behind `AwsError.classify` and `AwsError.fromCode`: the code lists the SDK has none for,
 * the rules that sort a failure by its code, HTTP status and errno into a verdict, and the recovery of a code from the
 * raw HTTP response when the SDK could not parse it (or parsed it and found no code).
 *
 * It decides, `AwsError` constructs: this module only imports types from it.
 *
 * @internal
 */
import {
  isClockSkewCorrectedError,
  isClockSkewError,
  isServerError,
  isThrottlingError,
  isTransientError
} from "@smithy/core/retry"
import type { DeserializeMiddleware, Pluggable, SdkError } from "@smithy/types"
import * as Differ from "effect/Differ"
import type { Codes, CredentialsReason, Meaning, TransientKind } from "../AwsError.js"
import { redactMessage } from "./redact.js"

/** What a failure is, before it is made into an `AwsError`. */
export type Verdict =
  | { readonly _tag: "CredentialsError"; readonly reason: CredentialsReason; readonly code: string }
  | { readonly _tag: "ThrottlingError"; readonly code: string }
  | { readonly _tag: "TransientError"; readonly kind: TransientKind; readonly code: string }
  | { readonly _tag: "AccessDeniedError"; readonly code: string; readonly principal: string | undefined }
  | { readonly _tag: "ServiceError"; readonly code: string }

/** The fields of an SDK error (or of a failure reported as data) the rules read. */
export type Shape = Partial<SdkError> & { readonly code?: unknown; readonly message?: unknown }

const own = <A>(table: Readonly<Record<string, A>>, key: string | undefined): A | undefined =>
  key !== undefined && Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined

export const credentialReasons: Readonly<Record<string, CredentialsReason>> = {
  InvalidClientTokenId: "InvalidClientTokenId",
  UnrecognizedClientException: "UnrecognizedClient",
  UnrecognizedClient: "UnrecognizedClient",
  ExpiredToken: "ExpiredToken",
  ExpiredTokenException: "ExpiredToken",
  InvalidSignatureException: "InvalidSignature",
  SignatureDoesNotMatch: "InvalidSignature",
  IncompleteSignature: "InvalidSignature",
  IncompleteSignatureException: "InvalidSignature",
  MissingAuthenticationToken: "MissingAuthenticationToken",
  MissingAuthenticationTokenException: "MissingAuthenticationToken",
  CredentialsProviderError: "ProviderFailure"
}

const accessDeniedCodes: ReadonlySet<string> = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "AuthorizationError",
  "AuthorizationErrorException",
  "UnauthorizedOperation",
  "KMS.AccessDeniedException",
  "KmsAccessDeniedException"
])

const skewOnlyCodes: ReadonlySet<string> = new Set(["RequestExpired", "RequestInTheFuture", "RequestTimeTooSkewed"])
const skewTexts = /Signature expired|Signature not yet current|too skewed/i

const timeoutCodes: ReadonlySet<string> = new Set(["TimeoutError", "RequestTimeout", "RequestTimeoutException"])

const principalOf = (message: string): string | undefined =>
  /User: (\S+) is not authorized/.exec(message)?.[1] ?? /principal[:\s]+(arn:\S+)/i.exec(message)?.[1]

const fromMeaning = (meaning: Meaning, code: string, message: string): Verdict => {
  switch (meaning._tag) {
    case "CredentialsError":
      return { _tag: "CredentialsError", reason: meaning.reason, code }
    case "ThrottlingError":
      return { _tag: "ThrottlingError", code }
    case "TransientError":
      return { _tag: "TransientError", kind: meaning.kind, code }
    case "AccessDeniedError":
      return { _tag: "AccessDeniedError", code, principal: principalOf(message) }
    case "ServiceError":
      return { _tag: "ServiceError", code }
  }
}

/**
 * The rules, in order: the caller's own codes; clock skew; credentials; a clock the SDK corrected; the SDK's
 * throttling list; access denied; the SDK's transient and server lists (and any 5xx); else a service error.
 */
export const decide = (e: Shape, codes: Codes | undefined): Verdict => {
  const name = typeof e.name === "string" ? e.name : "Unknown"
  const message = typeof e.message === "string" ? e.message : ""
  const errno = typeof e.code === "string" ? e.code : undefined
  const httpStatus = e.$metadata?.httpStatusCode
  const sdkError = e as SdkError
  if (codes !== undefined) {
    const meaning = own(codes, name) ?? own(codes, errno)
    if (meaning !== undefined) return fromMeaning(meaning, name, message)
  }
  // A request refused for its clock (the SDK has usually corrected its offset from the response's Date header
  // already) is worth one more try as it is. The SDK's clock-skew codes include SignatureDoesNotMatch and
  // InvalidSignatureException, which also mean a wrong secret: only their skew texts count as skew.
  if (skewOnlyCodes.has(name) || (isClockSkewError(sdkError) && skewTexts.test(message))) {
    return { _tag: "TransientError", kind: "clockSkew", code: name }
  }
  // A rejected token stays a credentials failure even when the SDK corrected its clock from the same response.
  const reason = own(credentialReasons, name)
  if (reason !== undefined) return { _tag: "CredentialsError", reason, code: name }
  if (isClockSkewCorrectedError(sdkError)) return { _tag: "TransientError", kind: "clockSkew", code: name }
  if (isThrottlingError(sdkError)) return { _tag: "ThrottlingError", code: name }
  if (accessDeniedCodes.has(name)) return { _tag: "AccessDeniedError", code: name, principal: principalOf(message) }
  if (isTransientError(sdkError) || isServerError(sdkError) || (httpStatus !== undefined && httpStatus >= 500)) {
    const kind: TransientKind = httpStatus !== undefined && httpStatus >= 500
      ? "server"
      : timeoutCodes.has(name) || errno === "ETIMEDOUT"
      ? "timeout"
      : "network"
    return { _tag: "TransientError", kind, code: errno ?? name }
  }
  return { _tag: "ServiceError", code: name }
}

/** Codes set, or removed (undefined), in order. */
export type CodesPatch = ReadonlyArray<readonly [string, Meaning | undefined]>

const setOwn = (target: Record<string, Meaning>, key: string, value: Meaning): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/**
 * How the fiber's codes are forked and joined: as the codes each fiber set and removed, so that fibers (and layers
 * built side by side) that each add codes all keep theirs, rather than the last to finish replacing the others'.
 */
export const codesDiffer: Differ.Differ<Codes, CodesPatch> = Differ.make<Codes, CodesPatch>({
  empty: [],
  diff: (old, next) => {
    if (old === next) return []
    const patch: Array<readonly [string, Meaning | undefined]> = []
    for (const key of Object.keys(next)) {
      if (own(old, key) !== next[key]) patch.push([key, next[key]])
    }
    for (const key of Object.keys(old)) {
      if (own(next, key) === undefined) patch.push([key, undefined])
    }
    return patch
  },
  combine: (first, second) => first.length === 0 ? second : second.length === 0 ? first : [...first, ...second],
  patch: (patch, old) => {
    if (patch.length === 0) return old
    const next: Record<string, Meaning> = { ...old }
    for (const [key, value] of patch) {
      if (value === undefined) delete next[key]
      else setOwn(next, key, value)
    }
    return next
  }
})

/** The codes in force, and more on top (which override them). */
export const addCodes = (current: Codes, more: Codes): Codes => {
  const next: Record<string, Meaning> = { ...current }
  for (const key of Object.keys(more)) setOwn(next, key, more[key]!)
  return next
}

// ---------------------------------------------------------------------------------------------------------------
// Recovery from the raw response
// ---------------------------------------------------------------------------------------------------------------

/** The code of a response nothing could be read from. */
export const unparseable = "UnparseableResponse"

// The names the SDK gives an error it found no code for, and the errors its parsers throw on a body they cannot read.
const genericNames: ReadonlySet<string> = new Set(["Unknown", "UnknownError", "Error", "SyntaxError"])
const deserializationHint = /Deserialization error/

interface HttpExchange {
  readonly statusCode?: unknown
  readonly headers?: unknown
  readonly body?: unknown
}

type Raw = Shape & { readonly $response?: HttpExchange; readonly $responseBodyText?: unknown }

const statusOf = (e: Raw): number | undefined => {
  const status = e.$response?.statusCode ?? e.$metadata?.httpStatusCode
  return typeof status === "number" ? status : undefined
}

/**
 * True for an error the SDK could not make sense of: its parser failed on the body (a `SyntaxError`, or a message
 * with the SDK's "Deserialization error" hint), or it parsed an error response and found no code (`Unknown`), and
 * there is an HTTP exchange to read one from. A network error (an errno) is never one.
 */
export const isUnparsed = (e: Raw): boolean => {
  const name = typeof e.name === "string" ? e.name : "Unknown"
  const message = typeof e.message === "string" ? e.message : ""
  if (typeof e.code === "string" && /^E[A-Z_]+$/.test(e.code)) return false
  if (!genericNames.has(name) && !deserializationHint.test(message)) return false
  return statusOf(e) !== undefined || typeof e.$responseBodyText === "string"
}

const headerOf = (headers: unknown, name: string): string | undefined => {
  if (headers === null || typeof headers !== "object") return undefined
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return typeof value === "string" ? value : undefined
  }
  return undefined
}

// As the SDK sanitizes `x-amzn-ErrorType` and `__type`: `Code,...`, `Code:http://...`, `namespace#Code`.
const sanitize = (raw: string): string | undefined => {
  let code = raw.split(",")[0]!.split(":")[0]!
  if (code.includes("#")) code = code.split("#").pop()!
  code = code.trim()
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(code) ? code : undefined
}

const faultOf = (type: string | undefined): "client" | "server" | undefined =>
  type === undefined ? undefined : /^(Receiver|Server)$/i.test(type.trim()) ? "server" : "client"

const maxBody = 64 * 1024

const bodyTextOf = (e: Raw): string | undefined => {
  if (typeof e.$responseBodyText === "string") return e.$responseBodyText.slice(0, maxBody)
  const body = e.$response?.body
  if (typeof body === "string") return body.slice(0, maxBody)
  if (body instanceof Uint8Array) return new TextDecoder().decode(body.subarray(0, maxBody))
  return undefined
}

const entities: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }
const xmlText = (text: string): string =>
  text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => entities[name]!).trim()

const xmlElement = (body: string, name: string): string | undefined => {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)
  return match?.[1] === undefined ? undefined : xmlText(match[1])
}

const stringField = (value: unknown, ...keys: ReadonlyArray<string>): string | undefined => {
  if (value === null || typeof value !== "object") return undefined
  for (const key of keys) {
    const field = (value as Record<string, unknown>)[key]
    if (typeof field === "string" && field !== "") return field
  }
  return undefined
}

interface FromBody {
  readonly code: string | undefined
  readonly message: string | undefined
  readonly fault: "client" | "server" | undefined
  readonly requestId: string | undefined
}

const fromBody = (body: string): FromBody | undefined => {
  const text = body.trim()
  if (text.startsWith("{")) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return undefined
    }
    // Query-compatible JSON nests the error: `{ "Error": { "Code": ..., "Message": ..., "Type": "Sender" } }`.
    const nested = parsed !== null && typeof parsed === "object"
      ? (parsed as Record<string, unknown>)["Error"]
      : undefined
    const code = stringField(parsed, "__type", "code", "Code") ?? stringField(nested, "Code", "code")
    return {
      code: code === undefined ? undefined : sanitize(code),
      message: stringField(parsed, "message", "Message") ?? stringField(nested, "Message", "message"),
      fault: faultOf(stringField(nested, "Type")),
      requestId: stringField(parsed, "RequestId", "requestId")
    }
  }
  if (text.startsWith("<")) {
    const code = xmlElement(text, "Code")
    return {
      code: code === undefined ? undefined : sanitize(code),
      message: xmlElement(text, "Message"),
      fault: faultOf(xmlElement(text, "Type")),
      requestId: xmlElement(text, "RequestId")
    }
  }
  return undefined
}

// A request id read from a body is shown in messages as it is: only one shaped like an id, and never secret-shaped.
const requestIdOf = (raw: string | undefined): string | undefined =>
  raw !== undefined && /^[A-Za-z0-9._:-]{1,100}$/.test(raw) && redactMessage(raw) === raw ? raw : undefined

/** Where a recovered code was read. */
export type Source = "x-amzn-query-error" | "x-amzn-errortype" | "body"

/** What the raw response says about a failure the SDK could not make sense of. */
export interface Recovered {
  /** The code read from the response, else `UnparseableResponse`. */
  readonly code: string
  /** Where the code was read; undefined when none could be. */
  readonly source: Source | undefined
  /** True when the SDK's parser failed on the body (rather than finding no code in it). */
  readonly failedToParse: boolean
  readonly message: string | undefined
  readonly httpStatus: number | undefined
  readonly requestId: string | undefined
  readonly contentType: string | undefined
  readonly fault: "client" | "server" | undefined
}

/**
 * The code of a failure from its raw HTTP response, as the SDK's protocols read it: the query-compatible
 * `x-amzn-query-error` header (`Code;Sender`) first, then `x-amzn-ErrorType` (`Code:http://...`), then the body
 * (JSON `__type`, `code` or `Code`; XML `<Code>`). The body is there when the SDK kept its text (`$responseBodyText`,
 * or a string or bytes as `$response.body`, as `keepErrorBodies` leaves it). Undefined when the SDK did parse the
 * response and nothing more can be read from it: the SDK's own error is then the best there is.
 */
export const recover = (e: Raw): Recovered | undefined => {
  const name = typeof e.name === "string" ? e.name : "Unknown"
  const message = typeof e.message === "string" ? e.message : ""
  const headers = e.$response?.headers
  const queryError = headerOf(headers, "x-amzn-query-error")
  const [queryCode, queryFault] = queryError === undefined ? [] : queryError.split(";")
  const fromQuery = queryCode === undefined ? undefined : sanitize(queryCode)
  const errorType = headerOf(headers, "x-amzn-errortype")
  const fromErrorType = errorType === undefined ? undefined : sanitize(errorType)
  const bodyText = bodyTextOf(e)
  const body = bodyText === undefined ? undefined : fromBody(bodyText)
  const code = fromQuery ?? fromErrorType ?? body?.code
  const failedToParse = name === "SyntaxError" || deserializationHint.test(message)
  if (code === undefined && !failedToParse) return undefined
  return {
    code: code ?? unparseable,
    source: fromQuery !== undefined
      ? "x-amzn-query-error"
      : fromErrorType !== undefined
      ? "x-amzn-errortype"
      : code !== undefined
      ? "body"
      : undefined,
    failedToParse,
    message: body?.message ?? (failedToParse || message === "" || genericNames.has(message) ? undefined : message),
    httpStatus: statusOf(e),
    requestId: e.$metadata?.requestId ?? headerOf(headers, "x-amzn-requestid") ??
      headerOf(headers, "x-amz-request-id") ?? requestIdOf(body?.requestId),
    contentType: headerOf(headers, "content-type"),
    fault: (fromQuery !== undefined ? faultOf(queryFault) : undefined) ?? body?.fault
  }
}

/** The shape the rules classify a recovered failure as: the recovered code, with the status it came with. */
export const recoveredShape = (e: Raw, recovered: Recovered): Shape => {
  const status = recovered.httpStatus
  return {
    name: recovered.code,
    message: recovered.message ?? "",
    $fault: recovered.fault ?? e.$fault ?? (status !== undefined && status >= 500 ? "server" : "client"),
    $metadata: {
      ...e.$metadata,
      ...(status !== undefined ? { httpStatusCode: status } : {}),
      ...(recovered.requestId !== undefined ? { requestId: recovered.requestId } : {})
    }
  }
}

const firstLine = (original: unknown): string => {
  const message = (original as { message?: unknown } | null)?.message
  return typeof message === "string" ? (message.split("\n")[0] ?? "").trim() : ""
}

/**
 * The cause of an error classified from its raw response: the code and text read from it, and the SDK's own error as
 * its `cause`. Neither the headers nor the body are kept.
 */
export class RawResponse extends Error {
  override readonly name = "RawResponse"
  readonly code: string
  readonly source: Source | undefined
  readonly httpStatus: number | undefined
  readonly contentType: string | undefined
  constructor(recovered: Recovered, original: unknown) {
    const sdkText = firstLine(original)
    super(
      recovered.message ?? (recovered.failedToParse
        ? `the SDK could not parse the response (${recovered.contentType ?? "no content-type"})` +
          (sdkText !== "" ? `: ${sdkText}` : "")
        : `the SDK found no error code in the response; ${recovered.source} says ${recovered.code}`),
      { cause: original }
    )
    this.code = recovered.code
    this.source = recovered.source
    this.httpStatus = recovered.httpStatus
    this.contentType = recovered.contentType
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Keeping error bodies readable
// ---------------------------------------------------------------------------------------------------------------

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.byteLength, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

const encoder = new TextEncoder()
const bytesOf = (chunk: unknown): Uint8Array =>
  chunk instanceof Uint8Array ? chunk : encoder.encode(typeof chunk === "string" ? chunk : String(chunk))

/** The whole of a stream body (a Node `Readable`, a web `ReadableStream` or a `Blob`), or undefined for another. */
const collect = async (body: unknown): Promise<Uint8Array | undefined> => {
  if (body === null || typeof body !== "object" || body instanceof Uint8Array) return undefined
  if (Symbol.asyncIterator in body) {
    const chunks: Array<Uint8Array> = []
    for await (const chunk of body as AsyncIterable<unknown>) chunks.push(bytesOf(chunk))
    return concat(chunks)
  }
  if ("getReader" in body && typeof body.getReader === "function") {
    const reader = (body as ReadableStream<unknown>).getReader()
    const chunks: Array<Uint8Array> = []
    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(bytesOf(next.value))
    return concat(chunks)
  }
  if ("arrayBuffer" in body && typeof body.arrayBuffer === "function") {
    return new Uint8Array(await (body as Blob).arrayBuffer())
  }
  return undefined
}

// Inside the SDK's deserializer (lower priority in the same step): it sees the response first, and replaces an error
// response's stream with its bytes, which the deserializer parses as it would have the stream and leaves readable on
// the error's `$response.body`.
/**
 * A request handler's result with an error response's stream replaced by its bytes, which the SDK's deserializer
 * parses as it would have the stream and leaves readable on the error's `$response.body`. A success is returned as
 * it is, without waiting: what the connection pool's view runs on every response.
 */
export const keepErrorBody = <R extends { readonly response?: unknown }>(result: R): R | Promise<R> => {
  const response = result.response as { statusCode?: unknown; body?: unknown } | undefined
  if (response === undefined || typeof response.statusCode !== "number" || response.statusCode < 300) return result
  return collect(response.body).then((bytes) => {
    if (bytes !== undefined) response.body = bytes
    return result
  })
}

const keepErrorBodyMiddleware: DeserializeMiddleware<any, any> = (next) => (args) => next(args).then(keepErrorBody)

export const keepErrorBodies: Pluggable<any, any> = {
  applyToStack: (stack) =>
    stack.add(keepErrorBodyMiddleware, {
      step: "deserialize",
      priority: "low",
      name: "awsResilienceKeepErrorBody",
      override: true
    })
}
