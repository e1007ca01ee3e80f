import { type AwsError, Credentials, RetryPolicy } from "@aws-resilience/core"
import { DynamoDB, EventStore } from "@aws-resilience/dynamodb"
import { EventQueue, SQS } from "@aws-resilience/sqs"
import { Config, Context, Layer, Schema } from "effect"

const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number })
type Order = typeof Order.Type

class Orders extends Context.Tag("app/Orders")<Orders, EventStore.EventStore<Order>>() {}
class OrderQueue extends Context.Tag("app/OrderQueue")<OrderQueue, EventQueue.EventQueue<Order>>() {}

export const AppLayer: Layer.Layer<
  Orders | OrderQueue | DynamoDB.DynamoDB | SQS.SQS | Credentials.Credentials | RetryPolicy.RetryPolicy,
  AwsError.ConfigurationError
> = Layer.mergeAll(
  EventStore.layer(Orders, { tableName: "orders", schema: Order }),
  EventQueue.layerConfig(OrderQueue, { queueUrl: Config.string("ORDERS_QUEUE_URL"), schema: Order })
).pipe(
  Layer.provideMerge(Layer.mergeAll(DynamoDB.layerConfig(), SQS.layerConfig())),
  Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layerConfig()))
)
