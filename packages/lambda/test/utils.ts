import { type AwsError, Credentials, RetryPolicy } from "@aws-resilience/core"
import { DynamoDB } from "@aws-resilience/dynamodb"
import { GroundTruth, LocalAws } from "@aws-resilience/testkit"
import type { Context as LambdaContext, SQSEvent, SQSRecord } from "aws-lambda"
import { Duration, Effect, Layer, Schedule } from "effect"
import type { LambdaHandler } from "../src/index.js"

let requests = 0

/**
 * A Lambda context as the runtime interface client makes it: `getRemainingTimeInMillis` counts down on the wall
 * clock from `remainingMs`, or stays at it (`fixed`).
 */
export const lambdaContext = (remainingMs = 30_000, clock: "wall" | "fixed" = "wall"): LambdaContext => {
  const deadline = Date.now() + remainingMs
  const awsRequestId = `req-${(requests++).toString().padStart(4, "0")}`
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "orders",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:orders",
    memoryLimitInMB: "512",
    awsRequestId,
    logGroupName: "/aws/lambda/orders",
    logStreamName: "2025/01/01/[$LATEST]0000",
    // "fixed" for tests on the TestClock, which the wall clock must not shift.
    getRemainingTimeInMillis: () => clock === "fixed" ? remainingMs : Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {}
  }
}

/** Calls the handler as the runtime interface client does; a rejection is the failure, whatever it is. */
export const invoke = <Event, Result>(
  handler: LambdaHandler.Handler<Event, Result>,
  event: Event,
  context: LambdaContext = lambdaContext()
): Effect.Effect<Result, unknown> => Effect.tryPromise({ try: () => handler(event, context), catch: (e) => e })

/** Resolves after `turns` turns of the event loop. */
export const turns = (n: number): Effect.Effect<void> =>
  Effect.promise(() =>
    new Promise<void>((resolve) => {
      const step = (left: number) => left === 0 ? resolve() : setImmediate(() => step(left - 1))
      step(n)
    })
  )

/** The handlers' own layer, built from the environment the local stack sets, as in Lambda. */
export const AppLayer: Layer.Layer<DynamoDB.DynamoDB | Credentials.Credentials, AwsError.ConfigurationError> = DynamoDB
  .layerConfig().pipe(Layer.provideMerge(Credentials.layer()))

/** The local stack, plus a DynamoDB client of the tests' own for setting up tables and reading them back. */
export const Stack = DynamoDB.layerConfig().pipe(
  Layer.provide(Credentials.layer()),
  Layer.provideMerge(LocalAws.layerWithEnv())
)

let tables = 0

/** A new table keyed by `id`. */
export const newTable = (prefix: string): Effect.Effect<string, AwsError.AwsError, DynamoDB.DynamoDB> =>
  Effect.gen(function*() {
    const name = `${prefix}-${Date.now().toString(36)}-${tables++}`
    yield* DynamoDB.ensureTable({
      TableName: name,
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST"
    })
    return name
  })

/** The ids in a table, read straight from dynalite, sorted. */
export const idsIn = (table: string): Effect.Effect<Array<string>, never, LocalAws.LocalAws> =>
  Effect.map(GroundTruth.scanTable(table), (items) => items.map((item) => item.id!.S!).sort())

/** A retry policy with a fixed delay, so that what fits before a deadline does not depend on jitter. */
export const fixedDelayPolicy = (delay: Duration.DurationInput, maxAttempts = 5): RetryPolicy.Policy => {
  const policy = RetryPolicy.make({ maxAttempts })
  return {
    ...policy,
    maxDelayBefore: () => Duration.decode(delay),
    schedule: Schedule.identity<AwsError.AwsError>().pipe(
      Schedule.intersect(Schedule.recurs(maxAttempts - 1)),
      Schedule.whileInput(policy.isRetryable),
      Schedule.addDelay(() => delay),
      Schedule.map(([error]) => error)
    )
  }
}

/** One SQS record as Lambda delivers it. */
export const sqsRecord = (
  messageId: string,
  body: string,
  options: { readonly queue?: string; readonly groupId?: string } = {}
): SQSRecord => ({
  messageId,
  receiptHandle: `rh-${messageId}`,
  body,
  attributes: {
    ApproximateReceiveCount: "1",
    SentTimestamp: "1700000000000",
    SenderId: "AIDAEXAMPLE",
    ApproximateFirstReceiveTimestamp: "1700000000000",
    ...(options.groupId !== undefined
      ? { MessageGroupId: options.groupId, MessageDeduplicationId: messageId, SequenceNumber: "1" }
      : {})
  },
  messageAttributes: {},
  md5OfBody: "0",
  eventSource: "aws:sqs",
  eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${options.queue ?? "orders"}`,
  awsRegion: "us-east-1"
})

/** An SQS event of these records. */
export const sqsEvent = (records: ReadonlyArray<SQSRecord>): SQSEvent => ({ Records: [...records] })
