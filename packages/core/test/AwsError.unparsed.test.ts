/**
 * Responses the SDK cannot make sense of, from a real `node:http` server started by each test: an emulator's or a
 * proxy's XML or HTML on DynamoDB's and SQS's JSON protocol, bodies without a code, error-type headers only. The SDK
 * throws what it throws (a `SyntaxError` with a hidden `$response`, or `Unknown`); `AwsError.classify` reads the code
 * from the status, the headers and (with `AwsError.keepErrorBodies`) the body. Then the program's own codes
 * (`AwsError.Codes`), and the renderings of what is kept.
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, FastCheck as fc, Layer } from "effect"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import * as util from "node:util"
import { AwsError } from "../src/index.js"

interface Reply {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
}

/** A server on 127.0.0.1 answering every request with `reply` (given the request's headers), for the scope. */
const serve = (reply: (headers: IncomingHttpHeaders) => Reply) =>
  Effect.acquireRelease(
    Effect.async<{ readonly endpoint: string; readonly close: () => Promise<void> }>((resume) => {
      const server = createServer((request, response) => {
        request.resume()
        request.on("end", () => {
          const { body = "", headers = {}, status } = reply(request.headers)
          response.writeHead(status, headers)
          response.end(body)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({
          endpoint: `http://127.0.0.1:${port}`,
          close: () =>
            new Promise<void>((done) => {
              server.closeAllConnections()
              server.close(() => done())
            })
        }))
      })
    }),
    (server) => Effect.promise(server.close)
  )

const accessKeyId = "ASIAUNPARSEDKEY00042"
const secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYUNPARSEDSEC1"
const sessionToken = "IQoJb3JpZ2luX2VjEUNPARSED//////////wEaCXVzLWVhc3QtMSJHMEUCIQDunparsedtoken+AAAAAAAAAAAAAAAA="

type Service = "dynamodb" | "sqs" | "sts"

const operations: Record<Service, string> = { dynamodb: "PutItem", sqs: "SendMessage", sts: "GetCallerIdentity" }

const withPlugin = <C extends { middlewareStack: { use: (plugin: typeof AwsError.keepErrorBodies) => void } }>(
  client: C,
  keep: boolean
): C => {
  if (keep) client.middlewareStack.use(AwsError.keepErrorBodies)
  return client
}

/** One real request of `service` to `endpoint`; what the SDK threw. */
const thrownBy = (service: Service, endpoint: string, keep: boolean) => {
  const config = {
    region: "us-east-1",
    endpoint,
    maxAttempts: 1,
    credentials: { accessKeyId, secretAccessKey, sessionToken }
  }
  const send = (): { readonly destroy: () => void; readonly sent: Promise<unknown> } => {
    switch (service) {
      case "dynamodb": {
        const client = withPlugin(new DynamoDBClient(config), keep)
        return { destroy: () => client.destroy(), sent: client.send(new PutItemCommand({ TableName: "t", Item: {} })) }
      }
      case "sqs": {
        const client = withPlugin(new SQSClient({ ...config, useQueueUrlAsEndpoint: false }), keep)
        return {
          destroy: () => client.destroy(),
          sent: client.send(new SendMessageCommand({ QueueUrl: `${endpoint}/1/q`, MessageBody: "x" }))
        }
      }
      case "sts": {
        const client = withPlugin(new STSClient(config), keep)
        return { destroy: () => client.destroy(), sent: client.send(new GetCallerIdentityCommand({})) }
      }
    }
  }
  return Effect.acquireUseRelease(
    Effect.sync(send),
    ({ sent }) => Effect.flip(Effect.tryPromise({ try: () => sent, catch: (e) => e })),
    ({ destroy }) => Effect.sync(destroy)
  )
}

const contextOf = (service: Service): AwsError.Context => ({ service, operation: operations[service], generation: 4 })

/** The SDK's error and its classification, for one reply. */
const roundTrip = (service: Service, reply: Reply, options: { keep?: boolean; codes?: AwsError.Codes } = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* serve(() => reply)
    const thrown = yield* thrownBy(service, server.endpoint, options.keep ?? false)
    return {
      thrown: thrown as Error & Record<string, any>,
      error: AwsError.classify(thrown, contextOf(service), options.codes)
    }
  }))

const emulatorXml = (code: string, message: string) =>
  `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error>` +
  `<RequestId>REQ-42</RequestId></ErrorResponse>`

const invalidToken = "The security token included in the request is invalid."

/** The emulator's answer to a rejected token: XML as `text/html`, no error-type header. */
const emulatorRejection: Reply = {
  status: 403,
  headers: { "content-type": "text/html", "x-amzn-requestid": "REQ-42" },
  body: emulatorXml("InvalidClientTokenId", invalidToken)
}

const detailOf = (error: AwsError.AwsError): string =>
  error._tag === "CredentialsError"
    ? error.reason
    : error._tag === "TransientError"
    ? error.kind
    : error._tag === "AccessDeniedError"
    ? error.principal ?? ""
    : ""

const codeOf = (error: AwsError.AwsError): string | undefined =>
  error._tag === "ConfigurationError" ? undefined : error.code

describe("what the SDK throws for a response it cannot parse", () => {
  for (const service of ["dynamodb", "sqs"] as const) {
    it.effect(`${service}: a SyntaxError with the status in $metadata and the drained response hidden in $response`, () =>
      Effect.gen(function*() {
        const { thrown } = yield* roundTrip(service, emulatorRejection)
        assert.strictEqual(thrown.name, "SyntaxError")
        assert.match(thrown.message, /is not valid JSON\n {2}Deserialization error: to see the raw response/)
        assert.deepStrictEqual(Object.keys(thrown), ["$metadata"], "only $metadata is enumerable")
        assert.strictEqual(thrown.$metadata.httpStatusCode, 403)
        assert.strictEqual(thrown.$metadata.requestId, "REQ-42")
        assert.isUndefined(thrown.$fault)
        assert.isUndefined(thrown.$responseBodyText, "the JSON protocols parse bytes and keep no text")
        assert.isFalse(Object.prototype.propertyIsEnumerable.call(thrown, "$response"))
        const response = thrown.$response
        assert.strictEqual(response.statusCode, 403)
        assert.strictEqual(response.headers["content-type"], "text/html")
        // It is the response: nothing of the signed request (authorization, token) is in it.
        assert.isUndefined(response.headers["authorization"])
        assert.isUndefined(response.headers["x-amz-security-token"])
        assert.notInclude(util.inspect(response, { depth: 1 }), sessionToken)
        // The body stream was read by the deserializer and is gone.
        assert.isFalse(response.body instanceof Uint8Array || typeof response.body === "string")
      }))

    it.effect(`${service}: with keepErrorBodies the body stays readable on $response`, () =>
      Effect.gen(function*() {
        const { thrown } = yield* roundTrip(service, emulatorRejection, { keep: true })
        assert.strictEqual(thrown.name, "SyntaxError")
        assert.instanceOf(thrown.$response.body, Uint8Array)
        assert.include(new TextDecoder().decode(thrown.$response.body), "<Code>InvalidClientTokenId</Code>")
      }))
  }

  it.effect("sts: an XML parser error keeps the body text in $responseBodyText", () =>
    Effect.gen(function*() {
      const { thrown } = yield* roundTrip("sts", {
        status: 403,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ Error: { Code: "ExpiredToken", Message: "expired", Type: "Sender" } })
      })
      assert.strictEqual(thrown.name, "Error")
      assert.match(thrown.message, /XML parse error/)
      assert.include(thrown.$responseBodyText, "ExpiredToken")
    }))
})

// service, case, reply, with keepErrorBodies, the tag, its detail, the code, the status.
const table: ReadonlyArray<
  readonly [Service, string, Reply, boolean, AwsError.AwsError["_tag"], string, string, number]
> = [
  [
    "dynamodb",
    "emulator XML, body kept",
    emulatorRejection,
    true,
    "CredentialsError",
    "InvalidClientTokenId",
    "InvalidClientTokenId",
    403
  ],
  [
    "sqs",
    "emulator XML, body kept",
    emulatorRejection,
    true,
    "CredentialsError",
    "InvalidClientTokenId",
    "InvalidClientTokenId",
    403
  ],
  ["dynamodb", "emulator XML, body lost", emulatorRejection, false, "ServiceError", "", "UnparseableResponse", 403],
  ["sqs", "emulator XML, body lost", emulatorRejection, false, "ServiceError", "", "UnparseableResponse", 403],
  [
    "dynamodb",
    "x-amzn-ErrorType with a URL",
    {
      status: 400,
      headers: {
        "content-type": "text/html",
        "x-amzn-ErrorType": "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/"
      },
      body: "<html><body>Bad token</body></html>"
    },
    false,
    "CredentialsError",
    "UnrecognizedClient",
    "UnrecognizedClientException",
    400
  ],
  [
    "sqs",
    "x-amzn-query-error",
    {
      status: 403,
      headers: { "content-type": "text/html", "x-amzn-query-error": "ExpiredToken;Sender" },
      body: "<html>expired</html>"
    },
    false,
    "CredentialsError",
    "ExpiredToken",
    "ExpiredToken",
    403
  ],
  [
    "sqs",
    "x-amzn-query-error, another code",
    {
      status: 400,
      headers: { "content-type": "text/html", "x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender" },
      body: "<html>no queue</html>"
    },
    false,
    "ServiceError",
    "",
    "AWS.SimpleQueueService.NonExistentQueue",
    400
  ],
  [
    "dynamodb",
    "XML throttling",
    { status: 400, headers: { "content-type": "text/xml" }, body: emulatorXml("Throttling", "Rate exceeded") },
    true,
    "ThrottlingError",
    "",
    "Throttling",
    400
  ],
  [
    "sqs",
    "429 HTML",
    { status: 429, headers: { "content-type": "text/html" }, body: "<html>Too Many Requests</html>" },
    false,
    "ThrottlingError",
    "",
    "UnparseableResponse",
    429
  ],
  [
    "dynamodb",
    "XML access denied",
    {
      status: 403,
      headers: { "content-type": "text/html" },
      body: emulatorXml(
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/app/fn is not authorized to perform: dynamodb:PutItem"
      )
    },
    true,
    "AccessDeniedError",
    "arn:aws:sts::123456789012:assumed-role/app/fn",
    "AccessDeniedException",
    403
  ],
  [
    "sqs",
    "XML 500",
    { status: 500, headers: { "content-type": "text/html" }, body: emulatorXml("InternalFailure", "boom") },
    true,
    "TransientError",
    "server",
    "InternalFailure",
    500
  ],
  [
    "dynamodb",
    "HTML 503, no code",
    { status: 503, headers: { "content-type": "text/html" }, body: "<html>Service Unavailable</html>" },
    false,
    "TransientError",
    "server",
    "UnparseableResponse",
    503
  ],
  [
    "sqs",
    "HTML 502, no code, body kept",
    { status: 502, headers: { "content-type": "text/html" }, body: "<html>Bad Gateway</html>" },
    true,
    "TransientError",
    "server",
    "UnparseableResponse",
    502
  ],
  [
    "dynamodb",
    "SDK's Unknown, code in x-amzn-query-error",
    { status: 403, headers: { "x-amzn-query-error": "InvalidClientTokenId;Sender" } },
    false,
    "CredentialsError",
    "InvalidClientTokenId",
    "InvalidClientTokenId",
    403
  ],
  [
    "sts",
    "SDK's Unknown, code in x-amzn-query-error",
    {
      status: 400,
      headers: { "content-type": "text/html", "x-amzn-query-error": "Throttling;Sender" },
      body: "<html>slow down</html>"
    },
    false,
    "ThrottlingError",
    "",
    "Throttling",
    400
  ],
  [
    "sts",
    "a JSON body on the XML protocol",
    {
      status: 403,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ __type: "com.amazon.coral.service#ExpiredTokenException", message: "expired" })
    },
    false,
    "CredentialsError",
    "ExpiredToken",
    "ExpiredTokenException",
    403
  ],
  [
    "sts",
    "a query-compatible JSON body on the XML protocol",
    {
      status: 403,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ Error: { Code: "InvalidClientTokenId", Message: invalidToken, Type: "Sender" } })
    },
    false,
    "CredentialsError",
    "InvalidClientTokenId",
    "InvalidClientTokenId",
    403
  ],
  ["dynamodb", "SDK's Unknown, nothing to read", { status: 403 }, false, "ServiceError", "", "Unknown", 403]
]

describe("AwsError.classify of a response the SDK could not make sense of", () => {
  for (const [service, name, reply, keep, tag, detail, code, status] of table) {
    it.effect(`${service} ${name} -> ${tag} ${code}`, () =>
      Effect.gen(function*() {
        const { error, thrown } = yield* roundTrip(service, reply, { keep })
        assert.include(["SyntaxError", "Unknown", "Error"], thrown.name, "the SDK parsed it after all")
        assert.strictEqual(error._tag, tag)
        assert.strictEqual(detailOf(error), detail)
        assert.strictEqual(codeOf(error), code)
        assert.notStrictEqual(codeOf(error), "SyntaxError")
        if (error._tag === "ConfigurationError") return assert.fail("not a configuration error")
        assert.strictEqual(error.httpStatus, status)
        if (error._tag === "CredentialsError") assert.strictEqual(error.generation, 4)
        assert.include(error.message, `${service}.${operations[service]}`)
        assert.notInclude(error.message, "hidden field", "the SDK's hint names a field that is not kept")
        if (name !== "SDK's Unknown, nothing to read") {
          const cause = error.cause as Error & { code: string; httpStatus: number; cause: Error }
          assert.strictEqual(cause.name, "RawResponse")
          assert.strictEqual(cause.code, code)
          assert.strictEqual(cause.httpStatus, status)
          assert.strictEqual(cause.cause.name, thrown.name, "the SDK's error is kept as the cause's cause")
        }
      }))
  }

  it.effect("keeps the recovered message and the request id, and says what could not be read", () =>
    Effect.gen(function*() {
      const { error } = yield* roundTrip("dynamodb", emulatorRejection, { keep: true })
      assert.strictEqual(error._tag, "CredentialsError")
      assert.strictEqual(
        error.message,
        `dynamodb.PutItem: credentials rejected (InvalidClientTokenId, generation 4): ${invalidToken} ` +
          "(HTTP 403, request id REQ-42)"
      )
      const lost = yield* roundTrip("sqs", emulatorRejection)
      assert.match(
        lost.error.message,
        /^sqs\.SendMessage: UnparseableResponse: the SDK could not parse the response \(text\/html\): Unexpected token/
      )
      assert.strictEqual(lost.error._tag !== "ConfigurationError" && lost.error.requestId, "REQ-42")
    }))

  it("a request id from the body is used only when no header gave one", () => {
    const error = AwsError.classify(
      Object.assign(new SyntaxError("Unexpected token '<'"), {
        $metadata: { httpStatusCode: 403 },
        $response: { statusCode: 403, headers: {}, body: emulatorXml("ExpiredToken", "expired") }
      }),
      contextOf("sqs")
    )
    assert.strictEqual(error._tag === "CredentialsError" && error.requestId, "REQ-42")
  })

  it("a SyntaxError with no HTTP exchange is left as it is", () => {
    const error = AwsError.classify(new SyntaxError("Unexpected end of JSON input"), contextOf("dynamodb"))
    assert.strictEqual(error._tag === "ServiceError" && error.code, "SyntaxError")
  })

  it("a network error is never read as a response", () => {
    const error = AwsError.classify(
      Object.assign(new Error("socket hang up"), { code: "ECONNRESET", $metadata: { httpStatusCode: 502 } }),
      contextOf("dynamodb")
    )
    assert.strictEqual(error._tag === "TransientError" && error.code, "ECONNRESET")
  })
})

describe("AwsError.Codes", () => {
  const emulator: AwsError.Codes = {
    BadToken: AwsError.meansCredentials("InvalidClientTokenId"),
    PleaseWait: AwsError.meansThrottling,
    Hiccup: AwsError.meansTransient(),
    NotYours: AwsError.meansAccessDenied
  }
  const sdkError = (name: string, status = 400) =>
    Object.assign(new Error(`${name} happened`), { name, $fault: "client", $metadata: { httpStatusCode: status } })

  it.effect("an emulator's own code, parsed by the SDK, is classified as the program says", () =>
    Effect.gen(function*() {
      const reply: Reply = {
        status: 400,
        headers: { "content-type": "application/x-amz-json-1.0" },
        body: JSON.stringify({ __type: "emulator#BadToken", message: "bad token" })
      }
      const plain = yield* roundTrip("dynamodb", reply)
      assert.strictEqual(plain.thrown.name, "BadToken")
      assert.strictEqual(plain.error._tag === "ServiceError" && plain.error.code, "BadToken")
      const extended = yield* roundTrip("dynamodb", reply, { codes: emulator })
      assert.strictEqual(extended.error._tag, "CredentialsError")
      assert.strictEqual(extended.error._tag === "CredentialsError" && extended.error.reason, "InvalidClientTokenId")
      assert.strictEqual(extended.error._tag === "CredentialsError" && extended.error.code, "BadToken")
    }))

  it.effect("and so is a code read from a body the SDK could not parse", () =>
    Effect.gen(function*() {
      const reply: Reply = {
        status: 503,
        headers: { "content-type": "text/html" },
        body: emulatorXml("PleaseWait", "slow down")
      }
      const plain = yield* roundTrip("sqs", reply, { keep: true })
      assert.strictEqual(plain.error._tag === "TransientError" && plain.error.code, "PleaseWait")
      const { error } = yield* roundTrip("sqs", reply, { keep: true, codes: emulator })
      assert.strictEqual(error._tag, "ThrottlingError")
      assert.strictEqual(error._tag === "ThrottlingError" && error.code, "PleaseWait")
    }))

  it("the program's codes take precedence over the built-in rules", () => {
    const context = contextOf("dynamodb")
    assert.strictEqual(AwsError.classify(sdkError("ThrottlingException"), context)._tag, "ThrottlingError")
    assert.strictEqual(
      AwsError.classify(sdkError("ThrottlingException"), context, { ThrottlingException: AwsError.meansService })._tag,
      "ServiceError"
    )
    assert.strictEqual(AwsError.classify(sdkError("Hiccup"), context, emulator)._tag, "TransientError")
    const denied = AwsError.classify(
      Object.assign(sdkError("NotYours"), { message: "User: arn:aws:iam::1:user/me is not authorized" }),
      context,
      emulator
    )
    assert.strictEqual(denied._tag === "AccessDeniedError" && denied.principal, "arn:aws:iam::1:user/me")
    // By errno too.
    const refused = AwsError.classify(
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      context,
      { ECONNREFUSED: AwsError.meansService }
    )
    assert.strictEqual(refused._tag, "ServiceError")
  })

  it("fromCode honours them", () => {
    const info = { ...contextOf("sqs"), message: "slow down" }
    assert.strictEqual(AwsError.fromCode("PleaseWait", info)._tag, "ServiceError")
    assert.strictEqual(AwsError.fromCode("PleaseWait", info, emulator)._tag, "ThrottlingError")
    const credentials = AwsError.fromCode("BadToken", info, emulator)
    assert.strictEqual(credentials._tag === "CredentialsError" && credentials.generation, 4)
  })

  it.prop(
    "any code: the program's meaning wins, and no name (Object.prototype's included) breaks the built-in rules",
    [
      fc.oneof(fc.string(), fc.constantFrom("constructor", "toString", "__proto__", "hasOwnProperty", "valueOf")),
      fc.constantFrom<readonly [AwsError.AwsError["_tag"], AwsError.Meaning]>(
        ["CredentialsError", AwsError.meansCredentials("ExpiredToken")],
        ["ThrottlingError", AwsError.meansThrottling],
        ["TransientError", AwsError.meansTransient("network")],
        ["AccessDeniedError", AwsError.meansAccessDenied],
        ["ServiceError", AwsError.meansService]
      ),
      fc.integer({ min: 400, max: 499 })
    ],
    ([code, [tag, meaning], status]) => {
      const context = contextOf("dynamodb")
      const builtIn = AwsError.classify(sdkError(code, status), context)
      assert.isTrue(AwsError.isAwsError(builtIn))
      if (builtIn._tag === "CredentialsError") assert.isString(builtIn.reason)
      const codes: AwsError.Codes = Object.defineProperty({}, code, { value: meaning, enumerable: true })
      const extended = AwsError.classify(sdkError(code, status), context, codes)
      assert.strictEqual(extended._tag, tag)
      assert.strictEqual(codeOf(extended), code === "" ? "" : code)
    }
  )

  it.effect("withCodes (data-first and data-last), nested, and layer, set the fiber's codes", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* AwsError.getCodes, {})
      const inner = yield* AwsError.getCodes.pipe(
        AwsError.withCodes({ PleaseWait: AwsError.meansService }),
        (effect) => AwsError.withCodes(effect, emulator)
      )
      assert.deepStrictEqual(inner, { ...emulator, PleaseWait: AwsError.meansService }, "the inner codes override")
      assert.deepStrictEqual(yield* AwsError.getCodes, {}, "and are gone after")
      const fromLayer = yield* AwsError.getCodes.pipe(Effect.provide(AwsError.layer(emulator)))
      assert.deepStrictEqual(fromLayer, emulator)
      const merged = yield* AwsError.getCodes.pipe(
        Effect.provide(Layer.merge(AwsError.layer({ A: AwsError.meansThrottling }), AwsError.layer(emulator)))
      )
      assert.deepStrictEqual(Object.keys(merged).sort(), ["A", ...Object.keys(emulator)].sort())
    }))

  it.effect("code outside an effect classifies with its fiber's codes through currentCodes", () =>
    Effect.gen(function*() {
      const classifiedInFiber = Effect.withFiberRuntime<AwsError.AwsError>((fiber) =>
        Effect.succeed(
          AwsError.classify(sdkError("BadToken", 403), contextOf("sqs"), fiber.getFiberRef(AwsError.currentCodes))
        )
      )
      assert.strictEqual((yield* classifiedInFiber)._tag, "ServiceError")
      assert.strictEqual((yield* AwsError.withCodes(classifiedInFiber, emulator))._tag, "CredentialsError")
      // Forked fibers inherit them.
      const forked = yield* Effect.fork(classifiedInFiber).pipe(
        Effect.flatMap((f) => f.await),
        AwsError.withCodes(emulator)
      )
      assert.strictEqual(forked._tag === "Success" && forked.value._tag, "CredentialsError")
    }))
})

describe("renderings of an error classified from a raw response", () => {
  it.effect("no rendering shows the token, the secret, the key id or the signature a server echoed back", () =>
    Effect.gen(function*() {
      // A proxy that echoes the signed request back, in its headers and its body.
      const server = yield* serve((headers) => {
        const authorization = String(headers["authorization"] ?? "")
        const token = String(headers["x-amz-security-token"] ?? "")
        return {
          status: 403,
          headers: {
            "content-type": "text/html",
            "x-echo-authorization": authorization,
            "x-echo-token": token,
            "x-amzn-requestid": "REQ-7"
          },
          body: emulatorXml(
            "InvalidClientTokenId",
            `token x-amz-security-token:${token} for ${authorization} secret ${secretAccessKey} ` +
              `The Canonical String for this request should have been 'POST\n/\n\nx-amz-security-token:${token}\n'`
          )
        }
      })
      for (const service of ["dynamodb", "sqs"] as const) {
        const thrown = yield* thrownBy(service, server.endpoint, true)
        // The raw error really holds them: this is what must not come through.
        assert.include(
          String((thrown as { $response: { headers: Record<string, string> } }).$response.headers["x-echo-token"]),
          sessionToken
        )
        const error = AwsError.classify(thrown, contextOf(service))
        assert.strictEqual(error._tag, "CredentialsError")
        const renderings = {
          message: error.message,
          string: String(error),
          json: JSON.stringify(error),
          inspect: util.inspect(error, { depth: 10, showHidden: true }),
          pretty: Cause.pretty(Cause.fail(error), { renderErrorCause: true }),
          causeStack: (error.cause as Error).stack ?? "",
          sdkStack: ((error.cause as Error).cause as Error).stack ?? ""
        }
        for (const [what, text] of Object.entries(renderings)) {
          for (const secret of [sessionToken, secretAccessKey, accessKeyId, "ASIAUNPARSEDKEY"]) {
            assert.notInclude(text, secret, `${service} ${what} shows a secret`)
          }
          assert.notMatch(text, /Signature=[0-9a-f]{16}/, `${service} ${what} shows a signature`)
          assert.notInclude(text, "x-echo-", `${service} ${what} shows the response's headers`)
        }
        assert.include(error.message, "****0042")
        assert.isUndefined((error.cause as { $response?: unknown }).$response)
        assert.isUndefined(((error.cause as Error).cause as { $response?: unknown }).$response)
      }
    }).pipe(Effect.scoped))
})
