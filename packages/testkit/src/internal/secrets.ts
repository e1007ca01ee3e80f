import { randomBytes, timingSafeEqual } from "node:crypto"

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/** @internal */
export const randomAlnum = (length: number): string => {
  const bytes = randomBytes(length)
  let out = ""
  for (const byte of bytes) out += ALNUM[byte % ALNUM.length]
  return out
}

/** @internal */
export const randomBase64 = (bytes: number): string => randomBytes(bytes).toString("base64")

/**
 * Constant-time string comparison, so a wrong token does not leak its matching prefix.
 *
 * @internal
 */
export const safeEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
