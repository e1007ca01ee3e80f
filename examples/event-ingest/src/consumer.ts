/**
 * The consumer Lambda: handles the queue with `LambdaHandler.sqs`. Each event is marked processed in the table
 * (an idempotent update, so a redelivery changes nothing); a record that does not decode, or whose event is not in
 * the table, is a batch item failure, and on the FIFO queue the rest of its group waits for it. Revoked credentials
 * fail the whole batch and end the execution environment after the response (`exitOnPoisonedCredentials`).
 */
import { Credentials, CredentialsProvider, RetryPolicy } from "@aws-resilience/core"
import { DynamoDB } from "@aws-resilience/dynamodb"
import { LambdaHandler } from "@aws-resilience/lambda"
import type { SQSBatchResponse, SQSEvent } from "aws-lambda"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { IngestEvent, tableName } from "./Event.js"

const Live = DynamoDB.layerConfig().pipe(
  Layer.provideMerge(Layer.merge(
    Credentials.layerConfig({ provider: CredentialsProvider.environment() }),
    RetryPolicy.layerConfig()
  ))
)

export const handler: LambdaHandler.Handler<SQSEvent, SQSBatchResponse> = LambdaHandler.sqs(Live, {
  schema: IngestEvent,
  handler: (event, record) =>
    Effect.flatMap(tableName, (TableName) =>
      DynamoDB.updateItem({
        TableName,
        Key: { id: { S: event.id } },
        UpdateExpression: "SET processedAt = if_not_exists(processedAt, :at), messageId = :message",
        ConditionExpression: "attribute_exists(id)",
        ExpressionAttributeValues: { ":at": { S: new Date().toISOString() }, ":message": { S: record.messageId } }
      })),
  // Revoked credentials fail the whole batch (it comes back) and end the execution environment after the response,
  // so that the batch is retried in a new one with the role's current credentials instead of failing in this one
  // until the queue dead-letters it.
  exitOnPoisonedCredentials: true
})

// The layer's build belongs to the init phase.
await handler.ready
