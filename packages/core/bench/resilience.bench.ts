/**
 * The cost of one PutItem through ManagedClient + the retry policy, as a ratio to a bare DynamoDBClient.send.
 * Both go through the same in-process request handler that answers at once, so only our overhead is measured
 * (but not what the abort signal costs the real HTTP handler: see `loopback.bench.ts`). Short rounds alternate
 * between the two (the order reversed every other round); each round gives a ratio, and the median of the rounds'
 * ratios is judged, with their spread, so that drift on a shared, noisy machine falls on both alike.
 *
 *   node ../../bench/lib/run.mjs bench/resilience.bench.ts [--rounds 60] [--calls 200]
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { Effect, Runtime } from "effect"
import { interruptibleSend } from "../../../bench/lib/floors.mjs"
import { alternate, option, printVerdicts, ratios, reportInfo, reportRatio } from "../../../bench/lib/stats.mjs"
import { ManagedClient, Resilience } from "../src/index.js"
import { credentials, instantHandler, msPerCall, provideBench, reportCached } from "./benchLayer.js"

const calls = option("calls", 200)
const rounds = option("rounds", 60)

const command = () =>
  new PutItemCommand({ TableName: "bench", Item: { id: { S: "1" }, payload: { S: "x".repeat(200) } } })

const bare = new DynamoDBClient({ region: "us-east-1", credentials, maxAttempts: 1, requestHandler: instantHandler })

// The same with the SDK's handler cache on (`cacheMiddleware: true`), which resolves the middleware stack once per
// command class instead of on every call: information beside the judged ratio, for callers who turn it on.
const bareCached = new DynamoDBClient({
  region: "us-east-1",
  credentials,
  maxAttempts: 1,
  requestHandler: instantHandler,
  cacheMiddleware: true
})

const timeBareOn = (client: DynamoDBClient) => async () => {
  const start = performance.now()
  for (let i = 0; i < calls; i++) await client.send(command())
  return (performance.now() - start) / calls
}
const timeBare = timeBareOn(bare)

const program = Effect.gen(function*() {
  const managed = yield* ManagedClient.make({
    service: "dynamodb",
    region: "us-east-1",
    // The handler first: `config` then gives every client the pool's view of it (how callers pass their own).
    build: (config) => new DynamoDBClient({ requestHandler: instantHandler, ...config })
  })
  const managedCached = yield* ManagedClient.make({
    service: "dynamodb",
    region: "us-east-1",
    build: (config) => new DynamoDBClient({ requestHandler: instantHandler, cacheMiddleware: true, ...config })
  })
  const timeOurs = msPerCall(calls, () => Resilience.send(managed, command()))
  const timeOursCached = msPerCall(calls, () => Resilience.send(managedCached, command()))
  // The floor of any Effect wrapper: the bare send in the same kind of Effect loop, as a plain `tryPromise`.
  const timeFloor = msPerCall(calls, () => Effect.tryPromise(() => bare.send(command())))
  // The floor of a wrapper that can abort its request when interrupted: `Effect.async` with a canceler (Effect then
  // wraps the wait in an uninterruptible region with a handler for the interruption), here one that does nothing.
  const timeInterruptible = msPerCall(calls, () => interruptibleSend(() => bare.send(command())))
  const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())
  // Warm-up of every path, then alternating measured rounds.
  yield* Effect.promise(timeBare)
  yield* timeFloor
  yield* timeInterruptible
  yield* timeOurs
  yield* Effect.promise(timeBareOn(bareCached))
  yield* timeOursCached
  return yield* Effect.promise(() =>
    alternate(rounds, {
      bare: timeBare,
      floor: () => runPromise(timeFloor),
      interruptible: () => runPromise(timeInterruptible),
      ours: () => runPromise(timeOurs),
      bareCached: timeBareOn(bareCached),
      oursCached: () => runPromise(timeOursCached)
    })
  )
}).pipe(provideBench)

const {
  bare: bareTimes,
  bareCached: bareCachedTimes,
  floor: floorTimes,
  interruptible: interruptibleTimes,
  ours: ourTimes,
  oursCached: ourCachedTimes
} = await Effect.runPromise(program)
console.log(`PutItem, ${rounds} alternating rounds of ${calls} calls, in-process handler (median, spread over rounds):`)
reportInfo({ label: "bare DynamoDBClient.send (µs/call)", values: bareTimes.map((ms) => ms * 1000) })
reportInfo({ label: "ManagedClient + RetryPolicy (µs/call)", values: ourTimes.map((ms) => ms * 1000) })
reportInfo({ label: "Effect.tryPromise(bare send) (µs/call)", values: floorTimes.map((ms) => ms * 1000) })
reportInfo({ label: "the floor: tryPromise / bare send", values: ratios(floorTimes, bareTimes), digits: 3 })
reportInfo({
  label: "… with a canceler (interruptible) / bare",
  values: ratios(interruptibleTimes, bareTimes),
  digits: 3
})
reportInfo({ label: "Resilience.send / tryPromise", values: ratios(ourTimes, floorTimes), digits: 3 })
reportInfo({ label: "Resilience.send / interruptible", values: ratios(ourTimes, interruptibleTimes), digits: 3 })
reportCached({ bare: bareTimes, bareCached: bareCachedTimes, oursCached: ourCachedTimes })
reportRatio({
  label: "Resilience.send / bare send",
  ratios: ratios(ourTimes, bareTimes),
  target: 1.10,
  floor: ratios(interruptibleTimes, bareTimes)
})
printVerdicts("core in-process bench")
bare.destroy()
bareCached.destroy()
