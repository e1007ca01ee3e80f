/**
 * `pnpm example`: both functions of the example, end to end, on the testkit's local stack, and what happened.
 *
 * 1. The local stack (dynalite and fauxqs behind the SigV4-checking gateway, and the credentials authority) starts,
 *    and this process's SDK is pointed at it; the table, the FIFO queue and its dead-letter queue are created as the
 *    CDK stack creates them.
 * 2. `api.ts` and `consumer.ts` are bundled by `infra/bundle.ts`, as the stack deploys them, and each runs under the
 *    real runtime interface client (`aws-lambda-ric` on Node 22) against the testkit's Lambda Runtime API emulator
 *    (`LambdaEnvironment`): one execution environment at a time, replaced when it ends.
 * 3. The API Lambda gets N events as API Gateway requests, a few at a time, with a bad one among them; a client
 *    retries a request that got no answer (a function error), as an API client retries a 502. When a third have been
 *    answered, the authority revokes the set its environment runs with. Then the client sends one event again (a
 *    retry after a lost response) and one that conflicts with a stored one.
 * 4. The consumer Lambda is fed the queue's messages as SQS events, as an event source mapping with
 *    ReportBatchItemFailures does: batches of 10, the reported failures made visible again, the rest deleted. A
 *    stray message (an event the table does not hold, from another producer) fails until the queue moves it to the
 *    dead-letter queue. After the first batch, the authority revokes the set of the consumer's environment.
 * 5. What the table and the queues hold is read past the gateway and checked against what the callers were told.
 *
 * Exits non-zero if an acknowledged event is lost (missing from the table, never delivered, or never processed),
 * an event is stored or delivered twice, a valid event is never acknowledged, or a request got the wrong status.
 *
 *   pnpm example [--events 40] [--concurrency 8] [--verbose]
 */
import { Credentials, RetryPolicy } from "@aws-resilience/core"
import { DynamoDB } from "@aws-resilience/dynamodb"
import { SQS } from "@aws-resilience/sqs"
import { GroundTruth, LambdaEnvironment, type LambdaRuntimeApi, LocalAws } from "@aws-resilience/testkit"
import type { APIGatewayProxyEvent, SQSBatchResponse, SQSRecord } from "aws-lambda"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { bundleHandlers } from "../infra/bundle.js"
import { HandlerEnv } from "../infra/EventIngestStack.js"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")

const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name)
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback
  return Number.isInteger(value) && value > 0 ? value : fallback
}
const eventCount = flag("--events", 40)
const concurrency = flag("--concurrency", 8)
const verbose = process.argv.includes("--verbose")

/** As the CDK stack sets them (`EventIngestStack`): receives before dead-lettering, and the consumer's batch size. */
const maxReceiveCount = 5
const batchSize = 10
const apiTimeout = "10 seconds"
const consumerTimeout = "30 seconds"
const clientAttempts = 4

// ---- the pieces Lambda brings ------------------------------------------------------------------------------------

/** `aws-lambda-ric`: this package's, if it has one, else the one `@aws-resilience/lambda` tests with. */
const runtimeClient = (): string => {
  const from = [
    import.meta.url,
    pathToFileURL(Path.join(packageDir, "..", "..", "packages", "lambda", "package.json")).href
  ]
  for (const base of from) {
    try {
      return createRequire(base).resolve("aws-lambda-ric")
    } catch {
      // next
    }
  }
  throw new Error("aws-lambda-ric is not installed (it is a dev dependency of packages/lambda)")
}

/** The bundles the stack deploys, `<dir>/api/index.mjs` and `<dir>/consumer/index.mjs`; removed on close. */
const bundles = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "event-ingest-bundles-"))
    bundleHandlers({ srcDir: Path.join(packageDir, "src"), outDir: dir })
    return dir
  }),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const kb = (file: string): string => `${(Fs.statSync(file).size / 1000).toFixed(0)} KB`

// ---- requests ----------------------------------------------------------------------------------------------------

interface Request {
  readonly label: string
  /** The event id, when the request carries a valid event. */
  readonly id: string | undefined
  readonly body: string
  /** The status the caller must end up with. */
  readonly expect: number
}

interface Attempt {
  readonly outcome: string
  readonly status: number | undefined
  readonly body: Record<string, unknown> | undefined
}

interface Sent {
  readonly request: Request
  readonly attempts: ReadonlyArray<Attempt>
  readonly final: Attempt
}

const eventId = (i: number) => `evt-${String(i).padStart(3, "0")}`
const eventBody = (id: string, payload: Record<string, unknown>) =>
  JSON.stringify({ id, source: "event-ingest-example", payload })

let requests = 0

/** An API Gateway (REST, proxy integration) request as Lambda receives it. */
const apiGatewayEvent = (body: string): APIGatewayProxyEvent => {
  const requestId = `api-${String(requests++).padStart(4, "0")}`
  return {
    resource: "/events",
    path: "/events",
    httpMethod: "POST",
    headers: { "content-type": "application/json" },
    multiValueHeaders: { "content-type": ["application/json"] },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      resourceId: "events",
      resourcePath: "/events",
      httpMethod: "POST",
      path: "/prod/events",
      stage: "prod",
      requestId,
      requestTimeEpoch: Date.now(),
      protocol: "HTTP/1.1",
      authorizer: null,
      identity: { sourceIp: "127.0.0.1", userAgent: "event-ingest-example" }
    } as unknown as APIGatewayProxyEvent["requestContext"],
    body,
    isBase64Encoded: false
  }
}

const describe = (outcome: LambdaRuntimeApi.Outcome): Attempt => {
  switch (outcome._tag) {
    case "Response": {
      const response = outcome.body as { readonly statusCode?: number; readonly body?: string }
      const body = typeof response.body === "string" ? JSON.parse(response.body) as Record<string, unknown> : undefined
      const status = response.statusCode
      const what = body?.stored ?? body?.error ?? ""
      return { outcome: `${status} ${String(what)}`.trim(), status, body }
    }
    case "Error":
      return { outcome: `function error ${outcome.errorType}`, status: undefined, body: undefined }
    case "Timeout":
      return { outcome: "function timeout", status: undefined, body: undefined }
  }
}

// ---- the event source mapping ------------------------------------------------------------------------------------

const queueArn = (queueUrl: string, region: string): string => {
  const [account, name] = new URL(queueUrl).pathname.split("/").filter((part) => part !== "")
  return `arn:aws:sqs:${region}:${account}:${name}`
}

type Message = NonNullable<Effect.Effect.Success<ReturnType<typeof SQS.receiveMessage>>["Messages"]>[number]

const toRecord = (message: Message, arn: string, region: string): SQSRecord => ({
  messageId: message.MessageId!,
  receiptHandle: message.ReceiptHandle!,
  body: message.Body!,
  attributes: message.Attributes as unknown as SQSRecord["attributes"],
  messageAttributes: {},
  md5OfBody: message.MD5OfBody!,
  eventSource: "aws:sqs",
  eventSourceARN: arn,
  awsRegion: region
})

// ---- the run -----------------------------------------------------------------------------------------------------

const masked = (accessKeyId: string) => `****${accessKeyId.slice(-4)}`

/** Polls (wall clock) until `until` holds. */
const waitFor = <A>(read: Effect.Effect<A>, until: (a: A) => boolean) =>
  read.pipe(Effect.repeat({ until, schedule: Schedule.spaced("2 millis") }), Effect.asVoid)

const program = Effect.gen(function*() {
  const started = Date.now()
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
  const stack = yield* LocalAws.LocalAws
  const region = stack.region

  // The runtime's Node and the bundles (a synchronous build) at once.
  const nodeFiber = yield* Effect.fork(LambdaEnvironment.findNode(22))
  const bundleDir = yield* bundles
  const node = yield* Fiber.join(nodeFiber)
  const ric = runtimeClient()
  const nodeVersion = execFileSync(node, ["--version"]).toString().trim()

  // What the stack creates: the table keyed `id`, the FIFO queue and its FIFO dead-letter queue.
  const tableName = "events"
  yield* DynamoDB.ensureTable({
    TableName: tableName,
    KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
    AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
    BillingMode: "PAY_PER_REQUEST"
  })
  const deadLetterUrl = (yield* SQS.createQueue({
    QueueName: "events-dead-letter.fifo",
    Attributes: { FifoQueue: "true" }
  })).QueueUrl!
  const queueUrl = (yield* SQS.createQueue({
    QueueName: "events.fifo",
    Attributes: {
      FifoQueue: "true",
      ContentBasedDeduplication: "false",
      VisibilityTimeout: "180",
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queueArn(deadLetterUrl, region), maxReceiveCount })
    }
  })).QueueUrl!

  yield* Console.log(
    [
      `event-ingest end to end: aws-lambda-ric on Node ${nodeVersion}, the Lambda Runtime API emulator, the local stack`,
      `  bundles (infra/bundle.ts): api ${kb(Path.join(bundleDir, "api", "index.mjs"))}, consumer ${
        kb(Path.join(bundleDir, "consumer", "index.mjs"))
      }`,
      `  table ${tableName}; queue events.fifo, dead-letter queue events-dead-letter.fifo after ${maxReceiveCount} receives`,
      `  ready in ${elapsed()}`
    ].join("\n")
  )

  const lambda = (name: "api" | "consumer", environment: Record<string, string>) =>
    LambdaEnvironment.make({
      node,
      runtimeClient: ric,
      taskRoot: Path.join(bundleDir, name),
      handler: "index.handler",
      functionName: `event-ingest-${name}`,
      environment: Effect.succeed(environment),
      echo: verbose
    })

  // ---- the API Lambda ----------------------------------------------------------------------------------------------
  const api = yield* lambda("api", {
    [HandlerEnv.tableName]: tableName,
    [HandlerEnv.queueUrl]: queueUrl
  })
  const events = Array.from({ length: eventCount }, (_, i) => eventId(i + 1))
  const payloadOf = (id: string) => ({ n: Number(id.slice(4)) })
  const burst: Array<Request> = events.map((id) => ({
    label: id,
    id,
    body: eventBody(id, payloadOf(id)),
    expect: 201
  }))
  // The bad one, in the middle of the burst: no id.
  burst.splice(Math.floor(eventCount / 2), 0, {
    label: "bad",
    id: undefined,
    body: JSON.stringify({ source: "event-ingest-example", payload: {} }),
    expect: 400
  })

  // A client that retries what got no answer (a function error or a timeout, a 502 or 504 from API Gateway).
  const send = (request: Request): Effect.Effect<Sent, LambdaRuntimeApi.LambdaRuntimeApiError> =>
    Effect.gen(function*() {
      const attempts: Array<Attempt> = []
      while (true) {
        const attempt = describe(yield* api.invoke(apiGatewayEvent(request.body), { timeout: apiTimeout }))
        attempts.push(attempt)
        if (attempt.status !== undefined || attempts.length >= clientAttempts) {
          return { request, attempts, final: attempt }
        }
        yield* Effect.sleep("50 millis")
      }
    })

  const revokeAt = Math.max(1, Math.floor(eventCount / 3))
  const revokedApi = yield* Effect.fork(Effect.gen(function*() {
    yield* waitFor(api.api.stats, (stats) => stats.responses >= revokeAt)
    const environment = (yield* api.environments).at(-1)!
    yield* stack.authority.revoke(environment.accessKeyId)
    return { environment: environment.id, accessKeyId: environment.accessKeyId }
  }))
  const sent: Array<Sent> = [...yield* Effect.forEach(burst, send, { concurrency })]
  // Should the API answer too few, there is nothing to revoke during the burst.
  const apiRevocation = Option.getOrUndefined(yield* Fiber.join(revokedApi).pipe(Effect.timeoutOption("1 second")))
  // A retry after a lost response, and a different event under a stored id.
  const duplicateId = events[Math.min(6, events.length - 1)]!
  const conflictId = events[Math.min(2, events.length - 1)]!
  sent.push(
    yield* send({
      label: "duplicate",
      id: duplicateId,
      body: eventBody(duplicateId, payloadOf(duplicateId)),
      expect: 200
    })
  )
  sent.push(
    yield* send({
      label: "conflict",
      id: undefined,
      body: eventBody(conflictId, { n: -1, changed: true }),
      expect: 409
    })
  )
  const retried = sent.filter((s) => s.attempts.length > 1).map((s) =>
    `    ${s.request.label}: ${s.attempts.map((attempt) => attempt.outcome).join(" -> ")}`
  )
  yield* Console.log(
    [
      "",
      `API Lambda: ${sent.length} requests (${eventCount} events, 1 bad, 1 retried duplicate of ${duplicateId}, ` +
      `1 conflicting with ${conflictId}), ${concurrency} at a time`,
      apiRevocation === undefined
        ? `  fewer than ${revokeAt} answers: nothing revoked`
        : `  after ${revokeAt} answers, the authority revoked ${
          masked(apiRevocation.accessKeyId)
        }, the set of environment ${apiRevocation.environment}`,
      `  retried by the client (no answer: API Gateway's 502):`,
      ...(retried.length > 0 ? retried : ["    none"]),
      `  done in ${elapsed()}`
    ].join("\n")
  )

  // ---- a stray message -------------------------------------------------------------------------------------------
  const strayId = "stray-001"
  yield* SQS.sendMessage({
    QueueUrl: queueUrl,
    MessageBody: eventBody(strayId, { from: "another producer" }),
    MessageGroupId: strayId,
    MessageDeduplicationId: strayId
  })

  // ---- the consumer Lambda, fed by an event source mapping ----------------------------------------------------------
  const consumer = yield* lambda("consumer", { [HandlerEnv.tableName]: tableName })
  const arn = queueArn(queueUrl, region)
  const deliveries = new Map<string, Set<string>>()
  let received = 0
  let batches = 0
  let itemFailures = 0
  const invocationErrors = new Map<string, number>()
  let consumerRevocation: { readonly environment: number; readonly accessKeyId: string } | undefined
  for (let round = 0; round < 100; round++) {
    const output = yield* SQS.receiveMessage({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: batchSize,
      VisibilityTimeout: 180,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ["All"]
    })
    const records = (output.Messages ?? []).map((message) => toRecord(message, arn, region))
    if (records.length === 0) break
    received += records.length
    for (const record of records) {
      const id = (JSON.parse(record.body) as { readonly id?: string }).id ?? "?"
      deliveries.set(id, (deliveries.get(id) ?? new Set()).add(record.messageId))
    }
    batches++
    const outcome = yield* consumer.invoke({ Records: records }, { timeout: consumerTimeout })
    // ReportBatchItemFailures: the failures come back, the rest are deleted; a failed invocation returns the batch.
    const failed = new Set(
      outcome._tag === "Response"
        ? (outcome.body as SQSBatchResponse).batchItemFailures.map((failure) => failure.itemIdentifier)
        : records.map((record) => record.messageId)
    )
    if (outcome._tag === "Response") itemFailures += failed.size
    else {
      const type = outcome._tag === "Error" ? outcome.errorType : "Timeout"
      invocationErrors.set(type, (invocationErrors.get(type) ?? 0) + 1)
    }
    yield* Effect.forEach(records, (record) =>
      failed.has(record.messageId)
        // On AWS the message comes back when its visibility timeout ends; here at once.
        ? SQS.changeMessageVisibility({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: 0 })
        : SQS.deleteMessage({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle }), {
      concurrency: 4,
      discard: true
    })
    if (consumerRevocation === undefined) {
      const environment = (yield* consumer.environments).at(-1)!
      yield* stack.authority.revoke(environment.accessKeyId)
      consumerRevocation = { environment: environment.id, accessKeyId: environment.accessKeyId }
    }
  }
  yield* Console.log(
    [
      "",
      `Consumer Lambda: ${batches} batches of up to ${batchSize} from the queue, with ReportBatchItemFailures`,
      consumerRevocation === undefined ?
        "  no batch" :
        `  after the first batch, the authority revoked ${
          masked(consumerRevocation.accessKeyId)
        }, the set of environment ${consumerRevocation.environment}`,
      `  a stray message (${strayId}, an event the table does not hold) fails until it is dead-lettered`,
      `  done in ${elapsed()}`
    ].join("\n")
  )

  // ---- what the backends hold ----------------------------------------------------------------------------------------
  const items = yield* GroundTruth.scanTable(tableName)
  const left = yield* GroundTruth.drainQueue(queueUrl)
  const deadLettered = yield* GroundTruth.drainQueue(deadLetterUrl)
  const idOf = (body: string | undefined) => (JSON.parse(body ?? "{}") as { readonly id?: string }).id ?? "?"
  const deadIds = deadLettered.map((message) => idOf(message.Body))
  const byId = new Map(items.map((item) => [item.id?.S ?? "?", item]))
  const acknowledged = new Set(
    sent.filter((s) => s.request.id !== undefined && (s.final.status === 201 || s.final.status === 200)).map((s) =>
      s.request.id!
    )
  )
  const messageIds = new Set(sent.flatMap((s) => s.attempts.flatMap((a) => a.body?.messageId ?? [])))

  const problems: Array<string> = []
  const problem = (what: string, ids: ReadonlyArray<string>) => {
    if (ids.length > 0) problems.push(`${what}: ${ids.length} (${ids.slice(0, 5).join(", ")})`)
  }
  problem("valid events never acknowledged", events.filter((id) => !acknowledged.has(id)))
  problem(
    "requests with the wrong final status",
    sent.filter((s) => s.final.status !== s.request.expect).map((s) => `${s.request.label}: ${s.final.outcome}`)
  )
  problem("lost: acknowledged, not in the table", [...acknowledged].filter((id) => !byId.has(id)))
  problem("lost: acknowledged, never delivered", [...acknowledged].filter((id) => !deliveries.has(id)))
  problem(
    "lost: acknowledged, not processed",
    [...acknowledged].filter((id) => byId.get(id)?.processedAt?.S === undefined)
  )
  problem("lost: dead-lettered", deadIds.filter((id) => id !== strayId))
  problem("left on the queue", left.map((message) => idOf(message.Body)))
  problem(
    "stored twice",
    items.filter((item) => Number(item.writes?.N ?? "1") > 1).map((item) => item.id?.S ?? "?")
  )
  problem("stored, not in the burst", [...byId.keys()].filter((id) => !events.includes(id)))
  problem(
    "overwritten by the conflicting event",
    [conflictId].filter((id) => byId.get(id)?.body?.S !== undefined && byId.get(id)!.body!.S!.includes("changed"))
  )
  problem(
    "delivered twice (two messages for one event)",
    [...deliveries].filter(([, ids]) => ids.size > 1).map(([id]) => id)
  )
  const violations = [...yield* api.api.violations, ...yield* consumer.api.violations]
  problem("Runtime API violations", violations.map((v) => `${v.kind} ${v.path}`))

  // ---- the summary -------------------------------------------------------------------------------------------------
  const attempts = sent.flatMap((s) => s.attempts)
  const byOutcome = new Map<string, number>()
  for (const attempt of attempts) byOutcome.set(attempt.outcome, (byOutcome.get(attempt.outcome) ?? 0) + 1)
  const apiEnvironments = yield* api.environments
  const consumerEnvironments = yield* consumer.environments
  const all = [...apiEnvironments, ...consumerEnvironments]
  const inits = (environments: ReadonlyArray<LambdaEnvironment.ExecutionEnvironment>) =>
    environments.map((e) => e.initMs === undefined ? "-" : e.initMs.toFixed(0)).join(", ")
  const exits = (environments: ReadonlyArray<LambdaEnvironment.ExecutionEnvironment>) =>
    environments.map((e) => e.exit === undefined ? "running" : `exit ${e.exit.code ?? e.exit.signal}`).join(", ")
  const rows: Array<string | readonly [string, string | number]> = [
    "",
    "Summary",
    ["API invocations (client attempts)", attempts.length],
    ...[...byOutcome].sort(([a], [b]) => a.localeCompare(b)).map(([outcome, n]) => [`  ${outcome}`, n] as const),
    ["  client retries", attempts.length - sent.length],
    ["events acknowledged (201 or 200)", `${acknowledged.size} / ${eventCount}`],
    ["stored items", items.length],
    ["  stored twice", items.filter((item) => Number(item.writes?.N ?? "1") > 1).length],
    ["  processed by the consumer", items.filter((item) => item.processedAt?.S !== undefined).length],
    ["messages enqueued (distinct message ids)", messageIds.size],
    [
      "  delivered to the consumer (distinct; the stray too)",
      [...deliveries.values()].reduce((n, ids) => n + ids.size, 0)
    ],
    ["  deliveries, redeliveries included", received],
    ["  dead-lettered", deadIds.length === 0 ? "0" : `${deadIds.length} (${deadIds.join(", ")})`],
    ["  left on the queue", left.length],
    ["consumer invocations (batches)", batches],
    ["  batch item failures", itemFailures],
    ...[...invocationErrors].map(([type, n]) => [`  failed invocations (${type})`, n] as const),
    ["environments started", `api ${apiEnvironments.length}, consumer ${consumerEnvironments.length}`],
    ["  api: init ms; end", `${inits(apiEnvironments)}; ${exits(apiEnvironments)}`],
    ["  consumer: init ms; end", `${inits(consumerEnvironments)}; ${exits(consumerEnvironments)}`],
    ["credential sets revoked", [apiRevocation, consumerRevocation].filter((r) => r !== undefined).length],
    ["credential sets given to environments", new Set(all.map((e) => e.accessKeyId)).size],
    ["credential fetches (endpoint, this process's SDK)", yield* stack.authority.fetchCount],
    ["wall time", elapsed()],
    ""
  ]
  const width = Math.max(...rows.map((row) => typeof row === "string" ? 0 : row[0].length))
  yield* Console.log(
    rows.map((row) => typeof row === "string" ? row : `  ${row[0].padEnd(width)}  ${row[1]}`)
      .join("\n")
  )
  if (problems.length > 0) {
    yield* Console.error(`FAILED\n${problems.map((p) => `  ${p}`).join("\n")}`)
    if (!verbose) {
      const tail = (output: string) => output.split("\n").slice(-20).join("\n")
      yield* Console.error(
        `\nthe API's environments, last lines:\n${tail(yield* api.output)}\n\n` +
          `the consumer's environments, last lines:\n${tail(yield* consumer.output)}`
      )
    }
    return 1
  }
  yield* Console.log(
    "Nothing lost, nothing stored or delivered twice: every valid event was acknowledged, stored once and processed."
  )
  return 0
})

const Live = Layer.mergeAll(DynamoDB.layerConfig(), SQS.layerConfig()).pipe(
  Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layerConfig())),
  Layer.provideMerge(LocalAws.layerWithEnv({ sqsFifoGroupBatches: true }))
)

const exit = await Effect.runPromiseExit(
  program.pipe(
    Effect.scoped,
    Effect.provide(Live),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
if (Exit.isFailure(exit)) console.error(exit.cause)
process.exit(Exit.isSuccess(exit) ? exit.value : 2)
