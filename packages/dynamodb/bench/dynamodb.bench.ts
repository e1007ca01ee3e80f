/**
 * Against the local stack (gateway in front of dynalite), in one run:
 * - batchWrite items/s as a ratio to one-at-a-time PutItem;
 * - EventStore.put time per event as a ratio to a bare SDK PutItem, and to the same conditional write sent by a
 *   bare SDK client (what idempotency costs at the backend is then left out).
 * Rounds alternate between each pair so drift on a shared machine falls on both alike.
 */
import { Credentials, RetryPolicy } from "@aws-resilience/core"
import { LocalAws } from "@aws-resilience/testkit"
import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb"
import { Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { DynamoDB, EventStore } from "../src/index.js"

const rounds = Number(process.env.BENCH_ROUNDS ?? 12)
const perRound = Number(process.env.BENCH_ITEMS ?? 100)

const Event = Schema.Struct({ id: Schema.String, kind: Schema.String, amount: Schema.Number })

let counter = 0
const nextId = () => `b-${counter++}`

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    yield* effect
    return performance.now() - start
  })

const program = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const table = "bench"
  yield* DynamoDB.ensureTable({
    TableName: table,
    KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
    AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
    BillingMode: "PAY_PER_REQUEST"
  })
  const store = yield* EventStore.make({ tableName: table, schema: Event })
  const credentials = yield* stack.authority.currentStatic
  const bare = new DynamoDBClient({
    region: stack.region,
    endpoint: stack.endpoints.dynamodb,
    credentials,
    maxAttempts: 1
  })
  const item = () => ({ id: { S: nextId() }, kind: { S: "created" }, amount: { N: "1" } })

  const putOneByOne = Effect.forEach(
    Array.from({ length: perRound }),
    () => DynamoDB.putItem({ TableName: table, Item: item() }),
    { discard: true }
  )
  const batch = Effect.flatMap(
    DynamoDB.batchWrite(table, Array.from({ length: perRound }, item)),
    (r) => r.unprocessed.length === 0 ? Effect.void : Effect.dieMessage(`${r.unprocessed.length} items not written`)
  )
  const barePut = Effect.forEach(
    Array.from({ length: perRound }),
    () => Effect.promise(() => bare.send(new PutItemCommand({ TableName: table, Item: item() }))),
    { discard: true }
  )
  // The same write EventStore.put makes (a conditional update that also counts writes), sent by a bare client:
  // the baseline for what the store itself adds, since idempotency needs the condition at any rate.
  const bareConditional = Effect.forEach(Array.from({ length: perRound }), () =>
    Effect.promise(() =>
      bare.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { id: { S: nextId() } },
          UpdateExpression: "SET body = :body, digest = :digest, storedAt = :at ADD writes :one",
          ConditionExpression: "attribute_not_exists(id)",
          ExpressionAttributeValues: {
            ":body": { S: "{\"id\":\"b-0\",\"kind\":\"created\",\"amount\":1}" },
            ":digest": { S: "x".repeat(44) },
            ":at": { S: new Date().toISOString() },
            ":one": { N: "1" }
          }
        })
      )
    ), { discard: true })
  const storePut = Effect.forEach(
    Array.from({ length: perRound }),
    () => store.put({ id: nextId(), kind: "created", amount: 1 }),
    { discard: true }
  )

  yield* putOneByOne
  yield* batch
  yield* barePut
  yield* storePut
  yield* bareConditional
  const totals = { one: 0, batch: 0, bare: 0, store: 0, conditional: 0 }
  for (let round = 0; round < rounds; round++) {
    totals.one += yield* timed(putOneByOne)
    totals.batch += yield* timed(batch)
    totals.bare += yield* timed(barePut)
    totals.store += yield* timed(storePut)
    totals.conditional += yield* timed(bareConditional)
  }
  bare.destroy()
  const n = rounds * perRound
  const rate = (ms: number) => (n / ms) * 1000
  console.log(`DynamoDB through the local gateway, ${rounds} alternating rounds of ${perRound} items:`)
  console.log(`  PutItem one at a time     ${rate(totals.one).toFixed(0)} items/s`)
  console.log(`  batchWrite (25 per call)  ${rate(totals.batch).toFixed(0)} items/s`)
  console.log(`  ratio batchWrite / PutItem            ${(totals.one / totals.batch).toFixed(2)}x`)
  console.log(`  bare SDK PutItem          ${(totals.bare / n).toFixed(2)} ms/event`)
  console.log(`  DynamoDB.putItem (ours)   ${(totals.one / n).toFixed(2)} ms/event`)
  console.log(`  EventStore.put            ${(totals.store / n).toFixed(2)} ms/event`)
  console.log(`  ratio DynamoDB.putItem / bare PutItem ${(totals.one / totals.bare).toFixed(3)}x`)
  console.log(`  bare conditional write    ${(totals.conditional / n).toFixed(2)} ms/event`)
  console.log(`  ratio EventStore.put / bare PutItem   ${(totals.store / totals.bare).toFixed(3)}x   (target <= 1.15x)`)
  console.log(`  ratio EventStore.put / bare conditional write     ${(totals.store / totals.conditional).toFixed(3)}x`)
})

await Effect.runPromise(
  program.pipe(
    Effect.provide(
      DynamoDB.layerConfig().pipe(
        Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layer())),
        Layer.provideMerge(LocalAws.layerWithEnv())
      )
    ),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
