/**
 * DynamoDB as an Effect service: a `ManagedClient` of `DynamoDBClient`, typed operations that run through the
 * core retry policy, and a `batchWrite` that chunks and retries unprocessed items.
 *
 * @since 0.1.0
 */
import type { Credentials } from "@aws-resilience/core"
import { AwsError, ManagedClient, Resilience } from "@aws-resilience/core"
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type BatchWriteItemCommandInput,
  type BatchWriteItemCommandOutput,
  CreateTableCommand,
  type CreateTableCommandInput,
  type DeleteItemCommandInput,
  type DeleteItemCommandOutput,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  type GetItemCommandInput,
  type GetItemCommandOutput,
  type PutItemCommandInput,
  type PutItemCommandOutput,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  ScanCommand,
  type ScanCommandInput,
  type ScanCommandOutput,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
  type TransactWriteItemsCommandOutput,
  type UpdateItemCommandInput,
  type UpdateItemCommandOutput
} from "@aws-sdk/client-dynamodb"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as DynamoDBError from "./DynamoDBError.js"
import * as itemOperations from "./internal/itemOperations.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class DynamoDB extends Context.Tag("@aws-resilience/dynamodb/DynamoDB")<
  DynamoDB,
  ManagedClient.ManagedClient<DynamoDBClient>
>() {}

/**
 * What the DynamoDB client takes: the region, an endpoint, the retry budget, the drain timeout, and anything else
 * for the SDK's `DynamoDBClient` (`clientConfig`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends
  ManagedClient.ClientOptions<
    Omit<DynamoDBClientConfig, "region" | "credentials" | "maxAttempts" | "endpoint" | "systemClockOffset">
  >
{}

const clients = ManagedClient.factory(DynamoDB, {
  service: "dynamodb",
  serviceId: "DYNAMODB",
  build: (config, clientConfig: Options["clientConfig"]) => new DynamoDBClient({ ...clientConfig, ...config })
})

/**
 * Builds the client; bad settings fail here with a `ConfigurationError` naming them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<
  ManagedClient.ManagedClient<DynamoDBClient>,
  AwsError.ConfigurationError,
  Credentials.Credentials | Scope.Scope
> = clients.make

/**
 * @example
 * ```ts
 * import { Credentials } from "@aws-resilience/core"
 * import { DynamoDB } from "@aws-resilience/dynamodb"
 * import { Layer } from "effect"
 *
 * export const DynamoDBLive = DynamoDB.layer({ region: "eu-west-1" }).pipe(Layer.provide(Credentials.layer()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => Layer.Layer<DynamoDB, AwsError.ConfigurationError, Credentials.Credentials> =
  clients.layer

/**
 * `layer` with its options as `Config`s: the region defaults to `AWS_REGION` (then `AWS_DEFAULT_REGION`), the
 * endpoint to `AWS_ENDPOINT_URL_DYNAMODB` (then `AWS_ENDPOINT_URL`), as the SDK reads them.
 *
 * @example
 * ```ts
 * import { Credentials } from "@aws-resilience/core"
 * import { DynamoDB } from "@aws-resilience/dynamodb"
 * import { Config, Layer } from "effect"
 *
 * export const DynamoDBLive = DynamoDB.layerConfig({ drainTimeout: Config.succeed("5 seconds") }).pipe(
 *   Layer.provide(Credentials.layerConfig())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  options?: ManagedClient.ClientConfigOptions<Options["clientConfig"]>
) => Layer.Layer<DynamoDB, AwsError.ConfigurationError, Credentials.Credentials> = clients.layerConfig

const sendWith = <I, O>(command: Resilience.Command<I, O>): Effect.Effect<O, AwsError.AwsError, DynamoDB> =>
  Effect.flatMap(DynamoDB, Resilience.send(command))

/**
 * @since 0.1.0
 * @category operations
 */
export const putItem = (
  input: PutItemCommandInput
): Effect.Effect<PutItemCommandOutput, AwsError.AwsError | DynamoDBError.ConditionalCheckFailedError, DynamoDB> =>
  Effect.flatMap(DynamoDB, (client) => itemOperations.putItem(client, input))

/**
 * @since 0.1.0
 * @category operations
 */
export const getItem = (input: GetItemCommandInput): Effect.Effect<GetItemCommandOutput, AwsError.AwsError, DynamoDB> =>
  Effect.flatMap(DynamoDB, (client) => itemOperations.getItem(client, input))

/**
 * @since 0.1.0
 * @category operations
 */
export const deleteItem = (
  input: DeleteItemCommandInput
): Effect.Effect<
  DeleteItemCommandOutput,
  AwsError.AwsError | DynamoDBError.ConditionalCheckFailedError,
  DynamoDB
> => Effect.flatMap(DynamoDB, (client) => itemOperations.deleteItem(client, input))

/**
 * @since 0.1.0
 * @category operations
 */
export const updateItem = (
  input: UpdateItemCommandInput
): Effect.Effect<
  UpdateItemCommandOutput,
  AwsError.AwsError | DynamoDBError.ConditionalCheckFailedError,
  DynamoDB
> => Effect.flatMap(DynamoDB, (client) => itemOperations.updateItem(client, input))

/**
 * @since 0.1.0
 * @category operations
 */
export const query = (input: QueryCommandInput): Effect.Effect<QueryCommandOutput, AwsError.AwsError, DynamoDB> =>
  sendWith(new QueryCommand(input))

/**
 * @since 0.1.0
 * @category operations
 */
export const scan = (input: ScanCommandInput): Effect.Effect<ScanCommandOutput, AwsError.AwsError, DynamoDB> =>
  sendWith(new ScanCommand(input))

/**
 * Runs a write transaction. Unless the caller gives a `ClientRequestToken`, each run of the returned effect draws
 * one, and every attempt of that run carries it: DynamoDB then applies a transaction retried after a lost response
 * only once (within its ten-minute idempotency window). The SDK would draw a new token on every `send`.
 *
 * @since 0.1.0
 * @category operations
 */
export const transactWriteItems = (
  input: TransactWriteItemsCommandInput
): Effect.Effect<
  TransactWriteItemsCommandOutput,
  AwsError.AwsError | DynamoDBError.TransactionCanceledError,
  DynamoDB
> =>
  DynamoDBError.refineTransaction(
    Effect.suspend(() =>
      sendWith(
        new TransactWriteItemsCommand({ ...input, ClientRequestToken: input.ClientRequestToken ?? randomUUID() })
      )
    )
  )

/**
 * @since 0.1.0
 * @category operations
 */
export const batchWriteItem = (
  input: BatchWriteItemCommandInput
): Effect.Effect<BatchWriteItemCommandOutput, AwsError.AwsError, DynamoDB> => sendWith(new BatchWriteItemCommand(input))

/**
 * Creates a table and waits until it is active. An existing table is left as it is.
 *
 * @since 0.1.0
 * @category operations
 */
export const ensureTable = (input: CreateTableCommandInput): Effect.Effect<void, AwsError.AwsError, DynamoDB> =>
  sendWith(new CreateTableCommand(input)).pipe(
    Effect.catchIf((e) => AwsError.hasCode(e, "ResourceInUseException"), () => Effect.void),
    Effect.zipRight(
      sendWith(new DescribeTableCommand({ TableName: input.TableName })).pipe(
        Effect.repeat({
          schedule: Schedule.spaced("200 millis").pipe(Schedule.upTo("2 minutes")),
          until: (table) => table.Table?.TableStatus === "ACTIVE"
        })
      )
    ),
    Effect.asVoid
  )

/**
 * @since 0.1.0
 * @category models
 */
export type Item = Record<string, AttributeValue>

/**
 * What `batchWrite` did: how many items were written, and each item that was not, with the last error.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchWriteResult {
  readonly written: number
  readonly unprocessed: ReadonlyArray<{ readonly item: Item; readonly error: AwsError.AwsError }>
}

/** BatchWriteItem's limit of requests per call. */
const chunkSize = 25

/**
 * Writes any number of items in chunks of 25. Items DynamoDB leaves unprocessed are retried with the policy's
 * backoff until written or the policy gives up; a chunk that fails outright is reported whole. Never fails:
 * the result says exactly which items were not written.
 *
 * @since 0.1.0
 * @category operations
 */
export const batchWrite = (
  tableName: string,
  items: Iterable<Item>,
  options: { readonly concurrency?: number } = {}
): Effect.Effect<BatchWriteResult, never, DynamoDB> =>
  Effect.gen(function*() {
    const client = yield* DynamoDB
    const chunks = Chunk.toReadonlyArray(Chunk.chunksOf(Chunk.fromIterable(items), chunkSize))
    const writeChunk = (chunk: Chunk.Chunk<Item>) =>
      Resilience.retryRemaining(client, "BatchWriteItem", Chunk.toReadonlyArray(chunk), (pending) =>
        batchWriteItem({ RequestItems: { [tableName]: pending.map((Item) => ({ PutRequest: { Item } })) } }).pipe(
          Effect.flatMap((output) => {
            const left = (output.UnprocessedItems?.[tableName] ?? []).flatMap((r) =>
              r.PutRequest?.Item ? [r.PutRequest.Item] : []
            )
            if (left.length === 0) {
              return Effect.succeed(Option.none())
            }
            // Unprocessed items mean the table ran out of throughput: the error DynamoDB throws for that, so the
            // policy backs off as after throttling.
            return Effect.map(client.generation, (generation) =>
              Option.some(
                [
                  left,
                  AwsError.fromCode("ProvisionedThroughputExceededException", {
                    service: "dynamodb",
                    operation: "BatchWriteItem",
                    generation,
                    message: `${left.length} unprocessed items`
                  })
                ] as const
              ))
          }),
          // A request that fails outright has had the policy's retries already: its items are reported as they are.
          Effect.mapError((error) =>
            [pending, error] as const
          )
        )).pipe(
          Effect.map(Option.getOrUndefined),
          Effect.merge,
          Effect.map((left) =>
            left === undefined ? [] : left[0].map((item) => ({ item, error: left[1] }))
          )
        )
    const failed = yield* Effect.forEach(chunks, writeChunk, { concurrency: options.concurrency ?? 4 })
    const unprocessed = failed.flat()
    const total = chunks.reduce((n, chunk) => n + Chunk.size(chunk), 0)
    return { written: total - unprocessed.length, unprocessed }
  })
