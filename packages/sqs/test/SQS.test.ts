/**
 * The SQS service: its layers and its thin operations, against the local stack.
 */
import { type AwsError, Credentials, CredentialsProvider } from "@aws-resilience/core"
import { LocalAws } from "@aws-resilience/testkit"
import { SendMessageCommand } from "@aws-sdk/client-sqs"
import { assert, it, layer } from "@effect/vitest"
import { Config, ConfigProvider, Context, Effect, Layer, Redacted, Schema } from "effect"
import * as EventQueue from "../src/EventQueue.js"
import * as SQS from "../src/SQS.js"
import { unique } from "./utils.js"

it.effect("layerConfig without a region fails with a ConfigurationError naming AWS_REGION", () =>
  Effect.gen(function*() {
    const error: AwsError.ConfigurationError = yield* Layer.build(SQS.layerConfig()).pipe(
      Effect.scoped,
      Effect.provide(Credentials.layer()),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
      Effect.flip
    )
    assert.strictEqual(error._tag, "ConfigurationError")
    assert.strictEqual(error.setting, "AWS_REGION")
    assert.include(error.message, "AWS_REGION")
  }))

layer(LocalAws.layerWithEnv(), { excludeTestServices: true })("SQS", (it) => {
  // With the SDK's handler cache on, calls hand their signals to the pool in their arguments, through the SDK's
  // cached handlers (and its SQS middleware, which checks the messages' MD5 digests).
  for (const cacheMiddleware of [false, true]) {
    it.effect(
      `the thin operations, through an explicit endpoint${cacheMiddleware ? ", with the handler cache on" : ""}`,
      () =>
        Effect.gen(function*() {
          const stack = yield* LocalAws.LocalAws
          const name = unique("ops")
          const { QueueUrl } = yield* SQS.createQueue({ QueueName: name })
          assert.strictEqual((yield* SQS.getQueueUrl({ QueueName: name })).QueueUrl, QueueUrl)
          const sent = yield* SQS.sendMessage({ QueueUrl, MessageBody: "hello" })
          const batch = yield* SQS.sendMessageBatch({
            QueueUrl,
            Entries: [{ Id: "a", MessageBody: "a" }, { Id: "b", MessageBody: "b" }]
          })
          assert.strictEqual(batch.Successful?.length, 2)
          const received = yield* SQS.receiveMessage({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 })
          const messages = received.Messages ?? []
          assert.sameMembers(messages.map((m) => m.Body), ["hello", "a", "b"])
          assert.include(messages.map((m) => m.MessageId), sent.MessageId)
          const [first, ...rest] = messages
          yield* SQS.changeMessageVisibility({ QueueUrl, ReceiptHandle: first!.ReceiptHandle, VisibilityTimeout: 0 })
          for (const message of rest) yield* SQS.deleteMessage({ QueueUrl, ReceiptHandle: message.ReceiptHandle })
          const again = yield* SQS.receiveMessage({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 })
          assert.deepStrictEqual(again.Messages?.map((m) => m.Body), [first!.Body])
          assert.strictEqual((yield* SQS.SQS).region, stack.region)
          // With the cache on, the SDK kept the handler it resolved for SendMessage.
          const cached = yield* (yield* SQS.SQS).use((client) =>
            Effect.sync(() =>
              (client as unknown as { handlers?: WeakMap<object, unknown> }).handlers?.has(SendMessageCommand) === true
            )
          )
          assert.strictEqual(cached, cacheMiddleware)
        }).pipe(
          Effect.provide(
            Effect.map(LocalAws.LocalAws, (stack) =>
              SQS.layer({
                region: stack.region,
                endpoint: stack.endpoints.sqs,
                clientConfig: { cacheMiddleware }
              }))
              .pipe(
                Layer.unwrapEffect,
                Layer.provide(Credentials.layer())
              )
          )
        )
    )
  }

  it.effect("a missing queue is a ServiceError with its code", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(SQS.getQueueUrl({ QueueName: unique("absent") }))
      assert.strictEqual(error._tag, "ServiceError")
      if (error._tag === "ServiceError") assert.match(error.code, /NonExistentQueue|QueueDoesNotExist/)
    }).pipe(Effect.provide(SQS.layerConfig().pipe(Layer.provide(Credentials.layer())))))
})

it.effect("EventQueue.layerConfig reports a missing queue URL as a ConfigurationError naming it", () =>
  Effect.gen(function*() {
    const Order = Schema.Struct({ id: Schema.String })
    class Orders extends Context.Tag("test/Orders")<Orders, EventQueue.EventQueue<typeof Order.Type>>() {}
    const client = SQS.layer({ region: "us-east-1", endpoint: "http://127.0.0.1:9" }).pipe(
      Layer.provide(Credentials.layer({
        provider: CredentialsProvider.fromStatic({ accessKeyId: "AKIATEST", secretAccessKey: Redacted.make("s") })
      }))
    )
    const layerOf = EventQueue.layerConfig(Orders, { queueUrl: Config.string("ORDERS_QUEUE_URL"), schema: Order })
    const error = yield* Effect.flip(Effect.scoped(Layer.build(layerOf.pipe(Layer.provide(client))))).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
    )
    assert.strictEqual(error._tag, "ConfigurationError")
    assert.strictEqual(error.setting, "ORDERS_QUEUE_URL")
    const queue = yield* Effect.scoped(Effect.provide(Orders, layerOf.pipe(Layer.provide(client)))).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ORDERS_QUEUE_URL", "http://127.0.0.1:9/1/o"]])))
    )
    assert.strictEqual(queue.queueUrl, "http://127.0.0.1:9/1/o")
  }))
