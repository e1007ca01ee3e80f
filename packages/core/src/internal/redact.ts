/** Shows at most the last 4 characters of an access key id. */
export const maskAccessKeyId = (accessKeyId: string): string =>
  accessKeyId.length <= 4 ? "****" : `****${accessKeyId.slice(-4)}`

const accessKeyIds = /\b(?:AKIA|ASIA|AROA|AIDA|AGPA|ANPA|ANVA|APKA|ASCA)[A-Z0-9]{12,}\b/g
const securityToken = /(x-amz-security-token[:=]\s*)\S+/gi

/**
 * Makes a service's error text safe to log: AWS's `SignatureDoesNotMatch` can quote the canonical request (with
 * the session token header) and access key ids, so the quotation is cut and both are hidden.
 */
export const redactMessage = (message: string): string => {
  const quoted = message.search(/The Canonical String for this request should have been/)
  const head = quoted >= 0 ? message.slice(0, quoted).trimEnd() : message
  return head
    .replace(securityToken, "$1<redacted>")
    .replace(accessKeyIds, (id) => maskAccessKeyId(id))
}
