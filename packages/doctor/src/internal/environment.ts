/** The process's AWS settings as one snapshot, and the region with where it came from. */
import { STSClient } from "@aws-sdk/client-sts"
import * as Effect from "effect/Effect"
import type { Check, Evidence, Kind, Status } from "../Doctor.js"

export type Env = Readonly<Record<string, string | undefined>>

export const snapshot = (): Env => ({ ...process.env })

export const set = (env: Env, name: string): string | undefined => {
  const value = env[name]
  return value === undefined || value.trim() === "" ? undefined : value
}

export const inLambda = (env: Env): boolean => set(env, "AWS_LAMBDA_FUNCTION_NAME") !== undefined

export interface Region {
  readonly region: string | undefined
  /** Where it came from: `options`, `AWS_REGION`, `AWS_DEFAULT_REGION`, `profile default in ~/.aws/config`. */
  readonly source: string
}

const configFile = (env: Env): string => set(env, "AWS_CONFIG_FILE") ?? "~/.aws/config"

// The SDK's own region resolution (AWS_REGION, then the shared config file's profile), for the config-file case.
const sdkRegion: Effect.Effect<string | undefined> = Effect.acquireUseRelease(
  Effect.sync(() => new STSClient({})),
  (client) =>
    Effect.tryPromise(() => client.config.region()).pipe(
      Effect.map((region) => region === "" ? undefined : region),
      Effect.orElseSucceed(() => undefined)
    ),
  (client) => Effect.sync(() => client.destroy())
)

/**
 * The option first; then `AWS_REGION` (the JS SDK's variable), `AWS_DEFAULT_REGION` (the CLI's and boto3's, which
 * this project's `AwsConfig.region` also reads), and last the shared config file, as the SDK reads it.
 */
export const resolveRegion = (option: string | undefined, env: Env): Effect.Effect<Region> => {
  if (option !== undefined && option !== "") return Effect.succeed({ region: option, source: "options" })
  const fromEnv = set(env, "AWS_REGION")
  if (fromEnv !== undefined) return Effect.succeed({ region: fromEnv, source: "AWS_REGION" })
  const fromDefault = set(env, "AWS_DEFAULT_REGION")
  if (fromDefault !== undefined) return Effect.succeed({ region: fromDefault, source: "AWS_DEFAULT_REGION" })
  return Effect.map(sdkRegion, (region) =>
    region === undefined
      ? { region: undefined, source: "none" }
      : { region, source: `profile ${set(env, "AWS_PROFILE") ?? "default"} in ${configFile(env)}` })
}

/** A check, its evidence stripped of undefined values. */
export const check = (fields: {
  readonly kind: Kind
  readonly name: string
  readonly status: Status
  readonly summary: string
  readonly evidence?: Readonly<Record<string, string | number | boolean | undefined>>
  readonly hints?: ReadonlyArray<string | undefined>
}): Check => {
  const evidence: Record<string, string | number | boolean> = {}
  for (const [key, value] of Object.entries(fields.evidence ?? {})) {
    if (value !== undefined) evidence[key] = value
  }
  return {
    kind: fields.kind,
    name: fields.name,
    status: fields.status,
    summary: fields.summary,
    evidence: evidence as Evidence,
    hints: (fields.hints ?? []).filter((hint): hint is string => hint !== undefined)
  }
}

/**
 * The time of a date as a number, or undefined when it is not a valid `Date` (an Invalid Date, a string, anything
 * else). Never throws: a provider's values are rendered as data, whatever they are.
 */
export const timeOf = (value: unknown): number | undefined => {
  try {
    const time = typeof value === "number"
      ? value
      : Object.prototype.toString.call(value) === "[object Date]"
      ? Date.prototype.getTime.call(value)
      : Number.NaN
    return Number.isFinite(time) && Math.abs(time) <= 8.64e15 ? time : undefined
  } catch {
    return undefined
  }
}

/** A date (or a time in ms) as ISO text, or undefined when it is not a valid one; never throws. */
export const isoOf = (value: unknown): string | undefined => {
  const time = timeOf(value)
  return time === undefined ? undefined : new Date(time).toISOString()
}

/** Any value, for a report: short, one line, and without calling the value's own methods. */
export const showValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value.length > 32 ? `${value.slice(0, 32)}...` : value)
  if (value === null || typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value)
  }
  if (value === undefined || typeof value === "symbol" || typeof value === "function") return typeof value
  if (Object.prototype.toString.call(value) === "[object Date]") return isoOf(value) ?? "Invalid Date"
  return Object.prototype.toString.call(value)
}

export const formatDuration = (ms: number): string => {
  const abs = Math.abs(ms)
  if (abs < 1_000) return `${Math.round(abs)} ms`
  if (abs < 90_000) return `${Math.round(abs / 1_000)} s`
  if (abs < 2 * 3_600_000) return `${Math.round(abs / 60_000)} min`
  const hours = Math.floor(abs / 3_600_000)
  return `${hours} h ${Math.round((abs - hours * 3_600_000) / 60_000)} min`
}

/** One thing a check found wrong, and what to do about it. */
export interface Finding {
  readonly status: "warn" | "fail"
  readonly text: string
  readonly fix: string
}

/**
 * A check from its findings: with none it is `ok` and says `facts`; otherwise its summary is the worst finding, and
 * each finding's fix is a hint (the others with their text).
 */
export const fromFindings = (fields: {
  readonly kind: Kind
  readonly name: string
  readonly facts: string
  readonly findings: ReadonlyArray<Finding>
  readonly evidence: Readonly<Record<string, string | number | boolean | undefined>>
  readonly notes?: ReadonlyArray<string | undefined>
}): Check => {
  const sorted = [...fields.findings].sort((a, b) => (a.status === b.status ? 0 : a.status === "fail" ? -1 : 1))
  const first = sorted[0]
  return check({
    kind: fields.kind,
    name: fields.name,
    status: first?.status ?? "ok",
    summary: first === undefined ? fields.facts : first.text,
    evidence: fields.evidence,
    hints: [
      ...sorted.map((finding) => finding === first ? finding.fix : `${finding.text}: ${finding.fix}`),
      ...(fields.notes ?? [])
    ]
  })
}
