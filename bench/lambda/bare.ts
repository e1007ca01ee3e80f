/**
 * The baseline of `bench/lambda`: the example's API Lambda (examples/event-ingest/src/api.ts) on the bare SDK. The
 * same work: the API Gateway request's body parsed and checked, the event put once (a conditional PutItem; a second
 * put of its id answers 200), then sent to the FIFO queue with its id as group and deduplication id. Plain clients
 * built at module scope, configured by the environment (region, endpoints, credentials), as Lambda users write them.
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs"

const dynamodb = new DynamoDBClient({})
// The endpoint comes from the environment (AWS_ENDPOINT_URL_SQS here, the regional one on AWS), not from the queue
// URL's host: as `SQS.layerConfig` has it, and harmless on AWS, where the two are the same.
const sqs = new SQSClient({ useQueueUrlAsEndpoint: false })
const tableName = process.env.EVENTS_TABLE_NAME
const queueUrl = process.env.EVENTS_QUEUE_URL

interface Response {
  readonly statusCode: number
  readonly headers: Record<string, string>
  readonly body: string
}

const respond = (statusCode: number, body: unknown): Response => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body)
})

export const handler = async (request: { readonly body?: string | null }): Promise<Response> => {
  let event: { id?: unknown; source?: unknown; payload?: unknown }
  try {
    event = JSON.parse(request.body ?? "")
  } catch {
    return respond(400, { error: "InvalidEvent", message: "the body is not JSON" })
  }
  if (
    typeof event?.id !== "string" || event.id === "" || typeof event.source !== "string" ||
    typeof event.payload !== "object" || event.payload === null
  ) {
    return respond(400, { error: "InvalidEvent", message: "an event has an id, a source and a payload" })
  }
  const id = event.id
  const body = JSON.stringify({ id, source: event.source, payload: event.payload })
  let stored = "Stored"
  try {
    await dynamodb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { id: { S: id }, body: { S: body } },
        ConditionExpression: "attribute_not_exists(id)"
      })
    )
  } catch (error) {
    if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error
    stored = "AlreadyStored"
  }
  const sent = await sqs.send(
    new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: id, MessageDeduplicationId: id })
  )
  return respond(stored === "Stored" ? 201 : 200, { id, stored, messageId: sent.MessageId })
}
