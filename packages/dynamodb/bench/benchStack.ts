/**
 * What the DynamoDB benchmarks set up alike on the stack process: the table they write to, the bare SDK client
 * they are measured against, and the production layers ours run on.
 */
import { Credentials, RetryPolicy } from "@aws-resilience/core"
import { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { Effect, Layer, Logger, LogLevel } from "effect"
import type * as Scope from "effect/Scope"
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

/**
 * A bare `DynamoDBClient` on the stack's current credentials, with our clients' settings (and `settings`);
 * destroyed with the scope.
 */
export const bareClient = (stack: StackProcess, settings: { readonly cacheMiddleware?: boolean } = {}) =>
  Effect.acquireRelease(
    Effect.map(Effect.promise(stack.credentials), (credentials) =>
      new DynamoDBClient({
        ...settings,
        region: stack.region,
        endpoint: stack.endpoints.dynamodb,
        credentials,
        maxAttempts: 1
      })),
    (client) => Effect.sync(() => client.destroy())
  )

/** Runs a benchmark's program (scoped) on the production layers, configured from the environment, warnings only. */
export const runWithProductionLayers = <A, E>(
  program: Effect.Effect<
    A,
    E,
    DynamoDB.DynamoDB | Credentials.Credentials | RetryPolicy.RetryPolicy | Scope.Scope
  >
): Promise<A> =>
  Effect.runPromise(
    program.pipe(
      Effect.scoped,
      Effect.provide(
        DynamoDB.layerConfig().pipe(Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layer())))
      ),
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )
