/**
 * Messages per second of `enqueueBatch` as a ratio to one-at-a-time `enqueue` (one SendMessage per event), both
 * through the same SQS ManagedClient against the local stack (fauxqs behind the SigV4-checking gateway).
 * Rounds alternate between the two so that drift on a shared machine falls on both alike.
 */
import { Credentials } from "@aws-resilience/core"
import { LocalAws } from "@aws-resilience/testkit"
import { Effect, Layer, Logger, LogLevel, Schema } from "effect"
import * as EventQueue from "../src/EventQueue.js"
import * as SQS from "../src/SQS.js"

const messages = Number(process.env.BENCH_MESSAGES ?? 200)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)

const Event = Schema.Struct({ id: Schema.String, kind: Schema.String, payload: Schema.String })
type Event = typeof Event.Type

let next = 0
const events = (): Array<Event> =>
  Array.from({ length: messages }, () => ({ id: `e-${next++}`, kind: "OrderPlaced", payload: "x".repeat(200) }))

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const result = yield* effect
    return { result, millis: performance.now() - start }
  })

const program = Effect.gen(function*() {
  const { QueueUrl } = yield* SQS.createQueue({ QueueName: "bench" })
  const queue = yield* EventQueue.make({ queueUrl: QueueUrl!, schema: Event })
  const singles = Effect.forEach(events(), (event) => queue.enqueue(event), { discard: true })
  const batched = (concurrency: number) =>
    Effect.flatMap(queue.enqueueBatch(events(), { concurrency }), (outcomes) => {
      const failed = outcomes.filter((o) => o._tag !== "Sent").length
      return failed === 0 ? Effect.void : Effect.dieMessage(`${failed} entries were not sent`)
    })

  // Warm-up of every path (client build, credentials, sockets, JIT).
  yield* singles
  yield* batched(1)
  yield* batched(4)

  const totals = { singles: 0, sequential: 0, concurrent: 0 }
  for (let round = 0; round < rounds; round++) {
    totals.singles += (yield* timed(singles)).millis
    totals.sequential += (yield* timed(batched(1))).millis
    totals.concurrent += (yield* timed(batched(4))).millis
  }
  const rate = (millis: number) => (messages * rounds) / (millis / 1000)
  const stats = yield* Effect.flatMap(LocalAws.LocalAws, (stack) => stack.gateway.stats)
  console.log(`${messages} messages x ${rounds} alternating rounds, 200-byte payloads, through the gateway`)
  console.log(`enqueue, one SendMessage each:        ${rate(totals.singles).toFixed(0)} msg/s`)
  console.log(`enqueueBatch, batches one at a time:  ${rate(totals.sequential).toFixed(0)} msg/s`)
  console.log(`enqueueBatch, 4 batches in flight:    ${rate(totals.concurrent).toFixed(0)} msg/s (the default)`)
  console.log(
    `ratio batch/single (sequential):      ${(totals.singles / totals.sequential).toFixed(2)}x (target >= 5x)`
  )
  console.log(`ratio batch/single (default):         ${(totals.singles / totals.concurrent).toFixed(2)}x`)
  console.log(`gateway outcomes: ${JSON.stringify(stats.byOutcome)}`)
})

const StackWithSqs = Layer.provideMerge(
  SQS.layerConfig().pipe(Layer.provide(Credentials.layer())),
  LocalAws.layerWithEnv()
)

Effect.runPromise(
  program.pipe(Effect.provide(StackWithSqs), Logger.withMinimumLogLevel(LogLevel.Warning))
).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
