import { AwsError, Credentials, CredentialsProvider } from "@aws-resilience/core"
import { GroundTruth, LocalAws } from "@aws-resilience/testkit"
import { PutItemCommand } from "@aws-sdk/client-dynamodb"
import { assert, describe, it, layer } from "@effect/vitest"
import { HttpResponse } from "@smithy/protocol-http"
import { Effect, Layer, Redacted } from "effect"
import { Readable } from "node:stream"
import { DynamoDB, DynamoDBError } from "../src/index.js"
import { Live, newTable } from "./fixtures.js"

const operations = Effect.gen(function*() {
  const table = yield* newTable("ops")
  yield* DynamoDB.putItem({ TableName: table, Item: { id: { S: "a" }, n: { N: "1" } } })
  yield* DynamoDB.updateItem({
    TableName: table,
    Key: { id: { S: "a" } },
    UpdateExpression: "SET n = n + :one",
    ExpressionAttributeValues: { ":one": { N: "1" } }
  })
  const got = yield* DynamoDB.getItem({ TableName: table, Key: { id: { S: "a" } } })
  assert.strictEqual(got.Item?.n?.N, "2")
  const queried = yield* DynamoDB.query({
    TableName: table,
    KeyConditionExpression: "id = :id",
    ExpressionAttributeValues: { ":id": { S: "a" } }
  })
  assert.strictEqual(queried.Count, 1)
  yield* DynamoDB.deleteItem({ TableName: table, Key: { id: { S: "a" } } })
  assert.strictEqual((yield* DynamoDB.scan({ TableName: table })).Count, 0)
})

layer(Live, { excludeTestServices: true })("DynamoDB against the local stack", (it) => {
  it.effect("puts, gets, updates, queries, scans and deletes", () => operations)

  // Calls then hand their signals to the pool in their arguments, through the SDK's cached handlers.
  it.effect("the same with the SDK's handler cache on (cacheMiddleware)", () =>
    Effect.gen(function*() {
      yield* operations
      // The SDK kept the handler it resolved for PutItem: the calls went through its cache.
      const managed = yield* DynamoDB.DynamoDB
      const cached = yield* managed.use((client) =>
        Effect.sync(() => (client as unknown as { handlers?: WeakMap<object, unknown> }).handlers?.has(PutItemCommand))
      )
      assert.isTrue(cached)
    }).pipe(Effect.provide(DynamoDB.layerConfig({ clientConfig: { cacheMiddleware: true } }))))

  it.effect("a failed condition has its own tag", () =>
    Effect.gen(function*() {
      const table = yield* newTable("cond")
      yield* DynamoDB.putItem({ TableName: table, Item: { id: { S: "a" } } })
      const error = yield* Effect.flip(
        DynamoDB.putItem({
          TableName: table,
          Item: { id: { S: "a" } },
          ConditionExpression: "attribute_not_exists(id)"
        })
      )
      assert.strictEqual(error._tag, "ConditionalCheckFailedError")
    }))

  it.effect("DynamoDBError's errors are recognised by their TypeId guards, not by their tag", () =>
    Effect.gen(function*() {
      const table = yield* newTable("guards")
      yield* DynamoDB.putItem({ TableName: table, Item: { id: { S: "a" } } })
      const error = yield* Effect.flip(
        DynamoDB.putItem({
          TableName: table,
          Item: { id: { S: "a" } },
          ConditionExpression: "attribute_not_exists(id)"
        })
      )
      assert.isTrue(DynamoDBError.isDynamoDBError(error))
      assert.isTrue(DynamoDBError.isConditionalCheckFailedError(error))
      assert.isFalse(DynamoDBError.isTransactionCanceledError(error))
      const cancelled = new DynamoDBError.TransactionCanceledError({ reasons: [], cause: undefined })
      assert.isTrue(DynamoDBError.isTransactionCanceledError(cancelled))
      assert.isFalse(DynamoDBError.isConditionalCheckFailedError(cancelled))
      assert.isFalse(DynamoDBError.isDynamoDBError({ _tag: "ConditionalCheckFailedError" }))
      assert.isFalse(
        DynamoDBError.isDynamoDBError(
          new AwsError.ServiceError({ service: "dynamodb", operation: "PutItem", code: "X", cause: undefined })
        )
      )
    }))

  it.effect("batchWrite writes in chunks of 25", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("batch")
      yield* stack.gateway.resetStats
      const items = Array.from({ length: 60 }, (_, i) => ({ id: { S: `i-${i}` } }))
      const result = yield* DynamoDB.batchWrite(table, items)
      assert.deepStrictEqual(result, { written: 60, unprocessed: [] })
      assert.strictEqual((yield* stack.gateway.stats).byService.dynamodb?.total, 3)
      assert.strictEqual((yield* GroundTruth.scanTable(table)).length, 60)
    }))

  it.effect("batchWrite retries a throttled chunk, and reports exactly the items it could not write", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("batch-fault")
      const items = Array.from({ length: 30 }, (_, i) => ({ id: { S: `i-${i}` } }))
      // Every call is throttled: each chunk spends its attempts, then reports its items as not written.
      yield* stack.gateway.setPlan({
        seed: 1,
        rules: [{ service: "dynamodb", operation: "BatchWriteItem", fault: "throttle", probability: 1 }]
      })
      const result = yield* DynamoDB.batchWrite(table, items, { concurrency: 1 }).pipe(
        Effect.ensuring(stack.gateway.clearPlan)
      )
      assert.strictEqual(result.written, 0)
      assert.deepStrictEqual(result.unprocessed.map((u) => u.item.id?.S), items.map((i) => i.id.S))
      assert.isTrue(result.unprocessed.every((u) => u.error._tag === "ThrottlingError"))
      assert.strictEqual((yield* stack.gateway.stats).byOutcome.throttle, 2 * 4, "two chunks, four attempts each")

      yield* stack.gateway.setPlan({
        seed: 1,
        rules: [{ service: "dynamodb", operation: "BatchWriteItem", fault: "throttle", probability: 1, times: 1 }]
      })
      const retried = yield* DynamoDB.batchWrite(table, items, { concurrency: 1 }).pipe(
        Effect.ensuring(stack.gateway.clearPlan)
      )
      assert.deepStrictEqual(retried, { written: 30, unprocessed: [] })
      assert.strictEqual((yield* GroundTruth.scanTable(table)).length, 30)
    }))
})

describe("DynamoDBError", () => {
  const cancelled = {
    __type: "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
    message:
      "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]",
    CancellationReasons: [
      { Code: "None" },
      { Code: "ConditionalCheckFailed", Message: "The conditional request failed", Item: { id: { S: "b" } } }
    ]
  }
  const requestHandler = {
    handle: async () => ({
      response: new HttpResponse({
        statusCode: 400,
        headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "REQ" },
        body: Readable.from([Buffer.from(JSON.stringify(cancelled))])
      })
    }),
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({})
  }

  it.effect("a cancelled transaction decodes its reasons", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(DynamoDB.transactWriteItems({
        TransactItems: [
          { Put: { TableName: "t", Item: { id: { S: "a" } } } },
          { Put: { TableName: "t", Item: { id: { S: "b" } }, ConditionExpression: "attribute_not_exists(id)" } }
        ]
      }))
      assert.strictEqual(error._tag, "TransactionCanceledError")
      if (error._tag !== "TransactionCanceledError") return
      assert.deepStrictEqual(error.reasons.map((r) => r.code), ["None", "ConditionalCheckFailed"])
      assert.deepStrictEqual(error.reasons[1]?.item, { id: { S: "b" } })
      assert.include(error.message, "#1 ConditionalCheckFailed")
    }).pipe(
      Effect.provide(
        DynamoDB.layer({ region: "us-east-1", clientConfig: { requestHandler } }).pipe(
          Layer.provide(Credentials.layer({
            provider: CredentialsProvider.fromStatic({ accessKeyId: "AKIATEST", secretAccessKey: Redacted.make("s") })
          }))
        )
      )
    ))
})
