import { type AwsError, Credentials, RetryPolicy } from "@aws-resilience/core"
import { LocalAws } from "@aws-resilience/testkit"
import { Effect, Layer } from "effect"
import { DynamoDB } from "../src/index.js"

let tables = 0

/** Creates a table keyed by `id`, with a name unique in this process. */
export const newTable = (prefix: string): Effect.Effect<string, AwsError.AwsError, DynamoDB.DynamoDB> =>
  Effect.gen(function*() {
    const name = `${prefix}-${Date.now().toString(36)}-${tables++}`
    yield* DynamoDB.ensureTable({
      TableName: name,
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST"
    })
    return name
  })

/** The production layers, configured from the environment that the local stack sets. */
export const Live: Layer.Layer<
  DynamoDB.DynamoDB | Credentials.Credentials | RetryPolicy.RetryPolicy | LocalAws.LocalAws,
  unknown
> = DynamoDB.layerConfig().pipe(
  Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layer({ maxAttempts: 4 }))),
  Layer.provideMerge(LocalAws.layerWithEnv())
)
