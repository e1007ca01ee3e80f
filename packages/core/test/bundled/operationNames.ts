/**
 * A program that `minifiedNames.test.ts` bundles with esbuild `--minify` and runs with `node`. It sends a PutItem and
 * a SendMessage through `Resilience.send`, over request handlers that refuse them, and prints what the errors, spans
 * and metrics call the operations, and what the minifier left of the command classes' names.
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import { Credentials, CredentialsProvider, ManagedClient, Resilience, RetryPolicy } from "../../src/index.js"

// Refuses every request as IAM would, before anything leaves the process.
const requestHandler = {
  handle: () => Promise.reject(Object.assign(new Error("not allowed"), { name: "AccessDeniedException" })),
  updateHttpClientConfig: () => {},
  httpHandlerConfigs: () => ({})
}

const spans: Array<string> = []

const program = Effect.gen(function*() {
  const dynamodb = yield* ManagedClient.make({
    service: "dynamodb",
    region: "us-east-1",
    build: (config) => new DynamoDBClient({ ...config, requestHandler })
  })
  const sqs = yield* ManagedClient.make({
    service: "sqs",
    region: "us-east-1",
    build: (config) => new SQSClient({ ...config, requestHandler })
  })
  const put = yield* Effect.flip(
    Resilience.send(dynamodb, new PutItemCommand({ TableName: "orders", Item: { id: { S: "o-1" } } }))
  )
  const sent = yield* Effect.flip(
    Resilience.send(
      sqs,
      new SendMessageCommand({ QueueUrl: "https://sqs.us-east-1.amazonaws.com/1/q", MessageBody: "{}" })
    )
  )
  const metrics = yield* Metric.snapshot
  return {
    classNames: [PutItemCommand.name, SendMessageCommand.name],
    errors: [put, sent].map((error) => ({
      tag: error._tag,
      operation: "operation" in error ? error.operation : undefined,
      message: error.message
    })),
    spans,
    metricOperations: metrics
      .filter((pair) => pair.metricKey.name === "aws_resilience_call_duration")
      .flatMap((pair) => pair.metricKey.tags.filter((tag) => tag.key === "operation").map((tag) => tag.value))
      .sort()
  }
})

const recording = Effect.map(Effect.tracer, (native) =>
  Tracer.make({
    span: (name, ...rest) => {
      spans.push(name)
      return native.span(name, ...rest)
    },
    context: (f, fiber) => native.context(f, fiber)
  }))

const main = Effect.gen(function*() {
  const tracer = yield* recording
  // stdout carries the report alone.
  return yield* program.pipe(Effect.scoped, Effect.withTracer(tracer), Logger.withMinimumLogLevel(LogLevel.None))
})

const report = await Effect.runPromise(main.pipe(
  Effect.provide(Layer.mergeAll(
    Credentials.layer({
      provider: CredentialsProvider.fromStatic({
        accessKeyId: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: Redacted.make("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
      })
    }),
    RetryPolicy.layer({ maxAttempts: 1 })
  ))
))
process.stdout.write(JSON.stringify(report))
