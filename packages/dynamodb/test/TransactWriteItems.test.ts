/**
 * The idempotency token of `transactWriteItems` across retries. Dynalite has no TransactWriteItems, so a real SDK
 * client talks to a request handler that answers, in turn, with DynamoDB's exact responses (or loses the response,
 * as a reset socket does) and records every request body the SDK serialized.
 */
import { Credentials, type CredentialsProvider, RetryPolicy } from "@aws-resilience/core"
import { assert, describe, it } from "@effect/vitest"
import { type HttpRequest, HttpResponse } from "@smithy/protocol-http"
import { Effect, FastCheck as fc, Layer } from "effect"
import { Readable } from "node:stream"
import { DynamoDB } from "../src/index.js"

const faults = ["lostResponse", "throttle", "status500", "status503", "expiredToken"] as const
type Fault = typeof faults[number]

const json = (status: number, type: string, message: string) => ({
  status,
  body: JSON.stringify({ __type: type, message })
})

const replies: Record<Exclude<Fault, "lostResponse"> | "ok", { readonly status: number; readonly body: string }> = {
  ok: { status: 200, body: "{}" },
  throttle: json(
    400,
    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "The level of configured provisioned throughput for the table was exceeded."
  ),
  status500: json(500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"),
  status503: json(503, "com.amazon.coral.service#ServiceUnavailable", "Service Unavailable"),
  expiredToken: json(
    400,
    "com.amazon.coral.service#ExpiredTokenException",
    "The security token included in the request is expired"
  )
}

/** Answers the n-th request with `script[n]`, success once the script has run out, and records the bodies. */
const recordingHandler = (script: ReadonlyArray<Fault | "ok">) => {
  const bodies: Array<string> = []
  const requestHandler = {
    handle: async (request: HttpRequest) => {
      bodies.push(typeof request.body === "string" ? request.body : new TextDecoder().decode(request.body))
      const step = script[bodies.length - 1] ?? "ok"
      // The request reached the service and was applied; its response never arrives.
      if (step === "lostResponse") throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })
      const reply = replies[step]
      return {
        response: new HttpResponse({
          statusCode: reply.status,
          headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": `REQ-${bodies.length}` },
          body: Readable.from([Buffer.from(reply.body)])
        })
      }
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({})
  }
  return { bodies, requestHandler }
}

const rotatingProvider = (): CredentialsProvider.Provider => {
  let loads = 0
  return {
    name: "rotating",
    load: Effect.sync(() => ({ accessKeyId: `AKIATEST${++loads}`, secretAccessKey: "s", sessionToken: `t${loads}` }))
  }
}

const layerFor = (requestHandler: ReturnType<typeof recordingHandler>["requestHandler"]) =>
  Layer.merge(
    DynamoDB.layer({ region: "us-east-1", clientConfig: { requestHandler } }).pipe(
      // A source with a new set at every load, as a container endpoint after an expiry: an expired token is renewed
      // and retried at once.
      Layer.provide(Credentials.layer({ provider: rotatingProvider() }))
    ),
    // No backoff: the property is about what is sent, not when.
    RetryPolicy.layer({ maxAttempts: 6, baseDelay: 0, throttlingBaseDelay: 0 })
  )

const tokenOf = (body: string): unknown => (JSON.parse(body) as { ClientRequestToken?: unknown }).ClientRequestToken

describe("transactWriteItems", () => {
  it.effect.prop(
    "every attempt of one call carries the same ClientRequestToken, and each call its own unless the caller gives one",
    [
      fc.array(fc.constantFrom(...faults), { maxLength: 4 }),
      fc.array(fc.constantFrom(...faults), { maxLength: 4 }),
      fc.option(fc.uuid(), { nil: undefined })
    ],
    ([first, second, given]) =>
      Effect.gen(function*() {
        const { bodies, requestHandler } = recordingHandler([...first, "ok", ...second, "ok"])
        const input = {
          TransactItems: [{ Put: { TableName: "t", Item: { id: { S: "a" } } } }],
          ...(given === undefined ? {} : { ClientRequestToken: given })
        }
        // One effect run twice: two logical calls.
        const write = DynamoDB.transactWriteItems(input)
        yield* write.pipe(Effect.zipRight(write), Effect.provide(layerFor(requestHandler)))

        assert.strictEqual(bodies.length, first.length + second.length + 2, "every fault was retried once")
        const tokens = bodies.map(tokenOf)
        const firstCall = tokens.slice(0, first.length + 1)
        const secondCall = tokens.slice(first.length + 1)
        for (const token of tokens) assert.isTrue(typeof token === "string" && token.length > 0)
        assert.deepStrictEqual(new Set(firstCall).size, 1, `first call's attempts: ${firstCall.join(", ")}`)
        assert.deepStrictEqual(new Set(secondCall).size, 1, `second call's attempts: ${secondCall.join(", ")}`)
        if (given === undefined) {
          assert.notStrictEqual(firstCall[0], secondCall[0])
          assert.notProperty(input, "ClientRequestToken", "the caller's input is left as it was")
        } else {
          assert.strictEqual(firstCall[0], given)
          assert.strictEqual(secondCall[0], given)
        }
      }),
    { fastCheck: { numRuns: 30 } }
  )
})
