/**
 * The doctor's run: one snapshot of the settings, the region, one resolution of the credentials and the endpoints
 * the SDK will use; then every selected check, concurrently, reported in a fixed order.
 */
import * as AwsError from "@aws-resilience/core/AwsError"
import * as CredentialsProvider from "@aws-resilience/core/CredentialsProvider"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Check, Identity, Kind, Options, Report } from "../Doctor.js"
import type * as Network from "../Network.js"
import { clockCheck } from "./clockCheck.js"
import { credentialsCheck, load, type Loaded } from "./credentialsCheck.js"
import { resolveAll, services } from "./endpoints.js"
import { isoOf, resolveRegion, snapshot } from "./environment.js"
import { identityCheck } from "./identityCheck.js"
import { dnsCheck, reachabilityCheck } from "./networkChecks.js"
import { describeTable, getQueueAttributes } from "./probes.js"
import { regionCheck } from "./regionCheck.js"

const order: ReadonlyArray<Kind> = ["region", "credentials", "identity", "clock", "dns", "reachability", "probe"]

// Kinds that need a resolved set of credentials.
const needsCredentials: ReadonlyArray<Kind> = ["region", "credentials", "identity", "probe"]

const worstOf = (checks: ReadonlyArray<Check>) =>
  checks.some((c) => c.status === "fail") ? "fail" : checks.some((c) => c.status === "warn") ? "warn" : "ok"

export const run = (options: Options): Effect.Effect<Report, never, Network.Network> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const timeout = Duration.decode(options.timeout ?? "5 seconds")
    const selected = new Set<Kind>(options.only ?? order)
    const wants = (kind: Kind) => selected.has(kind)
    const env = snapshot()
    const provider = options.provider ?? CredentialsProvider.chain()

    const [region, loaded] = yield* Effect.all([
      resolveRegion(options.region, env),
      needsCredentials.some(wants) ? load(provider, timeout) : Effect.succeed<Loaded | undefined>(undefined)
    ], { concurrency: "unbounded" })
    const identity = loaded?._tag === "Loaded" ? loaded.identity : undefined
    const endpoints = yield* resolveAll(region.region, env, identity)
    const now = yield* Clock.currentTimeMillis

    let stsIdentity: Identity | undefined
    const tasks: Array<Effect.Effect<ReadonlyArray<Check>, never, Network.Network>> = []
    const one = (effect: Effect.Effect<Check, never, Network.Network>) => tasks.push(Effect.map(effect, (c) => [c]))
    if (wants("region")) {
      one(Effect.sync(() => regionCheck(region, endpoints.sts, env, identity)))
    }
    // `loaded` is there whenever a kind that reads it is selected.
    if (wants("credentials") && loaded) one(Effect.sync(() => credentialsCheck(loaded, env, now)))
    if (wants("identity") && loaded) {
      one(Effect.map(identityCheck(region.region, endpoints.sts, loaded, env, timeout), (outcome) => {
        stsIdentity = outcome.identity
        return outcome.check
      }))
    }
    if (wants("clock")) one(clockCheck(endpoints.sts, timeout))
    if (wants("dns")) {
      tasks.push(Effect.forEach(services, (s) => dnsCheck(endpoints[s], s, env, timeout), { concurrency: "unbounded" }))
    }
    if (wants("reachability")) {
      tasks.push(
        Effect.forEach(services, (s) => reachabilityCheck(endpoints[s], s, timeout), { concurrency: "unbounded" })
      )
    }
    if (wants("probe") && loaded && options.table !== undefined && options.table !== "") {
      one(describeTable(options.table, region.region, loaded, timeout))
    }
    if (wants("probe") && loaded && options.queue !== undefined && options.queue !== "") {
      one(getQueueAttributes(options.queue, region.region, loaded, endpoints.sqs, timeout))
    }
    const checks = (yield* Effect.all(tasks, { concurrency: "unbounded" })).flat()
    const finished = yield* Clock.currentTimeMillis
    const report: Report = {
      status: worstOf(checks),
      region: region.region,
      identity: stsIdentity,
      checks,
      startedAt: isoOf(started) ?? String(started),
      durationMs: finished - started
    }
    for (const check of checks) {
      yield* Effect.logDebug(`doctor ${check.name}: ${check.status}: ${check.summary}`)
    }
    return report
  }).pipe(
    // The doctor's calls are classified with the fiber's codes, and the options' on top.
    (run) => options.codes === undefined ? run : AwsError.withCodes(run, options.codes),
    Effect.withSpan("Doctor.run", { captureStackTrace: false })
  )
