/** Shows at most the last 4 characters of an access key id. */
export const maskAccessKeyId = (accessKeyId: string): string =>
  accessKeyId.length <= 4 ? "****" : `****${accessKeyId.slice(-4)}`

const accessKeyIds = /\b(?:AKIA|ASIA|AROA|AIDA|AGPA|ANPA|ANVA|APKA|ASCA)[A-Z0-9]{12,}\b/g
const securityToken = /(x-amz-security-token[:=]\s*)[^\s&'"]+/gi
const signature = /(Signature=)[0-9a-f]+/gi
// Secret access keys are 40 characters of base64; session tokens are hundreds. Either, standing alone, is hidden.
const secretShaped = /(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+=]*[0-9/+])(?=[A-Za-z0-9/+=]*[A-Za-z])[A-Za-z0-9/+=]{40,}/g
const canonicalQuote = /The Canonical String for this request should have been/

/**
 * Makes a service's error text safe to log: AWS's `SignatureDoesNotMatch` can quote the canonical request (with
 * the session token header) and access key ids, so the quotation is cut and both are hidden, as are signatures
 * and anything shaped like a secret key or session token.
 */
export const redactMessage = (message: string): string => {
  const quoted = message.search(canonicalQuote)
  const head = quoted >= 0 ? message.slice(0, quoted).trimEnd() : message
  return head
    .replace(securityToken, "$1<redacted>")
    .replace(signature, "$1<redacted>")
    .replace(accessKeyIds, (id) => maskAccessKeyId(id))
    .replace(secretShaped, "<redacted>")
}

const awsErrorId = Symbol.for("@aws-resilience/core/AwsError")

// Fields of an SDK error that hold the raw HTTP exchange: dropped from the copy.
const dropped: ReadonlySet<string> = new Set(["$response", "stack", "message"])

/**
 * A copy of an error that is safe to keep and render: its message and stack redacted, its string fields redacted,
 * its nested `cause` scrubbed too, and the raw response dropped. Modelled fields (`$metadata`, `$fault`, a
 * DynamoDB `Item` or `CancellationReasons`) are kept.
 */
export class ScrubbedError extends Error {
  constructor(original: Error, depth: number) {
    super(redactMessage(original.message))
    this.name = original.name
    // The stack is redacted when it is first read, not here: formatting it (source maps included) costs more than
    // the rest of a failed call, and most errors are handled without anyone reading it. Until then only this
    // closure holds the original.
    let source: Error | undefined = original
    let stack: string | undefined
    Object.defineProperty(this, "stack", {
      configurable: true,
      enumerable: false,
      get: () => {
        if (source !== undefined) {
          const frames = (source.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line))
          stack = [`${this.name}: ${this.message}`, ...frames.map(redactMessage)].join("\n")
          source = undefined
        }
        return stack
      },
      set: (value: string | undefined) => {
        source = undefined
        stack = value
      }
    })
    for (const [key, value] of Object.entries(original)) {
      if (!dropped.has(key)) (this as Record<string, unknown>)[key] = scrubCause(value, depth + 1)
    }
    if ("cause" in original && !Object.prototype.propertyIsEnumerable.call(original, "cause")) {
      ;(this as { cause?: unknown }).cause = scrubCause(original.cause, depth + 1)
    }
  }
}

/**
 * What an error keeps as its `cause`, with no credential in any rendering of it (`message`, `util.inspect`,
 * `JSON.stringify`, `Cause.pretty`): strings and errors are redacted, anything else is kept as it is.
 */
export const scrubCause = (cause: unknown, depth = 0): unknown => {
  if (typeof cause === "string") return redactMessage(cause)
  // Our own errors scrub their causes when they are made; scrubbing them again would lose their type.
  if (
    cause instanceof ScrubbedError || depth > 4 || (cause !== null && typeof cause === "object" && awsErrorId in cause)
  ) {
    return cause
  }
  if (cause instanceof Error) return new ScrubbedError(cause, depth)
  return cause
}
