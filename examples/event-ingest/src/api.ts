/**
 * The API Lambda: takes an event (an API Gateway proxy request's JSON body), stores it once with
 * `EventStore.put`, then enqueues it on the FIFO queue with the event id as its deduplication id. A retried
 * request after a lost response is recognised: stored `AlreadyStored`, and SQS drops the duplicate message. Revoked
 * credentials end the execution environment after the response (`exitOnPoisonedCredentials`), so that the next
 * invocation gets a new one with the role's current credentials.
 */
import { Credentials, CredentialsProvider, RetryPolicy } from "@aws-resilience/core"
import { DynamoDB, EventStore } from "@aws-resilience/dynamodb"
import { LambdaHandler } from "@aws-resilience/lambda"
import { EventQueue, SQS } from "@aws-resilience/sqs"
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { IngestEvent, queueUrl, tableName } from "./Event.js"

class Events extends Context.Tag("event-ingest/Events")<Events, EventStore.EventStore<IngestEvent>>() {}
class Queue extends Context.Tag("event-ingest/Queue")<Queue, EventQueue.EventQueue<IngestEvent>>() {}

// On Lambda the role's credentials are environment variables.
const Live = Layer.mergeAll(
  EventStore.layerConfig(Events, { tableName, schema: IngestEvent }),
  EventQueue.layerConfig(Queue, { queueUrl, schema: IngestEvent })
).pipe(
  Layer.provideMerge(Layer.mergeAll(DynamoDB.layerConfig(), SQS.layerConfig())),
  Layer.provideMerge(Layer.merge(
    Credentials.layerConfig({ provider: CredentialsProvider.environment() }),
    RetryPolicy.layerConfig()
  ))
)

const respond = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body)
})

export const handler = LambdaHandler.make(Live, (request: APIGatewayProxyEvent) =>
  Effect.gen(function*() {
    const event = yield* Schema.decodeUnknown(Schema.parseJson(IngestEvent))(request.body ?? "")
    const stored = yield* EventStore.put(yield* Events, event)
    const sent = yield* EventQueue.enqueue(yield* Queue, event)
    return respond(stored._tag === "Stored" ? 201 : 200, {
      id: event.id,
      stored: stored._tag,
      messageId: sent.messageId
    })
  }).pipe(
    Effect.catchTags({
      ParseError: (error) => Effect.succeed(respond(400, { error: "InvalidEvent", message: error.message })),
      InvalidEventError: (error) => Effect.succeed(respond(400, { error: error._tag, message: error.message })),
      EventConflictError: (error) => Effect.succeed(respond(409, { error: error._tag, message: error.message }))
    })
  ), {
  // Lambda hands each execution environment the role's credentials once, in its variables: once they are revoked,
  // nothing in this environment can renew them. Ending it after the response makes Lambda start a new one with the
  // role's current set; without this, every later invocation in this environment would fail.
  exitOnPoisonedCredentials: true
})

// The layer's build belongs to the init phase.
await handler.ready
