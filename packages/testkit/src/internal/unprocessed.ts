import type { BackendResponse } from "./forward.js"

type WriteRequests = Record<string, ReadonlyArray<unknown>>

/**
 * A `BatchWriteItem` body cut in two: the body to forward, with the first half of each table's write requests
 * (rounding up), and the requests held back, by table.
 *
 * @internal
 */
export interface BatchWriteSplit {
  readonly forward: Buffer
  readonly held: WriteRequests
  readonly heldCount: number
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Splits a `BatchWriteItem` request body; `undefined` when it is not one the gateway can read, in which case the
 * request is forwarded unchanged and DynamoDB's own validation answers.
 *
 * @internal
 */
export const splitBatchWrite = (body: Buffer): BatchWriteSplit | undefined => {
  let input: unknown
  try {
    input = JSON.parse(body.toString("utf8"))
  } catch {
    return undefined
  }
  if (!isRecord(input) || !isRecord(input.RequestItems)) return undefined
  const kept: Record<string, ReadonlyArray<unknown>> = {}
  const held: Record<string, ReadonlyArray<unknown>> = {}
  let heldCount = 0
  for (const [table, requests] of Object.entries(input.RequestItems)) {
    if (!Array.isArray(requests)) return undefined
    const half = Math.ceil(requests.length / 2)
    kept[table] = requests.slice(0, half)
    if (requests.length > half) {
      held[table] = requests.slice(half)
      heldCount += requests.length - half
    }
  }
  return { forward: Buffer.from(JSON.stringify({ ...input, RequestItems: kept }), "utf8"), held, heldCount }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

// `zlib.crc32` only exists from Node 20.15.
const crc32 = (bytes: Buffer): number => {
  let crc = 0xFFFFFFFF
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xFF]! ^ (crc >>> 8)
  return (crc ^ 0xFFFFFFFF) >>> 0
}

/**
 * Adds the held-back requests to a successful `BatchWriteItem` response as `UnprocessedItems`, in DynamoDB's
 * shape, and recomputes the `x-amz-crc32` DynamoDB sends with every body. Errors pass through unchanged.
 *
 * @internal
 */
export const withUnprocessed = (backend: BackendResponse, held: WriteRequests): BackendResponse => {
  if (backend.status !== 200) return backend
  let output: unknown
  try {
    output = JSON.parse(backend.body.toString("utf8"))
  } catch {
    return backend
  }
  if (!isRecord(output)) return backend
  const unprocessed: Record<string, ReadonlyArray<unknown>> = isRecord(output.UnprocessedItems)
    ? { ...(output.UnprocessedItems as WriteRequests) }
    : {}
  for (const [table, requests] of Object.entries(held)) {
    unprocessed[table] = [...(unprocessed[table] ?? []), ...requests]
  }
  const body = Buffer.from(JSON.stringify({ ...output, UnprocessedItems: unprocessed }), "utf8")
  return {
    ...backend,
    headers: { ...backend.headers, "content-length": String(body.length), "x-amz-crc32": String(crc32(body)) },
    body
  }
}
