import { type AwsError, Credentials, Resilience } from "@aws-resilience/core"
import {
  type CredentialsAuthority,
  type FaultPlan,
  type Gateway,
  GroundTruth,
  LocalAws,
  type StackError
} from "@aws-resilience/testkit"
import { GetQueueAttributesCommand, type Message } from "@aws-sdk/client-sqs"
import { Effect, Layer, Schema } from "effect"
import * as SQS from "../src/SQS.js"

/** The events of the tests. */
export const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  amount: Schema.Number.pipe(Schema.nonNegative()),
  note: Schema.optional(Schema.String)
})
export type Order = typeof Order.Type

export const order = (id: string, extra: Partial<Order> = {}): Order => ({
  id,
  customer: "c-1",
  amount: 10,
  ...extra
})

/** Production-style wiring: region, endpoint and credentials all come from the environment the stack sets. */
export const SqsLive: Layer.Layer<SQS.SQS, AwsError.ConfigurationError> = SQS.layerConfig().pipe(
  Layer.provide(Credentials.layer())
)

/**
 * The local stack with the process pointed at it, plus an SQS client built from that environment. A FIFO receive
 * returns several messages of one group, as SQS does.
 */
export const StackWithSqs: Layer.Layer<
  SQS.SQS | LocalAws.LocalAws | CredentialsAuthority.CredentialsAuthority | Gateway.Gateway,
  AwsError.ConfigurationError | StackError.StackError | FaultPlan.FaultPlanError
> = Layer.provideMerge(SqsLive, LocalAws.layerWithEnv({ sqsFifoGroupBatches: true }))

let counter = 0
/** A name unique in this process, for queues. */
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`

/** Creates a queue (FIFO when the name ends in `.fifo`) and returns its URL. */
export const createQueue = (
  name: string,
  attributes: Record<string, string> = {}
): Effect.Effect<string, AwsError.AwsError, SQS.SQS> =>
  SQS.createQueue({
    QueueName: name,
    Attributes: name.endsWith(".fifo") ? { FifoQueue: "true", ...attributes } : attributes
  }).pipe(Effect.map((output) => output.QueueUrl!))

/** The queue's ARN, e.g. for another queue's redrive policy. */
export const queueArn = (queueUrl: string): Effect.Effect<string, AwsError.AwsError, SQS.SQS> =>
  Effect.flatMap(
    SQS.SQS,
    (sqs) =>
      Resilience.send(sqs, new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] })).pipe(
        Effect.map((output) => output.Attributes!.QueueArn!)
      )
  )

/** Receives and deletes every message that is visible now, straight from fauxqs. */
export const drain = (queueUrl: string) => GroundTruth.drainQueue(queueUrl)

/** The ids of the drained messages' bodies. */
export const idsOf = (messages: ReadonlyArray<Message>): Array<string> =>
  messages.map((message) => (JSON.parse(message.Body!) as { id: string }).id)

/** How many SQS requests the gateway has seen, by outcome, since its stats were last reset. */
export const sqsOutcomes: Effect.Effect<
  Gateway.OutcomeCounts["byOutcome"],
  never,
  LocalAws.LocalAws
> = Effect.map(
  LocalAws.LocalAws,
  (stack) => stack.gateway.stats
).pipe(Effect.flatten, Effect.map((stats) => stats.byService.sqs?.byOutcome ?? {}))

export const resetStats: Effect.Effect<void, never, LocalAws.LocalAws> = Effect.flatMap(
  LocalAws.LocalAws,
  (stack) => stack.gateway.resetStats
)
