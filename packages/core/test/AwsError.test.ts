/**
 * The classification table. Each row drives a real SDK client through a request handler that answers with the
 * exact HTTP response AWS sends, so the error classified is the SDK's own exception object.
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import { assert, describe, it } from "@effect/vitest"
import { HttpResponse } from "@smithy/protocol-http"
import { Cause, Effect, Exit, Inspectable, Logger, Redacted, Tracer } from "effect"
import { Readable } from "node:stream"
import * as util from "node:util"
import { AwsError, Credentials, CredentialsProvider, ManagedClient, Resilience, RetryPolicy } from "../src/index.js"

type Reply =
  | { readonly status: number; readonly headers: Record<string, string>; readonly body: string }
  | { readonly errno: string }

const json = (status: number, type: string, message: string, queryError?: string): Reply => ({
  status,
  headers: {
    "content-type": "application/x-amz-json-1.0",
    "x-amzn-requestid": "REQ-1234",
    ...(queryError ? { "x-amzn-query-error": queryError } : {})
  },
  body: JSON.stringify({ __type: type, message })
})

const xml = (status: number, code: string, message: string, type = "Sender"): Reply => ({
  status,
  headers: { "content-type": "text/xml", "x-amzn-requestid": "REQ-1234" },
  body: `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${type}</Type>` +
    `<Code>${code}</Code><Message>${message}</Message></Error><RequestId>REQ-1234</RequestId></ErrorResponse>`
})

const invalidToken = "The security token included in the request is invalid."
const expiredToken = "The security token included in the request is expired"
const denied = (action: string) =>
  `User: arn:aws:sts::123456789012:assumed-role/app-role/fn is not authorized to perform: ${action} on resource: x`

const handler = (reply: Reply) => ({
  handle: async () => {
    if ("errno" in reply) throw Object.assign(new Error("socket hang up"), { code: reply.errno })
    return {
      response: new HttpResponse({
        statusCode: reply.status,
        headers: reply.headers,
        body: Readable.from([Buffer.from(reply.body)])
      })
    }
  },
  updateHttpClientConfig: () => {},
  httpHandlerConfigs: () => ({})
})

const config = (reply: Reply) => ({
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDEXAMPLE1234", secretAccessKey: "secret" },
  maxAttempts: 1,
  requestHandler: handler(reply)
})

const services = {
  dynamodb: (reply: Reply) =>
    new DynamoDBClient(config(reply)).send(new PutItemCommand({ TableName: "t", Item: { id: { S: "1" } } })),
  sqs: (reply: Reply) =>
    new SQSClient(config(reply)).send(
      new SendMessageCommand({ QueueUrl: "https://sqs.us-east-1.amazonaws.com/1/q", MessageBody: "x" })
    ),
  sts: (reply: Reply) => new STSClient(config(reply)).send(new GetCallerIdentityCommand({}))
} as const

const operations = { dynamodb: "PutItem", sqs: "SendMessage", sts: "GetCallerIdentity" } as const

// service, case, the response AWS sends, the SDK exception name, the tag, and the tag's detail.
const table: ReadonlyArray<readonly [keyof typeof services, string, Reply, string, AwsError.AwsError["_tag"], string]> =
  [
    [
      "dynamodb",
      "invalid token",
      json(400, "com.amazon.coral.service#UnrecognizedClientException", invalidToken),
      "UnrecognizedClientException",
      "CredentialsError",
      "UnrecognizedClient"
    ],
    [
      "dynamodb",
      "expired token",
      json(400, "com.amazon.coral.service#ExpiredTokenException", expiredToken),
      "ExpiredTokenException",
      "CredentialsError",
      "ExpiredToken"
    ],
    [
      "dynamodb",
      "bad signature",
      json(
        400,
        "com.amazon.coral.service#InvalidSignatureException",
        "The request signature we calculated does not match"
      ),
      "InvalidSignatureException",
      "CredentialsError",
      "InvalidSignature"
    ],
    [
      "dynamodb",
      "no token",
      json(
        400,
        "com.amazon.coral.service#MissingAuthenticationTokenException",
        "Request is missing Authentication Token"
      ),
      "MissingAuthenticationTokenException",
      "CredentialsError",
      "MissingAuthenticationToken"
    ],
    [
      "dynamodb",
      "throughput",
      json(
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded."
      ),
      "ProvisionedThroughputExceededException",
      "ThrottlingError",
      ""
    ],
    [
      "dynamodb",
      "throttling",
      json(
        400,
        "com.amazon.coral.availability#ThrottlingException",
        "Rate of requests exceeds the allowed throughput."
      ),
      "ThrottlingException",
      "ThrottlingError",
      ""
    ],
    [
      "dynamodb",
      "500",
      json(500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"),
      "InternalServerError",
      "TransientError",
      "server"
    ],
    [
      "dynamodb",
      "503",
      json(503, "com.amazon.coral.availability#ServiceUnavailableException", "Service unavailable"),
      "ServiceUnavailableException",
      "TransientError",
      "server"
    ],
    [
      "dynamodb",
      "access denied",
      json(400, "com.amazon.coral.service#AccessDeniedException", denied("dynamodb:PutItem")),
      "AccessDeniedException",
      "AccessDeniedError",
      "arn:aws:sts::123456789012:assumed-role/app-role/fn"
    ],
    [
      "dynamodb",
      "condition",
      json(400, "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "The conditional request failed"),
      "ConditionalCheckFailedException",
      "ServiceError",
      "ConditionalCheckFailedException"
    ],
    ["dynamodb", "socket reset", { errno: "ECONNRESET" }, "Error", "TransientError", "network"],
    [
      "sqs",
      "invalid token",
      json(403, "com.amazon.coral.service#InvalidClientTokenId", invalidToken, "InvalidClientTokenId;Sender"),
      "InvalidClientTokenId",
      "CredentialsError",
      "InvalidClientTokenId"
    ],
    [
      "sqs",
      "expired token",
      json(403, "com.amazon.coral.service#ExpiredTokenException", expiredToken, "ExpiredToken;Sender"),
      "ExpiredToken",
      "CredentialsError",
      "ExpiredToken"
    ],
    [
      "sqs",
      "bad signature",
      json(
        403,
        "com.amazon.coral.service#SignatureDoesNotMatch",
        "The request signature we calculated does not match",
        "SignatureDoesNotMatch;Sender"
      ),
      "SignatureDoesNotMatch",
      "CredentialsError",
      "InvalidSignature"
    ],
    [
      "sqs",
      "throttling",
      json(400, "com.amazonaws.sqs#RequestThrottled", "Request is throttled.", "RequestThrottled;Sender"),
      "RequestThrottled",
      "ThrottlingError",
      ""
    ],
    [
      "sqs",
      "500",
      json(500, "com.amazon.coral.service#InternalFailure", "Internal failure", "InternalFailure;Receiver"),
      "InternalFailure",
      "TransientError",
      "server"
    ],
    [
      "sqs",
      "503",
      json(503, "com.amazon.coral.service#ServiceUnavailable", "Service unavailable", "ServiceUnavailable;Receiver"),
      "ServiceUnavailable",
      "TransientError",
      "server"
    ],
    [
      "sqs",
      "access denied",
      json(403, "com.amazon.coral.service#AccessDeniedException", denied("sqs:sendmessage"), "AccessDenied;Sender"),
      "AccessDenied",
      "AccessDeniedError",
      "arn:aws:sts::123456789012:assumed-role/app-role/fn"
    ],
    ["sqs", "socket reset", { errno: "ECONNRESET" }, "Error", "TransientError", "network"],
    [
      "sts",
      "invalid token",
      xml(403, "InvalidClientTokenId", invalidToken),
      "InvalidClientTokenId",
      "CredentialsError",
      "InvalidClientTokenId"
    ],
    [
      "sts",
      "expired token",
      xml(400, "ExpiredTokenException", expiredToken),
      "ExpiredTokenException",
      "CredentialsError",
      "ExpiredToken"
    ],
    [
      "sts",
      "bad signature",
      xml(403, "SignatureDoesNotMatch", "The request signature we calculated does not match"),
      "SignatureDoesNotMatch",
      "CredentialsError",
      "InvalidSignature"
    ],
    ["sts", "throttling", xml(400, "Throttling", "Rate exceeded"), "Throttling", "ThrottlingError", ""],
    [
      "sts",
      "500",
      xml(500, "InternalFailure", "Internal failure", "Receiver"),
      "InternalFailure",
      "TransientError",
      "server"
    ],
    [
      "sts",
      "503",
      xml(503, "ServiceUnavailable", "Service unavailable", "Receiver"),
      "ServiceUnavailable",
      "TransientError",
      "server"
    ],
    [
      "sts",
      "access denied",
      xml(403, "AccessDenied", denied("sts:GetCallerIdentity")),
      "AccessDenied",
      "AccessDeniedError",
      "arn:aws:sts::123456789012:assumed-role/app-role/fn"
    ],
    ["sts", "socket reset", { errno: "ECONNRESET" }, "Error", "TransientError", "network"]
  ]

const detailOf = (error: AwsError.AwsError): string => {
  switch (error._tag) {
    case "CredentialsError":
      return error.reason
    case "TransientError":
      return error.kind
    case "AccessDeniedError":
      return error.principal ?? ""
    case "ServiceError":
      return error.code
    default:
      return ""
  }
}

describe("AwsError.classify", () => {
  for (const [service, name, reply, sdkName, tag, detail] of table) {
    it.effect(`${service} ${name} -> ${tag}`, () =>
      Effect.gen(function*() {
        const thrown = yield* Effect.flip(Effect.tryPromise({ try: () => services[service](reply), catch: (e) => e }))
        assert.strictEqual((thrown as Error).name, sdkName, "the SDK raised a different exception")
        const error = AwsError.classify(thrown, { service, operation: operations[service], generation: 7 })
        assert.strictEqual(error._tag, tag)
        assert.strictEqual(detailOf(error), detail)
        if (error._tag === "CredentialsError") assert.strictEqual(error.generation, 7)
        if ("status" in reply && error._tag !== "ConfigurationError") {
          assert.strictEqual(error.httpStatus, reply.status)
          assert.strictEqual(error.requestId, "REQ-1234")
        }
        assert.isTrue(AwsError.isAwsError(error))
        assert.include(error.message, `${service}.${operations[service]}`)
      }))
  }

  it("recognises ConditionalCheckFailedException by code", () => {
    const error = AwsError.classify(
      Object.assign(new Error("The conditional request failed"), { name: "ConditionalCheckFailedException" }),
      { service: "dynamodb", operation: "PutItem", generation: 1 }
    )
    assert.isTrue(AwsError.hasCode(error, "ConditionalCheckFailedException"))
    assert.isFalse(AwsError.hasCode(error, "ResourceNotFoundException"))
  })

  it("treats a signature the SDK corrected for clock skew as transient", () => {
    const error = AwsError.classify(
      Object.assign(new Error("Signature expired"), {
        name: "InvalidSignatureException",
        $metadata: { httpStatusCode: 400, clockSkewCorrected: true }
      }),
      { service: "dynamodb", operation: "PutItem", generation: 1 }
    )
    assert.strictEqual(error._tag, "TransientError")
    assert.strictEqual(error._tag === "TransientError" && error.kind, "clockSkew")
  })

  it("keeps a rejected token a credentials failure when the SDK corrected its clock from the same response", () => {
    const error = AwsError.classify(
      Object.assign(new Error("The security token included in the request is invalid."), {
        name: "UnrecognizedClientException",
        $metadata: { httpStatusCode: 400, clockSkewCorrected: true }
      }),
      { service: "dynamodb", operation: "PutItem", generation: 3 }
    )
    assert.strictEqual(error._tag, "CredentialsError")
  })

  it("reads skew from the texts of the query services' SignatureDoesNotMatch, not from the code alone", () => {
    const context = { service: "sqs", operation: "SendMessage", generation: 1 }
    const expired = AwsError.classify(
      Object.assign(new Error("Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z"), {
        name: "SignatureDoesNotMatch",
        $metadata: { httpStatusCode: 403 }
      }),
      context
    )
    assert.strictEqual(expired._tag === "TransientError" && expired.kind, "clockSkew")
    const wrongSecret = AwsError.classify(
      Object.assign(new Error("The request signature we calculated does not match"), {
        name: "SignatureDoesNotMatch",
        $metadata: { httpStatusCode: 403 }
      }),
      context
    )
    assert.strictEqual(wrongSecret._tag, "CredentialsError")
  })

  it("names provider failures", () => {
    const error = AwsError.classify(
      Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" }),
      { service: "credentials", operation: "chain", generation: 0 }
    )
    assert.strictEqual(error._tag === "CredentialsError" && error.reason, "ProviderFailure")
  })

  it("a request withdrawn from the queue is a credentials failure of its generation that reached nothing", () => {
    const error = AwsError.classify(new AwsError.WithdrawnRequest("InvalidClientTokenId", 3), {
      service: "dynamodb",
      operation: "PutItem",
      generation: 3
    })
    assert.strictEqual(error._tag, "CredentialsError")
    assert.strictEqual(error._tag === "CredentialsError" && error.reason, "InvalidClientTokenId")
    assert.strictEqual(error._tag === "CredentialsError" && error.generation, 3)
    assert.isFalse(AwsError.mayHaveBeenProcessed(error), "a withdrawn write is safe to send again")
    assert.isTrue(AwsError.isRejectedBeforeProcessing(error))
    assert.include(error.message, "dynamodb.PutItem")
    assert.include(error.message, "not sent")
  })

  it("keeps secrets out of its messages", () => {
    const signatureMismatch = Object.assign(
      new Error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key " +
          "and signing method. The Canonical String for this request should have been 'POST\n/\n\nhost:sts.amazonaws.com\n" +
          "x-amz-security-token:IQoJb3JpZ2luX2VjEXAMPLETOKEN\n' The String-to-Sign should have been " +
          "'AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/us-east-1/sts/aws4_request'"
      ),
      { name: "SignatureDoesNotMatch", $metadata: { httpStatusCode: 403 } }
    )
    const error = AwsError.classify(signatureMismatch, {
      service: "sts",
      operation: "GetCallerIdentity",
      generation: 1
    })
    assert.strictEqual(error._tag, "CredentialsError")
    assert.notInclude(error.message, "IQoJb3JpZ2luX2VjEXAMPLETOKEN")
    assert.notInclude(error.message, "Canonical String")
    const keyInMessage = AwsError.classify(
      Object.assign(new Error("The security token for ASIAEXAMPLEKEY123456 is invalid. x-amz-security-token: abc"), {
        name: "InvalidClientTokenId"
      }),
      { service: "sqs", operation: "SendMessage", generation: 1 }
    )
    assert.include(keyInMessage.message, "****3456")
    assert.notInclude(keyInMessage.message, "ASIAEXAMPLEKEY")
    assert.notInclude(keyInMessage.message, "abc")
  })
})

describe("AwsError renderings", () => {
  // Signing credentials shaped as AWS issues them, and a service that answers SignatureDoesNotMatch quoting the
  // canonical request back, as STS and the query services do: the session token, full key id and signature arrive
  // in the error from the SDK's own parsing of the response.
  const accessKeyId = "ASIAQUOTEDKEY0009876"
  const secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYQUOTEDSECRET1"
  const sessionToken = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDquotedtoken+AAAAAAAAAAAAAAAAAAAAA="
  const echoing = {
    handle: async (request: { headers: Record<string, string> }) => {
      const authorization = request.headers["authorization"] ?? ""
      const token = request.headers["x-amz-security-token"] ?? ""
      const message = `The request signature we calculated does not match the signature you provided. ` +
        `Credential=${authorization.split("Credential=")[1] ?? ""} secret ${secretAccessKey} ` +
        `The Canonical String for this request should have been 'POST\n/\n\nx-amz-security-token:${token}\n'`
      return {
        response: new HttpResponse({
          statusCode: 403,
          headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "REQ-9" },
          body: Readable.from([Buffer.from(JSON.stringify({ __type: "InvalidSignatureException", message }))])
        })
      }
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({})
  }
  const secrets = [sessionToken, secretAccessKey, accessKeyId, "ASIAQUOTEDKEY"]
  const assertClean = (what: string, text: string) => {
    for (const secret of secrets) assert.notInclude(text, secret, `${what} shows a secret`)
    assert.notMatch(text, /Signature=[0-9a-f]{16}/, `${what} shows a signature`)
  }

  it.effect("no rendering of a rejected call shows the token, the secret, the key id or the signature", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const spans: Array<{ name: string; attributes: string; exit: string }> = []
      const capture = Logger.make(({ cause, message }) => {
        logs.push(Inspectable.toStringUnknown(message), Cause.pretty(cause, { renderErrorCause: true }))
      })
      // A tracer that keeps what an exporter would send: attributes, events and the exit of each span.
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind): Tracer.Span => {
          const attributes = new Map<string, unknown>()
          const events: Array<unknown> = []
          let status: Tracer.SpanStatus = { _tag: "Started", startTime }
          return {
            _tag: "Span",
            name,
            spanId: `span-${spans.length}`,
            traceId: "trace",
            parent,
            context,
            get status() {
              return status
            },
            attributes,
            links,
            sampled: true,
            kind,
            end: (endTime, exit) => {
              status = { _tag: "Ended", startTime, endTime, exit }
              spans.push({
                name,
                attributes: util.inspect({ attributes: Object.fromEntries(attributes), events }, { depth: 8 }),
                exit: Exit.isFailure(exit) ? Cause.pretty(exit.cause, { renderErrorCause: true }) : ""
              })
            },
            attribute: (key, value) => void attributes.set(key, value),
            event: (eventName, _time, eventAttributes) => void events.push([eventName, eventAttributes]),
            addLinks: () => {}
          }
        },
        context: (f) => f()
      })
      const error = yield* Effect.gen(function*() {
        const managed = yield* ManagedClient.make({
          service: "dynamodb",
          region: "us-east-1",
          build: (config) => new DynamoDBClient({ ...config, requestHandler: echoing })
        })
        return yield* Effect.flip(Resilience.send(managed, new PutItemCommand({ TableName: "t", Item: {} }))).pipe(
          Effect.tapErrorCause(Effect.logError),
          Effect.tap((e) => Effect.logError("call failed", e)),
          Effect.tap((e) => Effect.logError(Cause.fail(e)))
        )
      }).pipe(
        Effect.provide(Credentials.layer({
          provider: CredentialsProvider.fromStatic({
            accessKeyId,
            secretAccessKey: Redacted.make(secretAccessKey),
            sessionToken: Redacted.make(sessionToken)
          })
        })),
        Effect.provide(RetryPolicy.layer({ maxAttempts: 1, credentialsTimeout: 0 })),
        Effect.scoped,
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Effect.withTracer(tracer)
      )
      assert.strictEqual(error._tag, "CredentialsError")
      // The raw SDK exception really carried the secrets: this is what the scrubbing has to take out.
      const raw = (error.cause as Error).name
      assert.strictEqual(raw, "InvalidSignatureException")
      assertClean("message", error.message)
      assertClean("String", String(error))
      assertClean("JSON.stringify", JSON.stringify(error))
      assertClean("util.inspect", util.inspect(error, { depth: 10, showHidden: true }))
      assertClean("Cause.pretty", Cause.pretty(Cause.fail(error), { renderErrorCause: true }))
      assertClean("the cause's stack", (error.cause as Error).stack ?? "")
      assert.isAbove(logs.length, 0)
      assertClean("the logger", logs.join("\n"))
      assert.isTrue(spans.some((s) => s.name === "dynamodb.PutItem" && s.exit.includes("CredentialsError")))
      assertClean("spans", JSON.stringify(spans))
      assert.include(error.message, "****9876", "the key id is shown by its last 4 characters")
    }))

  it("scrubs what it keeps as cause, keeping the modelled fields", () => {
    const thrown = Object.assign(new Error(`x-amz-security-token=${sessionToken}&Signature=${"ab12".repeat(16)}`), {
      name: "ConditionalCheckFailedException",
      $metadata: { httpStatusCode: 400, requestId: "r" },
      Item: { id: { S: "1" } },
      $response: { body: sessionToken }
    })
    const error = AwsError.classify(thrown, { service: "dynamodb", operation: "PutItem", generation: 1 })
    assert.isTrue(AwsError.hasCode(error, "ConditionalCheckFailedException"))
    const cause = error.cause as typeof thrown
    assert.deepStrictEqual(cause.Item, { id: { S: "1" } })
    assert.strictEqual(cause.$metadata.requestId, "r")
    assert.isUndefined(cause.$response)
    assertClean("util.inspect", util.inspect(error, { depth: 10 }))
    assert.include(cause.message, "x-amz-security-token=<redacted>")
  })
})
