/**
 * What the DynamoDB benchmarks set up alike on the stack process: the table they write to, and the bare SDK client
 * they are measured against.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { Effect } from "effect"
import type { StackProcess } from "../../../bench/lib/stackProcess.mjs"
import { DynamoDB } from "../src/index.js"

/** A table keyed by the string `id`, on demand. */
export const ensureTable = (table: string) =>
  DynamoDB.ensureTable({
    TableName: table,
    KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
    AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
    BillingMode: "PAY_PER_REQUEST"
  })

/** A bare `DynamoDBClient` on the stack's current credentials, with our clients' settings; destroyed with the scope. */
export const bareClient = (stack: StackProcess) =>
  Effect.acquireRelease(
    Effect.map(Effect.promise(stack.credentials), (credentials) =>
      new DynamoDBClient({
        region: stack.region,
        endpoint: stack.endpoints.dynamodb,
        credentials,
        maxAttempts: 1
      })),
    (client) => Effect.sync(() => client.destroy())
  )
