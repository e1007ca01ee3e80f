/**
 * A user's program, outside the workspace: the layers as the README composes them, one event stored and one
 * enqueued against the testkit's local stack, then read back from the backends.
 */
import { Credentials, RetryPolicy } from "@aws-resilience/core"
import { Credentials as CredentialsModule } from "@aws-resilience/core/Credentials"
import { DynamoDB, EventStore } from "@aws-resilience/dynamodb"
import { EventQueue, SQS } from "@aws-resilience/sqs"
import { GroundTruth, LocalAws } from "@aws-resilience/testkit"
import { Context, Effect, Layer, Schema } from "effect"

const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
type Order = typeof Order.Type

class Orders extends Context.Tag("app/Orders")<Orders, EventStore.EventStore<Order>>() {}

export const Live = EventStore.layer(Orders, { tableName: "orders", schema: Order }).pipe(
  Layer.provideMerge(Layer.mergeAll(DynamoDB.layerConfig(), SQS.layerConfig())),
  Layer.provideMerge(Layer.merge(Credentials.layerConfig(), RetryPolicy.layerConfig())),
  Layer.provideMerge(LocalAws.layerWithEnv())
)

export const program = Effect.gen(function*() {
  const store = yield* Orders
  yield* store.ensureTable
  const stored = yield* EventStore.put(store, { id: "o-1", total: 42 })
  const created = yield* SQS.createQueue({ QueueName: "orders.fifo", Attributes: { FifoQueue: "true" } })
  const queue = yield* EventQueue.make({ queueUrl: created.QueueUrl!, schema: Order })
  const sent = yield* EventQueue.enqueue(queue, { id: "o-1", total: 42 })
  const items = yield* GroundTruth.scanTable("orders")
  const messages = yield* GroundTruth.drainQueue(created.QueueUrl!)
  // The subpath module and the barrel's namespace are the same module.
  if (CredentialsModule !== Credentials.Credentials) return yield* Effect.dieMessage("two copies of Credentials")
  return { stored: stored._tag, messageId: sent.messageId, items: items.length, messages: messages.length }
})

Effect.runPromise(program.pipe(Effect.provide(Live), Effect.scoped)).then(
  (result) => {
    console.log(`consumer ok on node ${process.versions.node}: ${JSON.stringify(result)}`)
    if (result.items !== 1 || result.messages !== 1) process.exit(1)
  },
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
