/**
 * The credential source check: which provider supplied the set, what kind of key it is, whether its parts belong
 * together, when it expires, and the settings that make the SDK sign with something else than intended.
 */
import * as AwsError from "@aws-resilience/core/AwsError"
import * as Credentials from "@aws-resilience/core/Credentials"
import * as CredentialsProvider from "@aws-resilience/core/CredentialsProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Check } from "../Doctor.js"
import {
  type Env,
  type Finding,
  formatDuration,
  fromFindings,
  inLambda,
  isoOf,
  set,
  showValue,
  timeOf
} from "./environment.js"
import * as Sdk from "./sdk.js"

export type Loaded =
  | {
    readonly _tag: "Loaded"
    readonly identity: Sdk.Identity
    readonly source: string
    readonly provider: string
  }
  | { readonly _tag: "Failed"; readonly provider: string; readonly error: AwsError.CredentialsError }

/**
 * A provider's failure, classified by core's taxonomy with the fiber's codes: a credentials failure as it is (e.g. an
 * emulator's code the program mapped to one), anything else a `ProviderFailure` that keeps the class and code.
 */
const providerFailure = (provider: string, cause: unknown, codes: AwsError.Codes): AwsError.CredentialsError => {
  const error = AwsError.classify(cause, { service: "credentials", operation: provider, generation: 0 }, codes)
  if (error._tag === "CredentialsError") return error
  // An error from no AWS response (a plain `Error`) is kept as it was thrown, with no code.
  const plain = error._tag === "ServiceError" && error.httpStatus === undefined
  return new AwsError.CredentialsError({
    service: "credentials",
    operation: provider,
    reason: "ProviderFailure",
    generation: 0,
    code: plain ? undefined : Sdk.codeOf(error),
    cause: plain ? cause : error
  })
}

/** One fresh resolution through the provider, bounded by `timeout`. */
export const load = (provider: CredentialsProvider.Provider, timeout: Duration.Duration): Effect.Effect<Loaded> =>
  Effect.disconnect(provider.load).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new AwsError.TransientError({
          service: "credentials",
          operation: provider.name,
          kind: "timeout",
          code: "TimeoutError",
          cause: `credential provider ${provider.name} did not answer within ${Duration.format(timeout)}`
        })
    }),
    Effect.map((identity): Loaded => ({
      _tag: "Loaded",
      identity,
      source: CredentialsProvider.sourceOf(identity, provider),
      provider: provider.name
    })),
    Effect.catchAll((cause) =>
      Effect.map(AwsError.getCodes, (codes): Loaded => ({
        _tag: "Failed",
        provider: provider.name,
        error: providerFailure(provider.name, cause, codes)
      }))
    )
  )

export type KeyKind = "long-term" | "temporary" | "unknown"

export const keyKind = (accessKeyId: string): KeyKind =>
  accessKeyId.startsWith("AKIA") ? "long-term" : accessKeyId.startsWith("ASIA") ? "temporary" : "unknown"

const kindLabel: Record<KeyKind, string> = {
  "long-term": "long-term (AKIA)",
  temporary: "temporary (ASIA)",
  unknown: "unrecognised prefix"
}

// Inside this window the SDK itself refreshes a set; a set this close to expiry at start-up is suspicious.
const expiryWarning = 5 * 60_000

const hasOuterWhitespace = (value: string | undefined): boolean => value !== undefined && value.trim() !== value

const failedCheck = (loaded: Extract<Loaded, { _tag: "Failed" }>, env: Env): Check => {
  const lambda = inLambda(env)
  const keyWithoutSecret = set(env, "AWS_ACCESS_KEY_ID") !== undefined &&
    set(env, "AWS_SECRET_ACCESS_KEY") === undefined
  return fromFindings({
    kind: "credentials",
    name: "credentials",
    facts: "",
    findings: [
      {
        status: "fail",
        text: `no credentials from provider ${loaded.provider}: ${Sdk.textOf(loaded.error)}`,
        fix: lambda
          ? "the Lambda runtime always sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from the " +
            "execution role: code that deletes or overwrites them (or sets AWS_PROFILE) leaves the chain without a set"
          : "give the chain one source: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for ASIA " +
            "keys), a profile (AWS_PROFILE) in ~/.aws/credentials or ~/.aws/config, a container credentials endpoint, " +
            "web identity, or an instance role (IMDS)"
      },
      ...(keyWithoutSecret
        ? [{
          status: "fail" as const,
          text: "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY",
          fix: "the chain skips environment keys unless both are set"
        }]
        : [])
    ],
    evidence: {
      provider: loaded.provider,
      reason: loaded.error.reason,
      code: loaded.error.code,
      AWS_PROFILE: set(env, "AWS_PROFILE"),
      lambda: set(env, "AWS_LAMBDA_FUNCTION_NAME")
    }
  })
}

export const credentialsCheck = (loaded: Loaded, env: Env, now: number): Check => {
  if (loaded._tag === "Failed") return failedCheck(loaded, env)
  const { identity, source } = loaded
  const masked = Credentials.maskAccessKeyId(identity.accessKeyId)
  const kind = keyKind(identity.accessKeyId)
  const hasToken = identity.sessionToken !== undefined && identity.sessionToken !== ""
  // Typed as a Date, but a provider can hand anything over (an Invalid Date, a string): read as data, never trusted.
  const expiration: unknown = identity.expiration
  const expiresAt = expiration === undefined ? undefined : timeOf(expiration)
  const badExpiration = expiration !== undefined && expiresAt === undefined
  const left = expiresAt === undefined ? undefined : expiresAt - now
  const lambda = inLambda(env)
  const findings: Array<Finding> = []

  if (badExpiration) {
    findings.push({
      status: "fail",
      text: `the provider ${loaded.provider} returned an expiration that is not a date: expiration = ${
        showValue(expiration)
      }`,
      fix:
        "a provider returns `expiration` as a valid Date, or leaves it out for a set that does not expire: the SDK " +
        "compares it to the clock to refresh the set in time. Check how the provider parses the expiry its source " +
        "gives (e.g. `new Date(iso)` of an ISO 8601 timestamp)"
    })
  }

  if (kind === "temporary" && !hasToken) {
    findings.push({
      status: "fail",
      text: `temporary key ${masked} (ASIA) has no session token: AWS rejects every call with InvalidClientTokenId ` +
        `(UnrecognizedClientException on DynamoDB)`,
      fix: "an ASIA key, its secret and its session token are one set: set AWS_SESSION_TOKEN beside " +
        "AWS_ACCESS_KEY_ID, or pass the token wherever the key is passed in code"
    })
  }
  if (kind === "long-term" && hasToken) {
    findings.push({
      status: "warn",
      text: `long-term key ${masked} (AKIA) comes with a session token`,
      fix: "a session token belongs to a temporary (ASIA) key of the same set: unset AWS_SESSION_TOKEN, or use the " +
        "key it was issued with"
    })
  }
  if (left !== undefined && left <= 0) {
    findings.push({
      status: "fail",
      text: `the set expired ${formatDuration(left)} ago: AWS rejects it with ExpiredToken`,
      fix: "resolve a new set: a process that copied credentials into its own configuration (or into environment " +
        "variables) keeps the old ones; let the SDK's provider refresh them, and check the clock (see clock)"
    })
  } else if (left !== undefined && left < expiryWarning) {
    findings.push({
      status: "warn",
      text: `the set expires in ${formatDuration(left)}`,
      fix: "a provider that hands out sets this close to expiry (e.g. a long-lived AssumeRole chain) makes the SDK " +
        "refresh on almost every call"
    })
  }
  if (set(env, "AWS_PROFILE") !== undefined && set(env, "AWS_ACCESS_KEY_ID") !== undefined) {
    findings.push({
      status: "warn",
      text: `AWS_PROFILE (${set(env, "AWS_PROFILE")}) is set beside AWS_ACCESS_KEY_ID`,
      fix: "the JS SDK v3's chain then skips the environment keys and uses the profile (and says so on stderr), " +
        "while the AWS CLI and boto3 use the environment keys: the two sign as different identities. Unset one of them"
    })
  }
  if (source === "environment") {
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) {
      if (hasOuterWhitespace(env[name])) {
        findings.push({
          status: "fail",
          text: `${name} has leading or trailing whitespace`,
          fix: "the SDK signs with the value as it is: the signature cannot match (SignatureDoesNotMatch, or " +
            "InvalidClientTokenId for the key id). Strip the value where it is set"
        })
      }
    }
  }
  if (lambda) {
    const runtimeKey = set(env, "AWS_ACCESS_KEY_ID")
    if (source !== "environment") {
      findings.push({
        status: "warn",
        text: `inside Lambda the set came from ${source}, not from the runtime's environment variables`,
        fix: "Lambda hands the function its execution role's credentials in AWS_ACCESS_KEY_ID, " +
          "AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN: another source (a profile, static keys in code, a " +
          "container URI) means the code or its configuration supplied them. Use the default chain or " +
          "CredentialsProvider.environment()"
      })
    } else if (kind === "long-term") {
      findings.push({
        status: "warn",
        text: `inside Lambda the environment holds a long-term key ${masked} (AKIA)`,
        fix: "the runtime only ever sets temporary (ASIA) keys of the execution role: code overwrote " +
          "AWS_ACCESS_KEY_ID. Remove that code and grant the permissions to the execution role"
      })
    } else if (runtimeKey !== undefined && runtimeKey !== identity.accessKeyId) {
      findings.push({
        status: "warn",
        text: "inside Lambda the set differs from the runtime's AWS_ACCESS_KEY_ID",
        fix: "the code supplied its own credentials; use the runtime's"
      })
    }
  }

  const expires = expiration === undefined
    ? "no expiry (served until rejected)"
    : badExpiration
    ? `expiration not a date (${showValue(expiration)})`
    : left !== undefined && left > 0
    ? `expires in ${formatDuration(left)}`
    : `expired ${formatDuration(left ?? 0)} ago`
  return fromFindings({
    kind: "credentials",
    name: "credentials",
    facts: `${source}: ${masked}, ${kindLabel[kind]}${
      kind === "temporary" ? (hasToken ? " with session token" : " WITHOUT session token") : ""
    }, ${expires}`,
    findings,
    evidence: {
      provider: loaded.provider,
      source,
      accessKeyId: masked,
      keyKind: kindLabel[kind],
      sessionToken: hasToken ? "present" : "absent",
      expiration: expiration === undefined ? "none" : isoOf(expiration) ?? showValue(expiration),
      timeLeft: left === undefined
        ? undefined
        : left > 0
        ? formatDuration(left)
        : `expired ${formatDuration(left)} ago`,
      AWS_PROFILE: set(env, "AWS_PROFILE"),
      lambda: set(env, "AWS_LAMBDA_FUNCTION_NAME")
    }
  })
}
