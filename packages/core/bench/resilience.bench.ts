/**
 * The cost of one PutItem through ManagedClient + the retry policy, as a ratio to a bare DynamoDBClient.send.
 * Both go through the same in-process request handler that answers at once, so only our overhead is measured.
 * Short rounds alternate between the two and the totals are compared, so that drift on a shared, noisy machine
 * falls on both alike.
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { HttpResponse } from "@smithy/protocol-http"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { Credentials, CredentialsProvider, ManagedClient, Resilience, RetryPolicy } from "../src/index.js"

const calls = Number(process.env.BENCH_CALLS ?? 200)
const rounds = Number(process.env.BENCH_ROUNDS ?? 60)

const requestHandler = {
  handle: async () => ({
    response: new HttpResponse({
      statusCode: 200,
      headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "bench" },
      body: Buffer.from("{}")
    })
  }),
  updateHttpClientConfig: () => {},
  httpHandlerConfigs: () => ({})
}

const credentials = { accessKeyId: "AKIABENCHMARK0000", secretAccessKey: "bench-secret" }
const command = () =>
  new PutItemCommand({ TableName: "bench", Item: { id: { S: "1" }, payload: { S: "x".repeat(200) } } })

const bare = new DynamoDBClient({ region: "us-east-1", credentials, maxAttempts: 1, requestHandler })

const timeBare = async () => {
  const start = performance.now()
  for (let i = 0; i < calls; i++) await bare.send(command())
  return (performance.now() - start) / calls
}

const program = Effect.gen(function*() {
  const managed = yield* ManagedClient.make({
    service: "dynamodb",
    region: "us-east-1",
    build: (config) => new DynamoDBClient({ ...config, requestHandler })
  })
  const timeOurs = Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < calls; i++) yield* Resilience.send(managed, command())
    return (performance.now() - start) / calls
  })
  const bareTimes: Array<number> = []
  const ourTimes: Array<number> = []
  // Warm-up of both paths, then alternating measured rounds.
  yield* Effect.promise(timeBare)
  yield* timeOurs
  for (let round = 0; round < rounds; round++) {
    bareTimes.push(yield* Effect.promise(timeBare))
    ourTimes.push(yield* timeOurs)
  }
  return { bareTimes, ourTimes }
}).pipe(
  Effect.scoped,
  Effect.provide(Layer.mergeAll(
    Credentials.layer({
      provider: CredentialsProvider.fromStatic({
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: Redacted.make(credentials.secretAccessKey)
      })
    }),
    RetryPolicy.layer()
  )),
  Logger.withMinimumLogLevel(LogLevel.Warning)
)

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

const { bareTimes, ourTimes } = await Effect.runPromise(program)
const b = mean(bareTimes)
const o = mean(ourTimes)
console.log(`PutItem, ${rounds} alternating rounds of ${calls} calls, in-process handler:`)
console.log(`  bare DynamoDBClient.send          ${(b * 1000).toFixed(1)} µs/call`)
console.log(`  ManagedClient + RetryPolicy       ${(o * 1000).toFixed(1)} µs/call`)
console.log(`  ratio (ours / bare)               ${(o / b).toFixed(3)}x   (target <= 1.10x)`)
bare.destroy()
