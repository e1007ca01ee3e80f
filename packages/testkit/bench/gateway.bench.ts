/**
 * Requests per second of DynamoDB GetItem through the gateway versus straight to dynalite, with the
 * same SDK client settings and concurrency, alternating rounds to spread noise over both.
 */
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb"
import * as Effect from "effect/Effect"
import * as LocalAws from "../src/LocalAws.js"

const WORKERS = 8
const WARMUP_MS = 1_000
const ROUNDS = 3
const ROUND_MS = 1_000
const TABLE = "bench"

const client = (
  endpoint: string,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string }
) => new DynamoDBClient({ region: "us-east-1", endpoint, credentials, maxAttempts: 1 })

/** Runs WORKERS concurrent GetItem loops for `millis` and returns the number of completed requests. */
const drive = async (target: DynamoDBClient, millis: number): Promise<number> => {
  const deadline = Date.now() + millis
  let done = 0
  const worker = async () => {
    while (Date.now() < deadline) {
      await target.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: "k" } } }))
      done++
    }
  }
  await Promise.all(Array.from({ length: WORKERS }, worker))
  return done
}

const program = Effect.gen(function*() {
  const stack = yield* LocalAws.make()
  const credentials = yield* stack.authority.currentStatic
  const gateway = client(stack.endpoints.dynamodb, credentials)
  const direct = client(stack.directEndpoints.dynamodb, credentials)
  const result = yield* Effect.promise(async () => {
    await gateway.send(
      new CreateTableCommand({
        TableName: TABLE,
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST"
      })
    )
    await gateway.send(
      new PutItemCommand({ TableName: TABLE, Item: { pk: { S: "k" }, payload: { S: "x".repeat(256) } } })
    )
    await drive(gateway, WARMUP_MS)
    await drive(direct, WARMUP_MS)
    const totals = { gateway: 0, direct: 0 }
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which side goes first, so drift in machine load hits both equally.
      const order = round % 2 === 0 ? (["gateway", "direct"] as const) : (["direct", "gateway"] as const)
      for (const side of order) totals[side] += await drive(side === "gateway" ? gateway : direct, ROUND_MS)
    }
    gateway.destroy()
    direct.destroy()
    return totals
  })
  const seconds = (ROUNDS * ROUND_MS) / 1000
  const gatewayRps = result.gateway / seconds
  const directRps = result.direct / seconds
  const stats = yield* stack.gateway.stats
  yield* Effect.log(`GetItem, ${WORKERS} workers, ${ROUNDS} alternating rounds of ${ROUND_MS} ms per side`)
  console.log(`direct to dynalite: ${directRps.toFixed(0)} req/s`)
  console.log(`through gateway:    ${gatewayRps.toFixed(0)} req/s`)
  console.log(`ratio gateway/direct: ${(gatewayRps / directRps).toFixed(2)} (target >= 0.5)`)
  console.log(`gateway outcomes: ${JSON.stringify(stats.byOutcome)}`)
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
