/**
 * The classification table. Each row drives a real SDK client through a request handler that answers with the
 * exact HTTP response AWS sends, so the error classified is the SDK's own exception object.
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import { assert, describe, it } from "@effect/vitest"
import { HttpResponse } from "@smithy/protocol-http"
import { Effect } from "effect"
import { Readable } from "node:stream"
import { AwsError } from "../src/index.js"

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

  it("names provider failures", () => {
    const error = AwsError.classify(
      Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" }),
      { service: "credentials", operation: "chain", generation: 0 }
    )
    assert.strictEqual(error._tag === "CredentialsError" && error.reason, "ProviderFailure")
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
