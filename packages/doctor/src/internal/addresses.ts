/** What kind of address a resolver answered: where the traffic to it goes. */
import * as Net from "node:net"

export type AddressClass = "loopback" | "private" | "linkLocal" | "public"

const v4 = (address: string): ReadonlyArray<number> => address.split(".").map(Number)

const classifyV4 = (address: string): AddressClass => {
  const [a = 0, b = 0] = v4(address)
  if (a === 127) return "loopback"
  if (a === 169 && b === 254) return "linkLocal"
  // RFC 1918, and 100.64.0.0/10, which a VPC may use as a secondary CIDR.
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) {
    return "private"
  }
  return "public"
}

export const classify = (address: string): AddressClass => {
  const family = Net.isIP(address)
  if (family === 4) return classifyV4(address)
  if (family !== 6) return "public"
  const lower = address.toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
  if (mapped?.[1] !== undefined) return classifyV4(mapped[1])
  if (lower === "::1") return "loopback"
  if (/^f[cd][0-9a-f]{2}:/.test(lower)) return "private"
  if (/^fe[89ab][0-9a-f]:/.test(lower)) return "linkLocal"
  return "public"
}
