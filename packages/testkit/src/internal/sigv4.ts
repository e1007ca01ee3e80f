import { Hash } from "@smithy/hash-node"
import { HttpRequest } from "@smithy/protocol-http"
import { SignatureV4 } from "@smithy/signature-v4"
import { createHash } from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"
import { safeEqual } from "./secrets.js"

/** @internal */
export interface ParsedAuthorization {
  readonly accessKeyId: string
  readonly date: string
  readonly region: string
  readonly service: string
  readonly signedHeaders: ReadonlyArray<string>
  readonly signature: string
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})\s*$/

/**
 * Parses `AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=…, Signature=…`.
 *
 * @internal
 */
export const parseAuthorization = (header: string | undefined): ParsedAuthorization | undefined => {
  const match = header === undefined ? null : AUTHORIZATION.exec(header)
  if (match === null) return undefined
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match
  return {
    accessKeyId: accessKeyId!,
    date: date!,
    region: region!,
    service: service!,
    signedHeaders: signedHeaders!.split(";"),
    signature: signature!
  }
}

/**
 * Parses the basic ISO 8601 form of `X-Amz-Date` (`20250101T120000Z`).
 *
 * @internal
 */
export const parseAmzDate = (value: string | undefined): Date | undefined => {
  const match = value === undefined ? null : /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (match === null) return undefined
  const [, y, mo, d, h, mi, s] = match.map(Number)
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!))
}

/** @internal */
export interface VerifyInput {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: Uint8Array
  readonly authorization: ParsedAuthorization
  readonly signingDate: Date
  readonly secretAccessKey: string
  readonly sessionToken: string
}

const headerValue = (value: string | ReadonlyArray<string> | undefined): string | undefined =>
  value === undefined ? undefined : typeof value === "string" ? value : value.join(",")

/** @internal */
export type SignerCache = Map<string, SignatureV4>

/**
 * A signer caches its derived signing keys, so the gateway keeps one per key and scope.
 *
 * @internal
 */
export const makeSignerCache = (): SignerCache => new Map()

const signerFor = (
  cache: SignerCache,
  authorization: ParsedAuthorization,
  secretAccessKey: string,
  sessionToken: string
) => {
  // An access key id always maps to the same secret and token, so they need not be part of the key.
  const cacheKey = `${authorization.accessKeyId}/${authorization.region}/${authorization.service}`
  let signer = cache.get(cacheKey)
  if (signer === undefined) {
    if (cache.size >= 256) cache.clear()
    signer = new SignatureV4({
      credentials: { accessKeyId: authorization.accessKeyId, secretAccessKey, sessionToken },
      region: authorization.region,
      service: authorization.service,
      sha256: Hash.bind(null, "sha256"),
      // Never add a header the client did not sign.
      applyChecksum: false
    })
    cache.set(cacheKey, signer)
  }
  return signer
}

/**
 * Recomputes the signature with the SDK's own signer, over the request's signed headers, date and scope.
 *
 * @internal
 */
export const verifySignature = async (cache: SignerCache, input: VerifyInput): Promise<boolean> => {
  const { authorization } = input
  const url = new URL(input.url, "http://gateway.invalid")
  const headers: Record<string, string> = {}
  for (const name of authorization.signedHeaders) {
    const value = headerValue(input.headers[name])
    if (value === undefined) return false
    headers[name] = value
  }
  const query: Record<string, string | Array<string>> = {}
  for (const [key, value] of url.searchParams) {
    const previous = query[key]
    query[key] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value]
  }
  // The signer trusts a given payload hash header, so check it against the body ourselves.
  const contentSha256 = headers["x-amz-content-sha256"]
  if (
    contentSha256 !== undefined && contentSha256 !== "UNSIGNED-PAYLOAD" &&
    contentSha256 !== createHash("sha256").update(input.body).digest("hex")
  ) {
    return false
  }
  const request = new HttpRequest({
    method: input.method,
    protocol: "http:",
    hostname: url.hostname,
    path: decodeURIComponent(url.pathname),
    query,
    headers,
    body: input.body
  })
  const signer = signerFor(cache, authorization, input.secretAccessKey, input.sessionToken)
  const signed = await signer.sign(request, {
    signingDate: input.signingDate,
    signingRegion: authorization.region,
    signingService: authorization.service,
    signableHeaders: new Set(authorization.signedHeaders)
  })
  const expected = parseAuthorization(headerValue(signed.headers["authorization"]))
  return expected !== undefined && safeEqual(expected.signature, authorization.signature)
}
