/**
 * `pnpm demo`: replays the incident on the local stack and prints what happened. Exits non-zero if any event
 * is lost (reported done, missing from a backend), stored twice or delivered twice, or failed because of a
 * credentials event. Other failures were reported to the caller, who can retry them: they are counted by cause
 * but do not fail the run.
 *
 * Flags for a less kind world: `--lag <ms>` (the credentials source serves a revoked set this long before it issues a
 * new one), `--propagation <ms>` (each new set is refused this long after it is issued), `--rotate-every <ms>` (a
 * revocation every period, on top of the incident's own), `--malformed` (credentials rejections come as 403 with an
 * XML body the SDK cannot parse).
 */
import { Credentials, RetryPolicy } from "@aws-resilience/core"
import { DynamoDB } from "@aws-resilience/dynamodb"
import { SQS } from "@aws-resilience/sqs"
import { FaultPlan, LocalAws } from "@aws-resilience/testkit"
import { Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Demo from "./Demo.js"
import { BadFaultMix, BadFlagValue, DemoFailed } from "./DemoError.js"

const parseFaults = (input: string) =>
  Effect.gen(function*() {
    if (input.trim() === "none") return {}
    const mix: Record<string, number> = {}
    for (const part of input.split(",").map((p) => p.trim()).filter((p) => p.length > 0)) {
      const [name, value] = part.split("=")
      const kind = Schema.decodeUnknownOption(FaultPlan.FaultKind)(name)
      if (kind._tag === "None") {
        return yield* new BadFaultMix({ input, reason: `unknown fault ${JSON.stringify(name)}` })
      }
      const probability = Number(value)
      if (!Number.isFinite(probability) || probability < 0 || probability > 1) {
        return yield* new BadFaultMix({ input, reason: `${name} needs a probability between 0 and 1` })
      }
      mix[kind.value] = probability
    }
    return mix
  })

// A millisecond flag: a whole number, at least `min`; absent stays absent.
const parseMillis = (flag: string, input: Option.Option<string>, min = 0) =>
  Effect.gen(function*() {
    if (Option.isNone(input)) return undefined
    const text = input.value.trim()
    const ms = /^-?\d+$/.test(text) ? Number(text) : Number.NaN
    if (!Number.isSafeInteger(ms) || ms < min) {
      return yield* new BadFlagValue({
        flag,
        input: input.value,
        expected: `a whole number of milliseconds, ${min === 0 ? "0 or more" : `at least ${min}`}`
      })
    }
    return ms
  })

const progress = (done: number, total: number) =>
  Effect.sync(() => {
    const step = Math.max(1, Math.floor(total / 10))
    if (process.stdout.isTTY) {
      const width = 30
      const filled = Math.round((done / total) * width)
      process.stdout.write(
        `\r  [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}${done === total ? "\n" : ""}`
      )
    } else if (done % step === 0 || done === total) {
      process.stdout.write(`  ${done}/${total} events\n`)
    }
  })

type Line = string | readonly [label: string, value: string | number]

// Labels are padded to the longest one, so that a long failure cause keeps the numbers aligned.
const table = (lines: ReadonlyArray<Line>): string => {
  const width = Math.max(...lines.map((line) => (typeof line === "string" ? 0 : line[0].length)))
  return lines.map((line) =>
    typeof line === "string" ? line : `  ${line[0].padEnd(width)} ${String(line[1]).padStart(10)}`
  ).join("\n")
}

const print = (report: Demo.Report, showLag: boolean) =>
  Console.log(
    table([
      "",
      "Incident replay: results",
      ["events", report.events],
      ["reported stored and enqueued", report.succeeded],
      ["  lost (reported, yet missing)", report.lost],
      ["reported failed (caller can retry)", report.failed],
      ...Object.entries(report.failedByCause).map(([cause, n]) => [`    ${cause}`, n] as const),
      ["stored", report.stored],
      ["  duplicates (stored twice)", report.storedTwice],
      ["  retried, already there", report.alreadyStored],
      ["enqueued", report.enqueued],
      ["  delivered twice", report.deliveredTwice],
      ["credential source calls", report.credentialFetches],
      ...(showLag
        ? [
          ["  during lag windows", report.lag.sourceCalls] as const,
          ["  lag windows", report.lag.windows] as const,
          ["  lag, total (s)", report.lag.seconds.toFixed(1)] as const,
          ["  source calls per second of lag", report.lag.sourceCallsPerSecond.toFixed(2)] as const,
          "    (source calls during lag windows / total lag seconds; a lag window runs from a revocation until",
          "     the source serves a new set)"
        ]
        : []),
      ...(report.periodicRevocations > 0 ? [["periodic revocations", report.periodicRevocations] as const] : []),
      ["client rebuilds", report.clientRebuilds],
      "  retries by cause",
      ...Object.entries(report.retries).map(([tag, n]) => [`    ${tag}`, n] as const),
      "  gateway requests by outcome",
      ...Object.entries(report.gateway).map(([outcome, n]) => [`    ${outcome}`, n] as const),
      ["latency p50 (ms)", report.p50.toFixed(1)],
      ["latency p99 (ms)", report.p99.toFixed(1)],
      ["wall time (s)", report.seconds.toFixed(1)],
      ""
    ])
  )

const events = Options.integer("events").pipe(Options.withDefault(2000), Options.withDescription("events to ingest"))
const concurrency = Options.integer("concurrency").pipe(
  Options.withDefault(50),
  Options.withDescription("events in flight")
)
const seed = Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("seed of the fault plan"))
const faults = Options.text("faults").pipe(
  Options.withDefault("throttle=0.02,status503=0.02,reset=0.01,lostResponse=0.02"),
  Options.withDescription("fault mix per request, or none")
)
const reportFile = Options.file("report").pipe(
  Options.optional,
  Options.withDescription("also write the report as JSON to this file")
)
const maxAttempts = Options.integer("max-attempts").pipe(
  Options.withDefault(5),
  Options.withDescription("attempts per call")
)

const lag = Options.text("lag").pipe(
  Options.optional,
  Options.withDescription("ms the credentials source lags each revocation: it serves the revoked set that long")
)
const propagation = Options.text("propagation").pipe(
  Options.optional,
  Options.withDescription("ms each new credentials set is refused after it is issued (new keys propagate)")
)
const rotateEvery = Options.text("rotate-every").pipe(
  Options.optional,
  Options.withDescription("revoke the current credentials every this many ms during the run")
)
const malformed = Options.boolean("malformed").pipe(
  Options.withDescription("answer credentials rejections malformed: 403, an XML body, text/html, no error headers")
)

const command = Command.make(
  "demo",
  { events, concurrency, seed, faults, maxAttempts, reportFile, lag, propagation, rotateEvery, malformed },
  (args) =>
    Effect.gen(function*() {
      const mix = yield* parseFaults(args.faults)
      const lagMs = yield* parseMillis("--lag", args.lag)
      const propagationMs = yield* parseMillis("--propagation", args.propagation)
      const revokeEveryMs = yield* parseMillis("--rotate-every", args.rotateEvery, 1)
      yield* Console.log(
        `Replaying the incident: ${args.events} events, ${args.concurrency} at a time, seed ${args.seed}`
      )
      const world = [
        ...(lagMs !== undefined ? [`the credentials source lags each revocation by ${lagMs} ms`] : []),
        ...(propagationMs !== undefined ? [`new sets are refused for ${propagationMs} ms`] : []),
        ...(revokeEveryMs !== undefined ? [`a revocation every ${revokeEveryMs} ms`] : []),
        ...(args.malformed ? ["credentials rejections are malformed"] : [])
      ]
      if (world.length > 0) yield* Console.log(`  ${world.join("; ")}`)
      const report = yield* Demo.run({
        events: args.events,
        concurrency: args.concurrency,
        seed: args.seed,
        faults: mix,
        revokeEveryMs,
        onProgress: progress
      }).pipe(
        Effect.provide(
          Layer.mergeAll(DynamoDB.layerConfig(), SQS.layerConfig()).pipe(
            Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layer({ maxAttempts: args.maxAttempts }))),
            Layer.provideMerge(LocalAws.layerWithEnv({
              revocationLag: lagMs,
              propagation: propagationMs,
              rejectionShape: args.malformed ? "malformed" : "aws"
            }))
          )
        )
      )
      yield* print(report, lagMs !== undefined && lagMs > 0)
      if (Option.isSome(args.reportFile)) {
        const fs = yield* FileSystem.FileSystem
        yield* fs.writeFileString(args.reportFile.value, JSON.stringify(report, null, 2) + "\n")
        yield* Console.log(`Report written to ${args.reportFile.value}`)
      }
      const problems = Demo.problems(report)
      if (problems.length > 0) return yield* new DemoFailed({ problems })
      yield* Console.log(
        "No event lost, none stored or delivered twice, no failure caused by credentials" +
          (report.failed > 0 ? ` (${report.failed} failed after retries, reported to the caller).` : ".")
      )
    })
)

const cli = Command.run(command, { name: "aws-resilience demo", version: "0.1.0" })

cli(process.argv).pipe(
  Logger.withMinimumLogLevel(LogLevel.Warning),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
