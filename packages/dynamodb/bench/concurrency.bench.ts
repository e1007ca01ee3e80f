/**
 * Many concurrent callers through one DynamoDB `ManagedClient` against the local stack running in a process of its
 * own (`bench/lib/stackProcess.mjs`): `--concurrency` callers (default 1,000) each put items in a closed loop, as
 * fast as the stack answers, for `--duration` seconds per phase; bare SDK callers on one bare `DynamoDBClient` (same
 * settings) do the same in the other phase of each round, the order reversed every other round. Per round: the
 * throughput (calls completed within the phase per second) and the p99 latency of each; judged are the medians over
 * the rounds of ours / bare: throughput >= 0.97x, p99 <= 1.10x. Also printed: the client's CPU per call of each
 * (`process.cpuUsage` over the phase, GC helper threads included, divided by every call that ended). Garbage a phase
 * leaves is collected in the next one: with `--floor 1` the order is bare, ours, floor, then reversed, so bare and
 * the floor sometimes follow themselves and ours never does (a small bias against ours); failed calls are cheap and
 * lower the figure (the failed calls are printed).
 *
 *   node ../../bench/lib/run.mjs bench/concurrency.bench.ts [--duration 3] [--rounds 5] [--concurrency 1000]
 *   node ../../bench/lib/run.mjs bench/concurrency.bench.ts --duration 10                    (the 10 s run)
 *   node ../../bench/lib/run.mjs --cpu-prof bench/concurrency.bench.ts --only ours   (a profile of the client, ours alone)
 *   node ../../bench/lib/run.mjs bench/concurrency.bench.ts --floor 1   (also interruptible Effect callers, bare client)
 */
import { PutItemCommand, type PutItemCommandInput } from "@aws-sdk/client-dynamodb"
import { Effect, Layer, Runtime } from "effect"
import { interruptibleSend } from "../../../bench/lib/floors.mjs"
import { startStack } from "../../../bench/lib/stackProcess.mjs"
import {
  alternate,
  option,
  printVerdicts,
  quantile,
  ratios,
  reportInfo,
  reportRatio,
  stringOption
} from "../../../bench/lib/stats.mjs"
import { DynamoDB } from "../src/index.js"
import { bareClient, ensureTable, runWithProductionLayers } from "./benchStack.js"

const concurrency = option("concurrency", 1000)
const duration = option("duration", 3) * 1000
const rounds = option("rounds", 5)
const warmup = option("warmup", 1) * 1000
// `--only ours`, `--only bare` or `--only floor`: one variant alone, e.g. under `node --cpu-prof`; nothing is judged then.
const only = stringOption("only", "")
// `--floor 1`: a third phase per round, Effect callers around the bare client, interruptible as ours are.
const floor = option("floor", 0) === 1
// `--cache 1`: two more phases per round, the bare client and ours with the SDK's handler cache on
// (`cacheMiddleware: true`); information, not judged.
const cache = option("cache", 0) === 1

const table = "bench"
// Keys cycle over as many items as there are callers: the table does not grow with the run.
let counter = 0
const input = (): PutItemCommandInput => ({
  TableName: table,
  Item: { id: { S: `k-${counter++ % concurrency}` }, kind: { S: "created" }, payload: { S: "x".repeat(200) } }
})

// Every call made, warm-up included: what a profile of the run is divided by.
let sent = 0

interface Phase {
  readonly completed: number
  readonly failed: number
  readonly latencies: Array<number>
  // Every call that ended, after the deadline too, and the process's CPU time (user and system, µs) over the phase:
  // the client's CPU per call, which the stack's own noise does not reach.
  readonly ended: number
  readonly cpuMicros: number
}

type Running = { -readonly [K in keyof Phase]: Phase[K] }

const startPhase = (): { readonly phase: Running; readonly end: () => Phase } => {
  const phase: Running = { completed: 0, failed: 0, latencies: [], ended: 0, cpuMicros: 0 }
  const cpu = process.cpuUsage()
  return {
    phase,
    end: () => {
      const used = process.cpuUsage(cpu)
      phase.cpuMicros = used.user + used.system
      return phase
    }
  }
}

// Counts a call that has just ended, begun at `start`; false when it ended after the phase's deadline (it does not
// count then, and its caller stops).
const record = (phase: Running, deadline: number, start: number, ok: boolean): boolean => {
  const end = performance.now()
  sent++
  phase.ended++
  if (end > deadline) return false
  if (ok) {
    phase.completed++
    phase.latencies.push(end - start)
  } else phase.failed++
  return true
}

const stack = await startStack()
stack.useEnv()

const program = Effect.gen(function*() {
  yield* ensureTable(table)
  const bare = yield* bareClient(stack)

  // Only calls that end within the phase count; the phase ends when the last caller has returned.
  const barePhase = async (millis: number, client = bare): Promise<Phase> => {
    const deadline = performance.now() + millis
    const { end, phase } = startPhase()
    const caller = async () => {
      while (performance.now() < deadline) {
        const start = performance.now()
        const ok = await client.send(new PutItemCommand(input())).then(() => true, () => false)
        if (!record(phase, deadline, start, ok)) break
      }
    }
    await Promise.all(Array.from({ length: concurrency }, caller))
    return end()
  }
  // Callers in Effect fibers, each in the same closed loop around `send`: ours, and (`--floor`) the floor of any
  // Effect wrapper that can abort its request when interrupted, around the bare client's send.
  const effectPhase = <E, R>(millis: number, send: () => Effect.Effect<unknown, E, R>) =>
    Effect.suspend(() => {
      const deadline = performance.now() + millis
      const { end, phase } = startPhase()
      const caller = Effect.gen(function*() {
        while (performance.now() < deadline) {
          const start = performance.now()
          const ok = yield* send().pipe(Effect.match({ onSuccess: () => true, onFailure: () => false }))
          if (!record(phase, deadline, start, ok)) break
        }
      })
      return Effect.map(
        Effect.all(Array.from({ length: concurrency }, () => caller), { concurrency: "unbounded" }),
        end
      )
    })
  const ourPhase = (millis: number) => effectPhase(millis, () => DynamoDB.putItem(input()))
  const floorPhase = (millis: number) =>
    effectPhase(millis, () => interruptibleSend(() => bare.send(new PutItemCommand(input()))))

  const runPromise = Runtime.runPromise(yield* Effect.runtime<DynamoDB.DynamoDB>())
  if (only === "" || only === "bare") yield* Effect.promise(() => barePhase(warmup))
  if (only === "" || only === "ours") yield* ourPhase(warmup)
  if (only === "floor") yield* floorPhase(warmup)
  const phases = {
    bare: [] as Array<Phase>,
    ours: [] as Array<Phase>,
    floor: [] as Array<Phase>,
    bareCached: [] as Array<Phase>,
    oursCached: [] as Array<Phase>
  }
  const variants: Record<string, () => Promise<number>> = {
    bare: async () => {
      if (only === "" || only === "bare") phases.bare.push(await barePhase(duration))
      return 0
    },
    ours: async () => {
      if (only === "" || only === "ours") phases.ours.push(await runPromise(ourPhase(duration)))
      return 0
    }
  }
  if ((floor && only === "") || only === "floor") {
    variants.floor = async () => {
      phases.floor.push(await runPromise(floorPhase(duration)))
      return 0
    }
  }
  if (cache && only === "") {
    const bareCached = yield* bareClient(stack, { cacheMiddleware: true })
    // Ours with the cache on: one more managed client, built once (its connections stay warm between phases).
    const cachedLayer = yield* Layer.build(DynamoDB.layerConfig({ clientConfig: { cacheMiddleware: true } }))
    const ourCachedPhase = (millis: number) =>
      effectPhase(millis, () => DynamoDB.putItem(input())).pipe(Effect.provide(cachedLayer))
    yield* Effect.promise(() => barePhase(warmup, bareCached))
    yield* ourCachedPhase(warmup)
    variants.bareCached = async () => {
      phases.bareCached.push(await barePhase(duration, bareCached))
      return 0
    }
    variants.oursCached = async () => {
      phases.oursCached.push(await runPromise(ourCachedPhase(duration)))
      return 0
    }
  }
  yield* Effect.promise(() => alternate(rounds, variants))
  return phases
})

try {
  const phases = await runWithProductionLayers(program)
  const throughput = (ps: ReadonlyArray<Phase>) => ps.map((p) => p.completed / (duration / 1000))
  const p99 = (ps: ReadonlyArray<Phase>) => ps.map((p) => quantile(p.latencies, 0.99))
  const p50 = (ps: ReadonlyArray<Phase>) => ps.map((p) => quantile(p.latencies, 0.5))
  const cpuPerCall = (ps: ReadonlyArray<Phase>) => ps.map((p) => p.cpuMicros / p.ended)
  console.log(
    `PutItem, ${concurrency} concurrent callers in a closed loop through one client, against the stack in its own ` +
      `process; ${rounds} alternating rounds of ${duration / 1000} s per variant (median, spread over rounds):`
  )
  reportInfo({ label: "bare DynamoDBClient (calls/s)", values: throughput(phases.bare), digits: 0 })
  reportInfo({ label: "one ManagedClient, DynamoDB.putItem (calls/s)", values: throughput(phases.ours), digits: 0 })
  reportInfo({ label: "bare p50 (ms)", values: p50(phases.bare), digits: 0 })
  reportInfo({ label: "bare p99 (ms)", values: p99(phases.bare), digits: 0 })
  reportInfo({ label: "ours p50 (ms)", values: p50(phases.ours), digits: 0 })
  reportInfo({ label: "ours p99 (ms)", values: p99(phases.ours), digits: 0 })
  reportInfo({ label: "bare failed calls", values: phases.bare.map((p) => p.failed), digits: 0 })
  reportInfo({ label: "ours failed calls", values: phases.ours.map((p) => p.failed), digits: 0 })
  // An informational ratio of two variants' figures, per round.
  const ratioInfo = (label: string, a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
    reportInfo({ label, values: ratios(a, b), digits: 3 })
  reportInfo({ label: "client CPU per call, bare (µs)", values: cpuPerCall(phases.bare), digits: 0 })
  reportInfo({ label: "client CPU per call, ours (µs)", values: cpuPerCall(phases.ours), digits: 0 })
  ratioInfo("client CPU per call ours / bare", cpuPerCall(phases.ours), cpuPerCall(phases.bare))
  if (floor) {
    reportInfo({ label: "interruptible floor (calls/s)", values: throughput(phases.floor), digits: 0 })
    ratioInfo("throughput floor / bare", throughput(phases.floor), throughput(phases.bare))
    ratioInfo("throughput ours / floor", throughput(phases.ours), throughput(phases.floor))
    ratioInfo("client CPU per call floor / bare", cpuPerCall(phases.floor), cpuPerCall(phases.bare))
    ratioInfo("client CPU per call ours / floor", cpuPerCall(phases.ours), cpuPerCall(phases.floor))
  }
  if (cache) {
    reportInfo({ label: "cacheMiddleware on: bare (calls/s)", values: throughput(phases.bareCached), digits: 0 })
    reportInfo({ label: "cacheMiddleware on: ours (calls/s)", values: throughput(phases.oursCached), digits: 0 })
    ratioInfo(
      "cacheMiddleware on both: throughput ours / bare",
      throughput(phases.oursCached),
      throughput(phases.bareCached)
    )
    ratioInfo("ours, cacheMiddleware on / bare, SDK defaults", throughput(phases.oursCached), throughput(phases.bare))
    ratioInfo("cacheMiddleware on both: p99 ours / bare", p99(phases.oursCached), p99(phases.bareCached))
  }
  if (only !== "") console.log(`  ${only} alone: ${sent} calls made in all`)
  if (only === "") {
    reportRatio({
      label: "throughput ours / bare",
      ratios: ratios(throughput(phases.ours), throughput(phases.bare)),
      target: 0.97,
      direction: ">=",
      ...(floor ? { floor: ratios(throughput(phases.floor), throughput(phases.bare)) } : {})
    })
    reportRatio({
      label: "p99 latency ours / bare",
      ratios: ratios(p99(phases.ours), p99(phases.bare)),
      target: 1.10,
      ...(floor ? { floor: ratios(p99(phases.floor), p99(phases.bare)) } : {})
    })
    printVerdicts("dynamodb concurrency bench")
  }
} finally {
  await stack.close()
}
