/**
 * What the backends really hold, read straight from dynalite and fauxqs, past the gateway: no faults, no
 * credentials, no retries. Tests and the demo use it to check what a program claims against what happened.
 *
 * @since 0.1.0
 */
import { type AttributeValue, DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb"
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import * as Effect from "effect/Effect"
import { LocalAws } from "./LocalAws.js"

// The backends check no signature; any static key will do.
const direct = { accessKeyId: "ground-truth", secretAccessKey: "ground-truth" }

/**
 * Every item of a table, all pages, with a consistent read.
 *
 * @since 0.1.0
 * @category inspection
 */
export const scanTable = (
  tableName: string
): Effect.Effect<ReadonlyArray<Record<string, AttributeValue>>, never, LocalAws> =>
  Effect.flatMap(LocalAws, (stack) =>
    Effect.acquireUseRelease(
      Effect.sync(() =>
        new DynamoDBClient({ region: stack.region, endpoint: stack.directEndpoints.dynamodb, credentials: direct })
      ),
      (client) =>
        Effect.promise(async () => {
          const items: Array<Record<string, AttributeValue>> = []
          let start: Record<string, AttributeValue> | undefined
          do {
            const page = await client.send(
              new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start })
            )
            items.push(...(page.Items ?? []))
            start = page.LastEvaluatedKey
          } while (start)
          return items
        }),
      (client) => Effect.sync(() => client.destroy())
    ))

/**
 * Receives and deletes every visible message of a queue until it answers empty, with all their attributes.
 *
 * @since 0.1.0
 * @category inspection
 */
export const drainQueue = (queueUrl: string): Effect.Effect<ReadonlyArray<Message>, never, LocalAws> =>
  Effect.flatMap(LocalAws, (stack) =>
    Effect.acquireUseRelease(
      Effect.sync(() =>
        new SQSClient({
          region: stack.region,
          endpoint: stack.directEndpoints.sqs,
          credentials: direct,
          useQueueUrlAsEndpoint: false
        })
      ),
      (client) =>
        Effect.promise(async () => {
          const all: Array<Message> = []
          while (true) {
            const { Messages = [] } = await client.send(
              new ReceiveMessageCommand({
                QueueUrl: queueUrl,
                MaxNumberOfMessages: 10,
                WaitTimeSeconds: 0,
                VisibilityTimeout: 60,
                MessageSystemAttributeNames: ["All"]
              })
            )
            if (Messages.length === 0) return all
            all.push(...Messages)
            await client.send(
              new DeleteMessageBatchCommand({
                QueueUrl: queueUrl,
                Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! }))
              })
            )
          }
        }),
      (client) => Effect.sync(() => client.destroy())
    ))
