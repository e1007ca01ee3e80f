/**
 * Against the local stack running in a process of its own (`bench/lib/stackProcess.mjs`: fauxqs behind the
 * SigV4-checking gateway), ours through the production layers (`SQS.layerConfig()`, `Credentials.layer()`: the
 * container endpoint):
 * - `EventQueue.enqueue` (one SendMessage per event) against a bare SDK `SendMessage` of the same body, one call at
 *   a time (target <= 1.03x), beside the floor of any Effect wrapper that aborts its request on interruption;
 * - messages/s of `enqueueBatch`, batches one at a time, against one-at-a-time `enqueue` (target >= 5x), and with
 *   the default 4 batches in flight (not judged).
 * Rounds alternate the variants (the order reversed every other round); each round gives each ratio, and the median
 * of the rounds' ratios is judged, with their spread.
 *
 *   node ../../bench/lib/run.mjs bench/sqs.bench.ts [--rounds 10] [--messages 200]
 */
import { Credentials, RetryPolicy } from "@aws-resilience/core"
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import { Effect, Layer, Logger, LogLevel, Runtime, Schema } from "effect"
import { interruptibleSend } from "../../../bench/lib/floors.mjs"
import { startStack } from "../../../bench/lib/stackProcess.mjs"
import { alternate, option, printVerdicts, ratios, reportInfo, reportRatio } from "../../../bench/lib/stats.mjs"
import * as EventQueue from "../src/EventQueue.js"
import * as SQS from "../src/SQS.js"

const messages = option("messages", 200)
const rounds = option("rounds", 10)

const Event = Schema.Struct({ id: Schema.String, kind: Schema.String, payload: Schema.String })
type Event = typeof Event.Type

let next = 0
const event = (): Event => ({ id: `e-${next++}`, kind: "OrderPlaced", payload: "x".repeat(200) })
const events = (): Array<Event> => Array.from({ length: messages }, event)

const stack = await startStack()
stack.useEnv()

const program = Effect.gen(function*() {
  const { QueueUrl } = yield* SQS.createQueue({ QueueName: "bench" })
  const queueUrl = QueueUrl!
  const queue = yield* EventQueue.make({ queueUrl, schema: Event })
  const credentials = yield* Effect.promise(stack.credentials)
  const bare = new SQSClient({ region: stack.region, endpoint: stack.endpoints.sqs, credentials, maxAttempts: 1 })
  yield* Effect.addFinalizer(() => Effect.sync(() => bare.destroy()))

  // Each variant returns ms per message.
  const singles = Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < messages; i++) yield* queue.enqueue(event())
    return (performance.now() - start) / messages
  })
  const bareSingles = async () => {
    const start = performance.now()
    for (let i = 0; i < messages; i++) {
      await bare.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(event()) }))
    }
    return (performance.now() - start) / messages
  }
  // The floor of any Effect wrapper that can abort its request when interrupted, around the bare client.
  const floorSingles = Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < messages; i++) {
      yield* interruptibleSend(() =>
        bare.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(event()) }))
      )
    }
    return (performance.now() - start) / messages
  })
  const batched = (concurrency: number) =>
    Effect.gen(function*() {
      const start = performance.now()
      const outcomes = yield* queue.enqueueBatch(events(), { concurrency })
      const failed = outcomes.filter((o) => o._tag !== "Sent").length
      if (failed > 0) return yield* Effect.dieMessage(`${failed} entries were not sent`)
      return (performance.now() - start) / messages
    })

  const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())
  // Warm-up of every path (client build, credentials, sockets, JIT).
  for (let i = 0; i < 2; i++) {
    yield* singles
    yield* Effect.promise(bareSingles)
    yield* floorSingles
    yield* batched(1)
    yield* batched(4)
  }
  return yield* Effect.promise(() =>
    alternate(rounds, {
      singles: () => runPromise(singles),
      bareSingles,
      floorSingles: () => runPromise(floorSingles),
      sequential: () => runPromise(batched(1)),
      concurrent: () => runPromise(batched(4))
    })
  )
})

try {
  const r = await Effect.runPromise(
    program.pipe(
      Effect.scoped,
      Effect.provide(SQS.layerConfig().pipe(Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layer())))),
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )
  const perSecond = (xs: ReadonlyArray<number>) => xs.map((ms) => 1000 / ms)
  console.log(
    `SQS through the gateway of a stack in its own process, ${rounds} alternating rounds of ${messages} messages ` +
      `(200-byte payloads; median, spread over rounds):`
  )
  reportInfo({ label: "bare SDK SendMessage (ms/call)", values: r.bareSingles, digits: 3 })
  reportInfo({ label: "EventQueue.enqueue (ms/call)", values: r.singles, digits: 3 })
  reportInfo({
    label: "interruptible floor / bare SendMessage",
    values: ratios(r.floorSingles, r.bareSingles),
    digits: 3
  })
  reportInfo({
    label: "EventQueue.enqueue / interruptible floor",
    values: ratios(r.singles, r.floorSingles),
    digits: 3
  })
  reportInfo({ label: "enqueue, one SendMessage each (msg/s)", values: perSecond(r.singles), digits: 0 })
  reportInfo({ label: "enqueueBatch, one batch at a time (msg/s)", values: perSecond(r.sequential), digits: 0 })
  reportInfo({ label: "enqueueBatch, 4 batches in flight (msg/s)", values: perSecond(r.concurrent), digits: 0 })
  reportRatio({
    label: "EventQueue.enqueue / bare SendMessage",
    ratios: ratios(r.singles, r.bareSingles),
    target: 1.03,
    floor: ratios(r.floorSingles, r.bareSingles)
  })
  reportRatio({
    label: "msg/s enqueueBatch (sequential) / enqueue",
    ratios: ratios(r.singles, r.sequential),
    target: 5,
    direction: ">=",
    digits: 2
  })
  reportInfo({
    label: "msg/s enqueueBatch (default) / enqueue (x)",
    values: ratios(r.singles, r.concurrent),
    digits: 2
  })
  printVerdicts("sqs round-trip bench")
} finally {
  await stack.close()
}
