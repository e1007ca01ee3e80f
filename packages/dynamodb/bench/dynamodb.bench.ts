/**
 * Round trips to the local stack running in a process of its own (`bench/lib/stackProcess.mjs`: the gateway,
 * checking SigV4, in front of dynalite), one call at a time, ours through the production layers
 * (`DynamoDB.layerConfig()`, `Credentials.layer()`: the container endpoint):
 * - `DynamoDB.putItem` against a bare SDK `PutItem` (target <= 1.03x), beside the floor of any Effect wrapper that
 *   aborts its request on interruption (`Effect.async` with a canceler around the bare send);
 * - `EventStore.put` against the same conditional write sent by a bare client (target <= 1.05x), and against a
 *   bare `PutItem` (what idempotency costs at the backend included; target <= 1.15x);
 * - `batchWrite` items/s against one-at-a-time `DynamoDB.putItem` (not judged).
 * Rounds alternate the variants (the order reversed every other round); each round gives each ratio, and the median
 * of the rounds' ratios is judged, with their spread.
 *
 *   node ../../bench/lib/run.mjs bench/dynamodb.bench.ts [--rounds 15] [--items 100]
 */
import { PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb"
import { Effect, Runtime, Schema } from "effect"
import { createHash } from "node:crypto"
import { interruptibleSend } from "../../../bench/lib/floors.mjs"
import { startStack } from "../../../bench/lib/stackProcess.mjs"
import { alternate, option, printVerdicts, ratios, reportInfo, reportRatio } from "../../../bench/lib/stats.mjs"
import { DynamoDB, EventStore } from "../src/index.js"
import { bareClient, ensureTable, runWithProductionLayers } from "./benchStack.js"

const rounds = option("rounds", 15)
const perRound = option("items", 100)

const Event = Schema.Struct({ id: Schema.String, kind: Schema.String, amount: Schema.Number })

let counter = 0
const nextId = () => `b-${counter++}`

const stack = await startStack()
stack.useEnv()

const program = Effect.gen(function*() {
  const table = "bench"
  yield* ensureTable(table)
  const store = yield* EventStore.make({ tableName: table, schema: Event })
  const bare = yield* bareClient(stack)
  const item = () => ({ id: { S: nextId() }, kind: { S: "created" }, amount: { N: "1" } })
  const times = <A, E, R>(effect: () => Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const start = performance.now()
      for (let i = 0; i < perRound; i++) yield* effect()
      return (performance.now() - start) / perRound
    })
  const bareTimes = async (send: () => Promise<unknown>) => {
    const start = performance.now()
    for (let i = 0; i < perRound; i++) await send()
    return (performance.now() - start) / perRound
  }

  const ourPut = times(() => DynamoDB.putItem({ TableName: table, Item: item() }))
  const barePut = () => bareTimes(() => bare.send(new PutItemCommand({ TableName: table, Item: item() })))
  // The floor of any Effect wrapper that can abort its request when interrupted, around the bare client.
  const floorPut = times(() =>
    interruptibleSend(() => bare.send(new PutItemCommand({ TableName: table, Item: item() })))
  )
  const storePut = times(() => store.put({ id: nextId(), kind: "created", amount: 1 }))
  // The request EventStore.put sends (json layout: a conditional update that also counts writes), built and sent by
  // a bare client: the baseline for what the store adds, since idempotency needs the condition at any rate.
  const bareConditional = () =>
    bareTimes(() => {
      const id = nextId()
      const body = JSON.stringify({ id, kind: "created", amount: 1 })
      return bare.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { id: { S: id } },
          UpdateExpression: "SET #digest = :digest, #storedAt = :at, #f0 = :f0 ADD #writes :one",
          ConditionExpression: "attribute_not_exists(#key)",
          ExpressionAttributeNames: {
            "#key": "id",
            "#digest": "digest",
            "#storedAt": "storedAt",
            "#writes": "writes",
            "#f0": "body"
          },
          ExpressionAttributeValues: {
            ":digest": { S: createHash("sha256").update(body).digest("base64") },
            ":at": { S: new Date().toISOString() },
            ":one": { N: "1" },
            ":f0": { S: body }
          }
        })
      )
    })
  const batch = Effect.gen(function*() {
    const start = performance.now()
    const result = yield* DynamoDB.batchWrite(table, Array.from({ length: perRound }, item))
    if (result.unprocessed.length > 0) return yield* Effect.dieMessage(`${result.unprocessed.length} not written`)
    return (performance.now() - start) / perRound
  })

  const runPromise = Runtime.runPromise(yield* Effect.runtime<DynamoDB.DynamoDB>())
  // Warm-up of every path (client build, credentials, sockets, JIT).
  for (let i = 0; i < 2; i++) {
    yield* ourPut
    yield* Effect.promise(barePut)
    yield* floorPut
    yield* storePut
    yield* Effect.promise(bareConditional)
    yield* batch
  }
  return yield* Effect.promise(() =>
    alternate(rounds, {
      ourPut: () => runPromise(ourPut),
      barePut,
      floorPut: () => runPromise(floorPut),
      storePut: () => runPromise(storePut),
      bareConditional,
      batch: () => runPromise(batch)
    })
  )
})

try {
  const r = await runWithProductionLayers(program)
  console.log(
    `DynamoDB through the gateway of a stack in its own process, ${rounds} alternating rounds of ${perRound} ` +
      `sequential calls (median, spread over rounds):`
  )
  reportInfo({ label: "bare SDK PutItem (ms/call)", values: r.barePut, digits: 3 })
  reportInfo({ label: "DynamoDB.putItem (ms/call)", values: r.ourPut, digits: 3 })
  reportInfo({
    label: "interruptible floor / bare PutItem",
    values: ratios(r.floorPut, r.barePut),
    digits: 3
  })
  reportInfo({ label: "DynamoDB.putItem / interruptible floor", values: ratios(r.ourPut, r.floorPut), digits: 3 })
  reportInfo({ label: "bare conditional write (ms/call)", values: r.bareConditional, digits: 3 })
  reportInfo({ label: "EventStore.put (ms/call)", values: r.storePut, digits: 3 })
  reportInfo({ label: "batchWrite (ms/item)", values: r.batch, digits: 3 })
  reportRatio({
    label: "DynamoDB.putItem / bare PutItem",
    ratios: ratios(r.ourPut, r.barePut),
    target: 1.03,
    floor: ratios(r.floorPut, r.barePut)
  })
  reportRatio({
    label: "EventStore.put / bare conditional write",
    ratios: ratios(r.storePut, r.bareConditional),
    target: 1.05
  })
  reportRatio({ label: "EventStore.put / bare PutItem", ratios: ratios(r.storePut, r.barePut), target: 1.15 })
  reportInfo({ label: "items/s batchWrite / PutItem one at a time (x)", values: ratios(r.ourPut, r.batch), digits: 2 })
  printVerdicts("dynamodb round-trip bench")
} finally {
  await stack.close()
}
