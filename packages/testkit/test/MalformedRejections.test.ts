/**
 * Credentials rejections in the malformed shape some emulators and proxies use on the JSON protocols: 403, a
 * Query-protocol XML body under `content-type: text/html`, none of the headers the SDK reads an error code from.
 * The tests pin the wire shape and, with real `DynamoDBClient`s and `SQSClient`s, the raw error the SDK throws for
 * it: that error is what a classifier has to recognise as a credentials rejection.
 */
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb"
import { CreateQueueCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts"
import { assert, layer } from "@effect/vitest"
import { Hash } from "@smithy/hash-node"
import { HttpRequest } from "@smithy/protocol-http"
import { SignatureV4 } from "@smithy/signature-v4"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Http from "node:http"
import * as CredentialEvent from "../src/CredentialEvent.js"
import type * as CredentialsAuthority from "../src/CredentialsAuthority.js"
import * as LocalAws from "../src/LocalAws.js"
import * as Scenario from "../src/Scenario.js"
import { call, clients, currentClients, failure, realSleep, unique } from "./utils.js"

const UNKNOWN_KEY = "ASIAUNKNOWNUNKNOWN00"

const bodyOf = (code: string, message: string) =>
  new RegExp(
    `^<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message.replace(/\./g, "\\.")}` +
      `</Message></Error><RequestId>[0-9a-f-]{36}</RequestId></ErrorResponse>$`
  )

const INVALID_TOKEN = "The security token included in the request is invalid."

/**
 * A ListTables (DynamoDB) or ListQueues (SQS) request straight to the gateway: signed with `credentials`, or, without
 * them, carrying an unknown key and a made-up signature (the gateway refuses an unknown key before the signature).
 */
const rawRequest = (
  stack: LocalAws.Service,
  service: "dynamodb" | "sqs",
  credentials?: CredentialsAuthority.StaticCredentials
) =>
  Effect.promise(async () => {
    const url = new URL(stack.endpoints[service])
    const date = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "")
    const unsigned: Record<string, string> = {
      host: url.host,
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": service === "dynamodb" ? "DynamoDB_20120810.ListTables" : "AmazonSQS.ListQueues"
    }
    const headers = credentials === undefined
      ? {
        ...unsigned,
        "x-amz-date": date,
        "x-amz-security-token": "token",
        authorization: `AWS4-HMAC-SHA256 Credential=${UNKNOWN_KEY}/${date.slice(0, 8)}/${stack.region}/${service}/` +
          `aws4_request, SignedHeaders=host;x-amz-date, Signature=${"0".repeat(64)}`
      }
      : (await new SignatureV4({ credentials, region: stack.region, service, sha256: Hash.bind(null, "sha256") }).sign(
        new HttpRequest({
          method: "POST",
          protocol: "http:",
          hostname: url.hostname,
          port: Number(url.port),
          path: "/",
          headers: unsigned,
          body: "{}"
        })
      )).headers
    return new Promise<{ status: number; headers: Http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const request = Http.request(url, { method: "POST", headers }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8")
          }))
      })
      request.on("error", reject)
      request.end("{}")
    })
  })

/** The properties of an SDK error a classifier can read, with whether `$response` is enumerable. */
const rawShape = (error: unknown) => {
  const e = error as Record<string, unknown> & {
    readonly $metadata?: Record<string, unknown>
    readonly $response?: { readonly statusCode: number; readonly headers: Record<string, string> }
  }
  return {
    name: e.name,
    isSyntaxError: error instanceof SyntaxError,
    message: String(e.message).split("\n")[0],
    hint: String(e.message).split("\n")[1]?.trim(),
    $fault: e.$fault,
    $metadata: e.$metadata,
    hasResponse: "$response" in e,
    responseEnumerable: Object.keys(e).includes("$response"),
    statusCode: e.$response?.statusCode,
    contentType: e.$response?.headers["content-type"],
    errorHeaders: Object.keys(e.$response?.headers ?? {}).filter((h) => h.startsWith("x-amz")),
    hasResponseBodyText: "$responseBodyText" in e
  }
}

/** The raw error of one call with `credentials` and the SDK's default retries (which do not retry it). */
const sdkErrors = (stack: LocalAws.Service, credentials: CredentialsAuthority.StaticCredentials, queueUrl: string) =>
  Effect.gen(function*() {
    const config = { region: stack.region, credentials }
    const dynamodb = new DynamoDBClient({ ...config, endpoint: stack.endpoints.dynamodb })
    const sqs = new SQSClient({ ...config, endpoint: stack.endpoints.sqs, useQueueUrlAsEndpoint: false })
    const raw = <A>(f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (error) => error }).pipe(
        Effect.flip,
        Effect.orDieWith(() => new Error("expected the call to fail"))
      )
    return yield* Effect.all({
      dynamodb: raw(() => dynamodb.send(new GetItemCommand({ TableName: "t", Key: { pk: { S: "x" } } }))),
      sqs: raw(() => sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "m" })))
    }).pipe(Effect.ensuring(Effect.sync(() => {
      dynamodb.destroy()
      sqs.destroy()
    })))
  })

const expectedShape = {
  name: "SyntaxError",
  isSyntaxError: true,
  message: `Unexpected token '<', "<ErrorResp"... is not valid JSON`,
  hint: "Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.",
  $fault: undefined,
  // No request id: the gateway sends it only in the body, which the SDK cannot read.
  $metadata: {
    httpStatusCode: 403,
    requestId: undefined,
    extendedRequestId: undefined,
    cfId: undefined,
    attempts: 1,
    totalRetryDelay: 0
  },
  hasResponse: true,
  responseEnumerable: false,
  statusCode: 403,
  contentType: "text/html",
  errorHeaders: [],
  hasResponseBodyText: false
}

const queue = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const c = yield* currentClients(stack)
  const { QueueUrl } = yield* call((abortSignal) =>
    c.sqs.send(new CreateQueueCommand({ QueueName: unique("queue") }), { abortSignal })
  )
  return { stack, queueUrl: QueueUrl! }
})

layer(LocalAws.layer(), { excludeTestServices: true })("malformed rejections", (it) => {
  it.effect("on the wire: 403, text/html, a Query XML body and no error headers, on DynamoDB and SQS", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      yield* stack.gateway.setRejectionShape("malformed")
      const answers = yield* Effect.all([rawRequest(stack, "dynamodb"), rawRequest(stack, "sqs")]).pipe(
        Effect.ensuring(stack.gateway.setRejectionShape("aws"))
      )
      for (const answer of answers) {
        assert.strictEqual(answer.status, 403)
        assert.strictEqual(answer.headers["content-type"], "text/html")
        assert.deepStrictEqual(Object.keys(answer.headers).filter((h) => h.startsWith("x-amz")), [])
        assert.match(answer.body, bodyOf("InvalidClientTokenId", INVALID_TOKEN))
      }
      // The AWS shape again once it is set back; a signed request passes.
      const aws = yield* rawRequest(stack, "dynamodb")
      assert.strictEqual(aws.status, 400)
      assert.include(aws.body, "#UnrecognizedClientException")
      assert.strictEqual((yield* rawRequest(stack, "dynamodb", yield* stack.authority.currentStatic)).status, 200)
    }))

  it.effect("the SDK cannot parse it: the raw error DynamoDB and SQS clients throw", () =>
    Effect.gen(function*() {
      const { queueUrl, stack } = yield* queue
      const current = yield* stack.authority.currentStatic
      yield* stack.gateway.setRejectionShape("malformed")
      const errors = yield* sdkErrors(stack, { ...current, accessKeyId: UNKNOWN_KEY }, queueUrl).pipe(
        Effect.ensuring(stack.gateway.setRejectionShape("aws"))
      )
      assert.deepStrictEqual(rawShape(errors.dynamodb), expectedShape)
      assert.deepStrictEqual(rawShape(errors.sqs), expectedShape)
      // The same calls in the AWS shape, for comparison.
      const aws = yield* sdkErrors(stack, { ...current, accessKeyId: UNKNOWN_KEY }, queueUrl)
      assert.deepStrictEqual(
        [aws.dynamodb, aws.sqs].map((e) => [(e as Error).name, (e as { $fault: string }).$fault]),
        [["UnrecognizedClientException", "client"], ["InvalidClientTokenId", "client"]]
      )
    }))

  it.effect("expired tokens, revoked keys and wrong secrets are malformed too; other answers keep the AWS shape", () =>
    Effect.gen(function*() {
      const { queueUrl, stack } = yield* queue
      const valid = yield* stack.authority.currentStatic
      const c = clients(stack, valid)
      yield* stack.gateway.setRejectionShape("malformed")
      yield* Effect.gen(function*() {
        // Valid requests are not touched.
        yield* call((abortSignal) =>
          c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "m" }), { abortSignal })
        )
        const wrongSecret = yield* sdkErrors(
          stack,
          { ...valid, secretAccessKey: `${valid.secretAccessKey}x` },
          queueUrl
        )
        assert.deepStrictEqual(rawShape(wrongSecret.dynamodb), expectedShape)
        // STS speaks XML already: it keeps its own shape.
        const sts = yield* failure((abortSignal) =>
          clients(stack, { ...valid, accessKeyId: UNKNOWN_KEY }).sts.send(new GetCallerIdentityCommand({}), {
            abortSignal
          })
        )
        assert.strictEqual(sts.name, "InvalidClientTokenId")
        yield* stack.authority.expire()
        const expired = yield* sdkErrors(stack, valid, queueUrl)
        assert.deepStrictEqual(rawShape(expired.sqs), expectedShape)
        const wire = yield* rawRequest(stack, "sqs", valid)
        assert.strictEqual(wire.status, 403)
        assert.match(wire.body, bodyOf("ExpiredToken", "The security token included in the request is expired"))
        yield* stack.authority.revoke()
        assert.deepStrictEqual(rawShape((yield* sdkErrors(stack, valid, queueUrl)).dynamodb), expectedShape)
      }).pipe(Effect.ensuring(Effect.zipRight(stack.gateway.setRejectionShape("aws"), stack.authority.rotate())))
    }))

  it.effect("a window of malformed rejections ends by itself, and a Malformed event opens one", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      assert.strictEqual(yield* stack.gateway.rejectionShape, "aws")
      const startedAt = Date.now()
      yield* CredentialEvent.apply(stack.authority, { _tag: "Malformed", atMs: 0, forMs: 300 }, stack.gateway)
      assert.strictEqual(yield* stack.gateway.rejectionShape, "malformed")
      assert.strictEqual((yield* rawRequest(stack, "dynamodb")).status, 403)
      while ((yield* stack.gateway.rejectionShape) === "malformed") yield* realSleep(25)
      assert.isAtLeast(Date.now() - startedAt, 300)
      assert.strictEqual((yield* rawRequest(stack, "dynamodb")).status, 400)
      // A window over a malformed base ends back on it.
      yield* stack.gateway.setRejectionShape("malformed")
      yield* stack.gateway.setRejectionShape("aws", { for: "50 millis" })
      assert.strictEqual(yield* stack.gateway.rejectionShape, "aws")
      yield* realSleep(100)
      assert.strictEqual(yield* stack.gateway.rejectionShape, "malformed")
      yield* stack.gateway.setRejectionShape("aws")
    }))

  it.effect("Scenario.run applies Malformed events to the gateway", () =>
    Effect.gen(function*() {
      const { queueUrl, stack } = yield* queue
      const current = yield* stack.authority.currentStatic
      const program = Effect.gen(function*() {
        while ((yield* stack.gateway.rejectionShape) !== "malformed") yield* Effect.sleep(10)
        return rawShape((yield* sdkErrors(stack, { ...current, accessKeyId: UNKNOWN_KEY }, queueUrl)).sqs)
      })
      const report = yield* Scenario.run(program, { events: [{ _tag: "Malformed", atMs: 50, forMs: 5_000 }] }).pipe(
        Effect.ensuring(stack.gateway.setRejectionShape("aws"))
      )
      assert.deepStrictEqual(report.exit, Exit.succeed(expectedShape))
      assert.strictEqual(report.requests.byOutcome.unrecognizedClient, 2)
    }))
})

layer(LocalAws.layer({ rejectionShape: "malformed" }), { excludeTestServices: true })(
  "a stack started with malformed rejections",
  (it) => {
    it.effect("answers in the malformed shape from the start", () =>
      Effect.gen(function*() {
        const { queueUrl, stack } = yield* queue
        assert.strictEqual(yield* stack.gateway.rejectionShape, "malformed")
        const current = yield* stack.authority.currentStatic
        const errors = yield* sdkErrors(stack, { ...current, accessKeyId: UNKNOWN_KEY }, queueUrl)
        assert.deepStrictEqual(rawShape(errors.dynamodb), expectedShape)
        assert.deepStrictEqual((yield* stack.gateway.stats).byService.dynamodb?.byOutcome, { unrecognizedClient: 1 })
      }))
  }
)
