/**
 * Handlers under the real runtime interface client (`aws-lambda-ric` on Node 22, in child processes) against the
 * testkit's Lambda Runtime API emulator, calling DynamoDB and SQS on the local stack through its gateway. The
 * handler modules in `fixtures/` are bundled with esbuild once for the file.
 */
import { Credentials } from "@aws-resilience/core"
import { DynamoDB } from "@aws-resilience/dynamodb"
import { SQS } from "@aws-resilience/sqs"
import { type LambdaRuntimeApi, LocalAws } from "@aws-resilience/testkit"
import { assert, layer } from "@effect/vitest"
import type { SQSBatchResponse, SQSRecord } from "aws-lambda"
import { Effect, Fiber, Layer, Ref, Schedule } from "effect"
import * as Path from "node:path"
import * as LambdaRuntime from "./lambdaRuntime.js"
import { idsIn, newTable } from "./utils.js"

const fixture = (name: string) => Path.join(import.meta.dirname, "fixtures", `${name}.ts`)

const Kit = LambdaRuntime.layerKit({
  plain: fixture("plain"),
  orders: fixture("orders"),
  probing: fixture("probing"),
  fifo: fixture("fifo")
})

const Live = Layer.mergeAll(DynamoDB.layerConfig(), SQS.layerConfig()).pipe(
  Layer.provide(Credentials.layer()),
  Layer.provideMerge(LocalAws.layerWithEnv({ sqsFifoGroupBatches: true })),
  Layer.merge(Kit)
)

/** The outcome's body, which must be a response; the environments' output explains a failed assertion. */
const response = (
  fn: LambdaRuntime.Harness,
  outcome: LambdaRuntimeApi.Outcome
): Effect.Effect<Record<string, unknown>> =>
  Effect.map(fn.output, (output) => {
    assert.strictEqual(outcome._tag, "Response", `${JSON.stringify(outcome)}\n${output}`)
    return (outcome as LambdaRuntimeApi.InvocationResponse).body as Record<string, unknown>
  })

/** The outcome, which must be an error. */
const failure = (
  fn: LambdaRuntime.Harness,
  outcome: LambdaRuntimeApi.Outcome
): Effect.Effect<LambdaRuntimeApi.InvocationError> =>
  Effect.map(fn.output, (output) => {
    assert.strictEqual(outcome._tag, "Error", `${JSON.stringify(outcome)}\n${output}`)
    return outcome as LambdaRuntimeApi.InvocationError
  })

layer(Live, { excludeTestServices: true, timeout: 120_000 })("under the runtime interface client", (it) => {
  it.scoped("a plain handler: responses, errors and the Lambda context, in one execution environment", () =>
    Effect.gen(function*() {
      const fn = yield* LambdaRuntime.make({ handler: "plain.handler", functionName: "plain" })
      const first = yield* fn.invoke({ n: 1 }, { timeout: "10 seconds" })
      const body = yield* response(fn, first)
      assert.deepStrictEqual(body.event, { n: 1 })
      assert.strictEqual(body.awsRequestId, first.requestId)
      assert.strictEqual(body.functionName, "plain")
      assert.strictEqual(body.invokedFunctionArn, fn.api.functionArn)
      assert.isAtMost(body.remainingMs as number, 10_000)
      assert.match(body.traceId as string, /^Root=1-/)
      const [environment] = yield* fn.environments
      assert.strictEqual(body.accessKeyId, environment!.accessKeyId)
      assert.strictEqual(body.pid, environment!.pid)
      // The init phase: from the process's start to its runtime's first `next`, the one that took this invocation.
      const [firstPoll] = yield* fn.api.nextRequests
      assert.isAbove(environment!.initMs!, 0)
      assert.strictEqual(environment!.initMs, firstPoll! - environment!.startedAt)

      const failed = yield* failure(fn, yield* fn.invoke({ fail: "no such order" }))
      assert.deepStrictEqual([failed.phase, failed.errorType, failed.errorMessage], [
        "invoke",
        "RequestRejected",
        "no such order"
      ])
      // The environment lives on after a handler's error.
      assert.strictEqual((yield* response(fn, yield* fn.invoke({ n: 2 }))).pid, environment!.pid)
      assert.strictEqual((yield* fn.environments).length, 1)
      assert.deepStrictEqual(yield* fn.api.violations, [])
    }))

  it.scoped("a module that throws at load is an init error; the next invocation gets a new environment", () =>
    Effect.gen(function*() {
      const broken = yield* Ref.make(true)
      const fn = yield* LambdaRuntime.make({
        handler: "plain.handler",
        environment: Effect.map(
          Ref.get(broken),
          (yes): Record<string, string> => yes ? { FAIL_INIT: "bad config" } : {}
        )
      })
      const failed = yield* failure(fn, yield* fn.invoke({ n: 1 }))
      assert.deepStrictEqual([failed.phase, failed.errorMessage], ["init", "init failed: bad config"])
      const initErrors = yield* fn.api.initErrors
      assert.deepStrictEqual(initErrors.map((e) => [e.errorMessage, e.requestId]), [[
        "init failed: bad config",
        failed.requestId
      ]])

      yield* Ref.set(broken, false)
      yield* response(fn, yield* fn.invoke({ n: 2 }))
      const environments = yield* fn.environments
      assert.strictEqual(environments.length, 2)
      assert.notStrictEqual(environments[0]!.exit?.code, 0, "the broken environment ended")
      assert.isUndefined(environments[1]!.exit)
    }))

  it.scoped("an invocation past its timeout is a Timeout, and ends its environment; the next one gets a new one", () =>
    Effect.gen(function*() {
      const fn = yield* LambdaRuntime.make({ handler: "plain.handler" })
      const before = yield* response(fn, yield* fn.invoke({ n: 1 }))
      const timedOut = yield* fn.invoke({ sleepMs: 30_000 }, { timeout: "300 millis" })
      assert.strictEqual(timedOut._tag, "Timeout")
      const after = yield* response(fn, yield* fn.invoke({ n: 2 }))
      assert.notStrictEqual(after.pid, before.pid)
      const environments = yield* fn.environments
      assert.deepStrictEqual(environments.map((e) => e.exit?.signal), ["SIGKILL", undefined])
      assert.strictEqual((yield* fn.api.stats).lateResults, 0)
    }))

  /** Waits (on the wall clock) until the emulator's counts satisfy `until`. */
  const progress = (fn: LambdaRuntime.Harness, until: (stats: LambdaRuntimeApi.Stats) => boolean) =>
    fn.api.stats.pipe(
      Effect.repeat({ until, schedule: Schedule.spaced("1 millis") }),
      Effect.asVoid
    )

  it.scoped("a burst while the authority revokes, then expires, the sets in use: each poisoned environment is replaced by one with the role's new set, and nothing is lost", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("burst")
      const fn = yield* LambdaRuntime.make({
        handler: "orders.handler",
        environment: Effect.succeed({ TABLE: table })
      })
      const ids = Array.from({ length: 30 }, (_, i) => `o-${String(i).padStart(2, "0")}`)
      const burst = yield* Effect.fork(
        Effect.forEach(ids, (id) => fn.invoke({ id }, { timeout: "10 seconds" }), { concurrency: "unbounded" })
      )
      // A quarter of the way in, the set of the first environment is revoked; halfway, the second one's expires.
      yield* progress(fn, (stats) => stats.responses >= 8)
      const [first] = yield* fn.environments
      yield* stack.authority.revoke(first!.accessKeyId)
      yield* progress(fn, (stats) => stats.responses >= 15)
      const environments = yield* fn.environments
      assert.strictEqual(environments.length, 2, yield* fn.output)
      yield* stack.authority.expire(environments[1]!.accessKeyId)
      const outcomes = yield* Fiber.join(burst)

      const failed = outcomes.flatMap((outcome, i) => outcome._tag === "Response" ? [] : [{ id: ids[i]!, outcome }])
      const types = failed.map(({ outcome }) => outcome._tag === "Error" ? outcome.errorType : outcome._tag)
      // Each poisoned environment fails one invocation, then ends; one handed to it as it ended fails as Lambda
      // reports it, with Runtime.ExitError.
      assert.strictEqual(types.filter((type) => type === "PoisonedSandboxError").length, 2, types.join())
      assert.isTrue(
        types.every((type) => type === "PoisonedSandboxError" || type === "Runtime.ExitError"),
        types.join()
      )
      // Lambda's retry of the failed ones.
      for (const { id } of failed) yield* response(fn, yield* fn.invoke({ id }, { timeout: "10 seconds" }))

      const all = yield* fn.environments
      assert.strictEqual(all.length, 3)
      assert.strictEqual(new Set(all.map((e) => e.accessKeyId)).size, 3, "each environment got its own set")
      assert.deepStrictEqual(all.map((e) => e.exit?.code), [1, 1, undefined], "the poisoned ones ended themselves")
      const used = new Set(
        yield* Effect.forEach(
          outcomes.filter((outcome) => outcome._tag === "Response"),
          (outcome) => Effect.map(response(fn, outcome), (body) => body.accessKeyId)
        )
      )
      // Every environment served part of the burst, with the set it was started with.
      assert.deepStrictEqual(used, new Set(all.map((e) => Credentials.maskAccessKeyId(e.accessKeyId))))
      assert.deepStrictEqual(yield* idsIn(table), ids)
      assert.deepStrictEqual(yield* fn.api.violations, [])
      assert.deepStrictEqual(yield* fn.api.initErrors, [])
    }))

  it.scoped("a layer that fails to build in init fails the invocation, not the environment, which heals once it builds", () =>
    Effect.gen(function*() {
      const table = `probing-${Date.now().toString(36)}`
      const fn = yield* LambdaRuntime.make({
        handler: "probing.handler",
        environment: Effect.succeed({ TABLE: table })
      })
      const failed = yield* failure(fn, yield* fn.invoke({ id: "early" }))
      assert.deepStrictEqual([failed.phase, failed.errorType], ["invoke", "ServiceError"])
      assert.include(failed.errorMessage, "ResourceNotFoundException")
      // The start-up check passes once the table is there; the same environment builds the layer again.
      yield* DynamoDB.ensureTable({
        TableName: table,
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST"
      })
      const body = yield* response(fn, yield* fn.invoke({ id: "late" }))
      const environments = yield* fn.environments
      assert.strictEqual(environments.length, 1)
      assert.strictEqual(body.pid, environments[0]!.pid)
      assert.deepStrictEqual(yield* fn.api.initErrors, [])
      assert.deepStrictEqual(yield* idsIn(table), ["late"])
    }))

  it.scoped("a deadline too short for the retries of a throttled call: the handler fails fast with DeadlineExceededError before Lambda's timeout, and its environment lives on", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("deadline")
      const fn = yield* LambdaRuntime.make({
        handler: "orders.handler",
        // Attempts enough that the deadline, not the attempt count, ends the retries.
        environment: Effect.succeed({ TABLE: table, AWS_MAX_ATTEMPTS: "10" })
      })
      yield* response(fn, yield* fn.invoke({ id: "warm" }))
      yield* stack.gateway.setPlan({
        seed: 7,
        rules: [{ service: "dynamodb", operation: "PutItem", fault: "throttle", probability: 1 }]
      })
      yield* stack.gateway.resetStats
      // One second for the function; 500 ms of it are the handler's margin for answering.
      const outcome = yield* fn.invoke({ id: "throttled" }, { timeout: "1 second" }).pipe(
        Effect.ensuring(stack.gateway.clearPlan)
      )
      const failed = yield* failure(fn, outcome)
      assert.strictEqual(failed.errorType, "DeadlineExceededError")
      // Whether a retry was refused or the last attempt was cut off at the deadline, throttling is why.
      assert.include(failed.errorMessage, "throttled (")
      const stats = yield* stack.gateway.stats
      assert.isAtLeast(stats.byService.dynamodb?.byOutcome.throttle ?? 0, 1)
      assert.strictEqual((yield* fn.api.stats).timeouts, 0)

      const after = yield* response(fn, yield* fn.invoke({ id: "after" }))
      const environments = yield* fn.environments
      assert.strictEqual(environments.length, 1)
      assert.strictEqual(after.pid, environments[0]!.pid)
      assert.deepStrictEqual(yield* idsIn(table), ["after", "warm"])
    }))

  it.scoped("an SQS batch from a FIFO queue with bad records and failing handlers: ReportBatchItemFailures names them and the rest of their groups, and redelivery keeps each group's order", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("fifo")
      const queueName = `orders-${Date.now().toString(36)}.fifo`
      const queueUrl = (yield* SQS.createQueue({ QueueName: queueName, Attributes: { FifoQueue: "true" } })).QueueUrl!
      const messages: ReadonlyArray<readonly [group: string, id: string, body: string]> = [
        ["g1", "o1", JSON.stringify({ id: "o1", amount: 10 })],
        ["g1", "bad", "{ not json"],
        ["g1", "o2", JSON.stringify({ id: "o2", amount: 10 })],
        ["g2", "o3", JSON.stringify({ id: "o3", amount: 10 })],
        ["g2", "o4", JSON.stringify({ id: "o4", amount: -5 })],
        ["g2", "o5", JSON.stringify({ id: "o5", amount: 10 })],
        ["g3", "o6", JSON.stringify({ id: "o6", amount: 10 })],
        ["g3", "o7", JSON.stringify({ id: "o7", amount: 10 })],
        ["g3", "o8", JSON.stringify({ id: "o8", amount: 0 })],
        ["g4", "o9", JSON.stringify({ id: "o9", amount: 10 })]
      ]
      yield* SQS.sendMessageBatch({
        QueueUrl: queueUrl,
        Entries: messages.map(([group, id, body]) => ({
          Id: id,
          MessageBody: body,
          MessageGroupId: group,
          MessageDeduplicationId: id
        }))
      })
      const sent = new Map<string, string>()
      // What the event source mapping does: receive a batch, and hand it to the function as an SQS event.
      const receive = Effect.gen(function*() {
        const output = yield* SQS.receiveMessage({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 30,
          MessageSystemAttributeNames: ["All"]
        })
        return (output.Messages ?? []).map((message): SQSRecord => ({
          messageId: message.MessageId!,
          receiptHandle: message.ReceiptHandle!,
          body: message.Body!,
          attributes: message.Attributes as unknown as SQSRecord["attributes"],
          messageAttributes: {},
          md5OfBody: message.MD5OfBody!,
          eventSource: "aws:sqs",
          eventSourceARN: `arn:aws:sqs:${stack.region}:000000000000:${queueName}`,
          awsRegion: stack.region
        }))
      })
      const records = yield* receive
      assert.strictEqual(records.length, messages.length)
      for (const record of records) sent.set(record.messageId, messages.find(([, , body]) => body === record.body)![1])

      const fn = yield* LambdaRuntime.make({ handler: "fifo.handler", environment: Effect.succeed({ TABLE: table }) })
      const batch = (yield* response(fn, yield* fn.invoke({ Records: records }))) as unknown as SQSBatchResponse
      const failedIds = batch.batchItemFailures.map((failure) => sent.get(failure.itemIdentifier))
      // The undecodable record, the declined order and the defect; after each, the rest of its group, not handled.
      assert.deepStrictEqual(
        failedIds,
        records.map((record) => sent.get(record.messageId)).filter((id) =>
          ["bad", "o2", "o4", "o5", "o8"].includes(id!)
        )
      )
      assert.deepStrictEqual(yield* idsIn(table), ["o1", "o3", "o6", "o7", "o9"])

      // ReportBatchItemFailures: the mapping deletes the rest, and the failures come back, each group in order.
      const failures = new Set(batch.batchItemFailures.map((failure) => failure.itemIdentifier))
      for (const record of records) {
        yield* failures.has(record.messageId)
          ? SQS.changeMessageVisibility({
            QueueUrl: queueUrl,
            ReceiptHandle: record.receiptHandle,
            VisibilityTimeout: 0
          })
          : SQS.deleteMessage({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle })
      }
      const redelivered = yield* receive
      const byGroup = (rs: ReadonlyArray<SQSRecord>) =>
        Object.fromEntries(["g1", "g2", "g3", "g4"].map((group) => [
          group,
          rs.filter((r) => r.attributes.MessageGroupId === group).map((r) => sent.get(r.messageId))
        ]))
      assert.deepStrictEqual(byGroup(redelivered), { g1: ["bad", "o2"], g2: ["o4", "o5"], g3: ["o8"], g4: [] })
    }))
})
