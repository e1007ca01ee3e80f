/**
 * Says why AWS calls are rejected. `run` checks, in this order, the region and STS endpoint, the credentials the
 * SDK's chain resolves, the identity STS sees (`GetCallerIdentity`), the clock against AWS's, DNS and reachability
 * of the STS, DynamoDB and SQS endpoints the SDK will really use, and optionally a table and a queue; it returns a
 * typed `Report` and never fails: every problem is a check with status `fail`, its evidence and hints.
 *
 * No report holds a secret: access key ids are masked to their last 4 characters, and neither the secret key nor
 * the session token is ever read into a check.
 *
 * @since 0.1.0
 */
import type * as AwsError from "@aws-resilience/core/AwsError"
import type * as CredentialsProvider from "@aws-resilience/core/CredentialsProvider"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as engine from "./internal/engine.js"
import * as render from "./internal/render.js"
import type * as Network from "./Network.js"

/**
 * The outcome of one check: `warn` is worth reading but does not stop calls, `fail` does.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "ok" | "warn" | "fail"

/**
 * The kinds of check, in the order they are reported.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "region" | "credentials" | "identity" | "clock" | "dns" | "reachability" | "probe"

/**
 * Every kind of check, in report order.
 *
 * @since 0.1.0
 * @category models
 */
export const kinds: ReadonlyArray<Kind> = ["region", "credentials", "identity", "clock", "dns", "reachability", "probe"]

/**
 * What a check saw, as named values (never a secret).
 *
 * @since 0.1.0
 * @category models
 */
export type Evidence = Readonly<Record<string, string | number | boolean>>

/**
 * One check's result.
 *
 * @since 0.1.0
 * @category models
 */
export interface Check {
  readonly kind: Kind
  /** Unique in a report, e.g. `region`, `dns sts`, `probe DescribeTable orders`. */
  readonly name: string
  readonly status: Status
  /** One line: what was found. */
  readonly summary: string
  readonly evidence: Evidence
  /** Likely causes and what to fix, most likely first. */
  readonly hints: ReadonlyArray<string>
}

/**
 * The identity STS reported.
 *
 * @since 0.1.0
 * @category models
 */
export interface Identity {
  readonly account: string
  readonly arn: string
}

/**
 * The diagnosis: the worst status of its checks, and each check.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly status: Status
  readonly region: string | undefined
  readonly identity: Identity | undefined
  readonly checks: ReadonlyArray<Check>
  /** ISO time the run started. */
  readonly startedAt: string
  readonly durationMs: number
}

/**
 * What to check and how long to wait.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The region to check. Default: `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the shared config file's. */
  readonly region?: string | undefined
  /** Where credentials come from. Default: the SDK's Node chain, as `Credentials.layer()` uses. */
  readonly provider?: CredentialsProvider.Provider | undefined
  /** A DynamoDB table to probe with `DescribeTable`. */
  readonly table?: string | undefined
  /** An SQS queue, by URL or name, to probe with `GetQueueAttributes`. */
  readonly queue?: string | undefined
  /** The longest wait for each lookup, connect, request and the credentials. Default 5 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Run only these kinds of check. Default: all of them. */
  readonly only?: ReadonlyArray<Kind> | undefined
  /**
   * Codes of your own (an emulator's, say) and what they mean, for the classification of the doctor's calls: added to
   * those in force on the fiber (`AwsError.withCodes`, `AwsError.layer`), which it also uses.
   */
  readonly codes?: AwsError.Codes | undefined
}

/**
 * Runs the checks, concurrently where they are independent, and returns the report. It never fails.
 *
 * @example
 * ```ts
 * import { Doctor, Network } from "@aws-resilience/doctor"
 * import { Effect } from "effect"
 *
 * // In a Lambda handler inside the VPC: log the diagnosis once, from where the problem is.
 * export const diagnose = Doctor.run({ table: "orders", timeout: "2 seconds" }).pipe(
 *   Effect.tap(Doctor.log),
 *   Effect.provide(Network.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options = {}): Effect.Effect<Report, never, Network.Network> => engine.run(options)

/**
 * The worst of some statuses (`ok` for none).
 *
 * @since 0.1.0
 * @category utils
 */
export const worst = (statuses: Iterable<Status>): Status => {
  let result: Status = "ok"
  for (const status of statuses) {
    if (status === "fail") return "fail"
    if (status === "warn") result = "warn"
  }
  return result
}

/**
 * The process exit code for a report: 1 when any check failed, else 0.
 *
 * @since 0.1.0
 * @category utils
 */
export const exitCode = (report: Report): 0 | 1 => report.status === "fail" ? 1 : 0

/**
 * The report as a table for a terminal: `colour` adds ANSI colours, `verbose` shows the evidence of passing checks
 * too (failing and warning ones always show theirs).
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatTable = (
  report: Report,
  options: { readonly colour: boolean; readonly verbose?: boolean | undefined }
): string => render.table(report, options.colour, options.verbose ?? false)

/**
 * The report as JSON, for machines.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatJson = (report: Report): string => JSON.stringify(report, null, 2)

/**
 * Logs the report through the caller's logger: one line per check, at the level its status calls for, annotated
 * with its evidence and hints (e.g. for a Lambda's CloudWatch logs).
 *
 * @since 0.1.0
 * @category utils
 */
export const log = (report: Report): Effect.Effect<void> =>
  Effect.forEach(report.checks, (check) => {
    const line = `doctor ${check.name}: ${check.status}: ${check.summary}`
    const logged = check.status === "fail"
      ? Effect.logError(line)
      : check.status === "warn"
      ? Effect.logWarning(line)
      : Effect.logInfo(line)
    return logged.pipe(Effect.annotateLogs({ ...check.evidence, hints: check.hints.join(" | ") }))
  }, { discard: true })
