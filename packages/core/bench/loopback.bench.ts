/**
 * The cost of one PutItem through ManagedClient + the retry policy over real HTTP, as a ratio to a bare
 * DynamoDBClient.send. The server (`loopbackServer.mjs`) is a forked process that answers `{}` at once, so the
 * client's whole path is measured, the SDK's Node HTTP handler included: what an abort signal costs it (listeners
 * on the signal, on the socket) shows here, where the in-process handler of `resilience.bench.ts` hides it. Calls
 * are sequential; rounds alternate (the order reversed every other round) and the median of the rounds' ratios is
 * judged, with their spread.
 *
 *   node ../../bench/lib/run.mjs bench/loopback.bench.ts [--rounds 30] [--calls 300]
 *   node ../../bench/lib/run.mjs --cpu-prof bench/loopback.bench.ts --only ours --calls 20000   (a profile of ours alone;
 *   `--only bare` for the baseline's)
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { Effect, Runtime } from "effect"
import { fork } from "node:child_process"
import { join } from "node:path"
import { interruptibleSend } from "../../../bench/lib/floors.mjs"
import {
  alternate,
  option,
  printVerdicts,
  ratios,
  reportInfo,
  reportRatio,
  stringOption
} from "../../../bench/lib/stats.mjs"
import { ManagedClient, Resilience } from "../src/index.js"
import { credentials, msPerCall, provideBench, reportCached } from "./benchLayer.js"

const calls = option("calls", 300)
const rounds = option("rounds", 30)
const only = stringOption("only", "")

// No inherited execArgv: the server is plain JavaScript, and a `--cpu-prof` of this process must not profile it.
const server = fork(join(import.meta.dirname, "loopbackServer.mjs"), [], { execArgv: [] })
const port = await new Promise<number>((resolve, reject) => {
  server.once("message", (message) => resolve((message as { readonly port: number }).port))
  server.once("error", reject)
  server.once("exit", (code) => reject(new Error(`the loopback server exited (${code})`)))
})
const endpoint = `http://127.0.0.1:${port}`
const region = "us-east-1"

const command = () =>
  new PutItemCommand({ TableName: "bench", Item: { id: { S: "1" }, payload: { S: "x".repeat(200) } } })

const bare = new DynamoDBClient({ region, endpoint, credentials, maxAttempts: 1 })
// With the SDK's handler cache on (`cacheMiddleware: true`): information, for callers who turn it on.
const bareCached = new DynamoDBClient({ region, endpoint, credentials, maxAttempts: 1, cacheMiddleware: true })

const timeBareOn = (client: DynamoDBClient) => async () => {
  const start = performance.now()
  for (let i = 0; i < calls; i++) await client.send(command())
  return (performance.now() - start) / calls
}
const timeBare = timeBareOn(bare)
const timeBareCached = timeBareOn(bareCached)

// Informational variants: where the floor of any Effect wrapper lies, and what handing the SDK any abort signal costs.
const timeEffect = (send: () => Promise<unknown>) => msPerCall(calls, () => Effect.tryPromise(send))
// An abort signal that is never aborted, with listeners kept in an array (as `Resilience` does).
const idleSignal = () => {
  let listeners: Array<unknown> = []
  return {
    aborted: false,
    reason: undefined,
    onabort: null,
    addEventListener: (_type: string, listener: unknown) => listeners.push(listener),
    removeEventListener: (_type: string, listener: unknown) => {
      listeners = listeners.filter((l) => l !== listener)
    }
  } as unknown as AbortSignal
}
const timeFloor = timeEffect(() => bare.send(command()))
const timeSignal = timeEffect(() => bare.send(command(), { abortSignal: idleSignal() }))
const timeInterruptible = msPerCall(calls, () => interruptibleSend(() => bare.send(command())))

const program = Effect.gen(function*() {
  const managed = yield* ManagedClient.make({
    service: "dynamodb",
    region,
    endpoint,
    build: (config) => new DynamoDBClient(config)
  })
  const managedCached = yield* ManagedClient.make({
    service: "dynamodb",
    region,
    endpoint,
    build: (config) => new DynamoDBClient({ cacheMiddleware: true, ...config })
  })
  const timeOurs = msPerCall(calls, () => Resilience.send(managed, command()))
  const timeOursCached = msPerCall(calls, () => Resilience.send(managedCached, command()))
  const none = { bare: [], floor: [], signal: [], interruptible: [], ours: [], bareCached: [], oursCached: [] }
  if (only === "ours") {
    yield* timeOurs
    return { ...none, ours: [yield* timeOurs] }
  }
  if (only === "bare") {
    yield* Effect.promise(timeBare)
    return { ...none, bare: [yield* Effect.promise(timeBare)] }
  }
  const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())
  // Warm-up of both paths (sockets, JIT), then alternating measured rounds.
  for (let i = 0; i < 3; i++) {
    yield* Effect.promise(timeBare)
    yield* timeFloor
    yield* timeSignal
    yield* timeInterruptible
    yield* timeOurs
    yield* Effect.promise(timeBareCached)
    yield* timeOursCached
  }
  return yield* Effect.promise(() =>
    alternate(rounds, {
      bare: timeBare,
      floor: () => runPromise(timeFloor),
      signal: () => runPromise(timeSignal),
      interruptible: () => runPromise(timeInterruptible),
      ours: () => runPromise(timeOurs),
      bareCached: timeBareCached,
      oursCached: () => runPromise(timeOursCached)
    })
  )
}).pipe(provideBench)

try {
  const {
    bare: bareTimes,
    bareCached: bareCachedTimes,
    oursCached: ourCachedTimes,
    floor: floorTimes,
    interruptible: interruptibleTimes,
    ours: ourTimes,
    signal: signalTimes
  } = await Effect.runPromise(program)
  if (only !== "") {
    const alone = only === "ours" ? ourTimes[0] : bareTimes[0]
    console.log(`${only} alone: 2 x ${calls} calls, ${((alone ?? Number.NaN) * 1000).toFixed(1)} µs/call`)
  } else {
    console.log(
      `PutItem over loopback HTTP to a forked server, ${rounds} alternating rounds of ${calls} sequential calls ` +
        `(median, spread over rounds):`
    )
    reportInfo({ label: "bare DynamoDBClient.send (µs/call)", values: bareTimes.map((ms) => ms * 1000) })
    reportInfo({ label: "ManagedClient + RetryPolicy (µs/call)", values: ourTimes.map((ms) => ms * 1000) })
    reportInfo({
      label: "the floor: Effect.tryPromise(bare send) / bare",
      values: ratios(floorTimes, bareTimes),
      digits: 3
    })
    reportInfo({
      label: "… + an idle abort signal / bare",
      values: ratios(signalTimes, bareTimes),
      digits: 3
    })
    reportInfo({
      label: "… with a canceler (interruptible) / bare",
      values: ratios(interruptibleTimes, bareTimes),
      digits: 3
    })
    reportInfo({ label: "Resilience.send / the floor", values: ratios(ourTimes, floorTimes), digits: 3 })
    reportInfo({
      label: "Resilience.send / interruptible",
      values: ratios(ourTimes, interruptibleTimes),
      digits: 3
    })
    reportCached({ bare: bareTimes, bareCached: bareCachedTimes, oursCached: ourCachedTimes })
    reportRatio({
      label: "Resilience.send / bare send",
      ratios: ratios(ourTimes, bareTimes),
      target: 1.05,
      floor: ratios(interruptibleTimes, bareTimes)
    })
    printVerdicts("core loopback bench")
  }
} finally {
  bare.destroy()
  bareCached.destroy()
  server.disconnect()
}
