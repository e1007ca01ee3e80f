/**
 * What the floor of an Effect wrapper costs, alone and beside the SDK (information, nothing judged): the µs a call
 * that `Effect.tryPromise`, or `Effect.async` with a canceler, adds to a plain `await` of the same promise (each
 * wrapper also as one step of an `Effect.gen` loop, as in the other benches), once around a trivial async function
 * and once around a bare `DynamoDBClient.send` with an instant in-process handler. The same Effect code costs
 * several times more beside the SDK than alone (most likely because the fiber resumes after the SDK's work has pushed
 * its code and data out of the CPU's caches). This is the floor every other core bench prints beside its verdict.
 *
 *   node ../../bench/lib/run.mjs bench/floor.bench.ts [--rounds 60] [--calls 300]
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { Effect } from "effect"
import { interruptibleSend } from "../../../bench/lib/floors.mjs"
import { alternate, median, option, reportInfo } from "../../../bench/lib/stats.mjs"
import { credentials, instantHandler, msPerCall } from "./benchLayer.js"

const calls = option("calls", 300)
const rounds = option("rounds", 60)

const client = new DynamoDBClient({ region: "us-east-1", credentials, maxAttempts: 1, requestHandler: instantHandler })
const put = () =>
  client.send(new PutItemCommand({ TableName: "bench", Item: { id: { S: "1" }, payload: { S: "x".repeat(200) } } }))

// A trivial async function a few awaits deep, like the SDK's middleware chain without its work.
const chain = async (depth: number): Promise<number> => depth === 0 ? 0 : await chain(depth - 1)
const trivial = () => chain(15)

// `n` calls in a row; the result is the time per call in ms.
const awaited = (n: number, work: () => Promise<unknown>) => async () => {
  const start = performance.now()
  for (let i = 0; i < n; i++) await work()
  return (performance.now() - start) / n
}
const wrapped = (n: number, work: () => Promise<unknown>) => ({
  tryPromise: () => Effect.runPromise(msPerCall(n, () => Effect.tryPromise(work))),
  interruptible: () => Effect.runPromise(msPerCall(n, () => interruptibleSend(work)))
})

// A trivial call takes about 1/100 of an SDK call: 100 times as many make a round as long.
const trivialCalls = calls * 100
const variants = {
  trivial: awaited(trivialCalls, trivial),
  trivialTryPromise: wrapped(trivialCalls, trivial).tryPromise,
  trivialInterruptible: wrapped(trivialCalls, trivial).interruptible,
  sdk: awaited(calls, put),
  sdkTryPromise: wrapped(calls, put).tryPromise,
  sdkInterruptible: wrapped(calls, put).interruptible
}
for (let i = 0; i < 3; i++) for (const run of Object.values(variants)) await run()
const times = await alternate(rounds, variants)

// What the wrapper adds to a call, in µs, per round.
const added = (wrapper: ReadonlyArray<number>, plain: ReadonlyArray<number>) =>
  wrapper.map((ms, i) => (ms - plain[i]!) * 1000)
console.log(
  `${rounds} alternating rounds of ${trivialCalls} trivial or ${calls} SDK sequential calls (median, spread over rounds):`
)
reportInfo({ label: "trivial async function (µs/call)", values: times.trivial.map((ms) => ms * 1000), digits: 2 })
reportInfo({ label: "… tryPromise adds (µs/call)", values: added(times.trivialTryPromise, times.trivial), digits: 2 })
reportInfo({
  label: "… async with a canceler adds (µs/call)",
  values: added(times.trivialInterruptible, times.trivial),
  digits: 2
})
reportInfo({ label: "bare DynamoDBClient.send (µs/call)", values: times.sdk.map((ms) => ms * 1000) })
reportInfo({ label: "… tryPromise adds (µs/call)", values: added(times.sdkTryPromise, times.sdk) })
reportInfo({ label: "… async with a canceler adds (µs/call)", values: added(times.sdkInterruptible, times.sdk) })
const multiplier = (sdk: ReadonlyArray<number>, trivial: ReadonlyArray<number>) =>
  (median(sdk) / median(trivial)).toFixed(1)
console.log(
  `  the same wrapper beside the SDK costs ${
    multiplier(added(times.sdkTryPromise, times.sdk), added(times.trivialTryPromise, times.trivial))
  }x (tryPromise) and ${
    multiplier(added(times.sdkInterruptible, times.sdk), added(times.trivialInterruptible, times.trivial))
  }x (async with a canceler) what it costs alone`
)
client.destroy()
