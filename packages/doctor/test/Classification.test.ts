/**
 * The doctor's failures go through core's classification: with the codes in force (the `codes` option,
 * `AwsError.withCodes`, `AwsError.layer`), and reading the code of a response the SDK could not parse. The endpoints
 * are a local `node:http` server answering as an emulator does. And a provider whose `expiration` is not a date makes
 * a failed check, never a defect.
 */
import * as AwsError from "@aws-resilience/core/AwsError"
import * as CredentialsProvider from "@aws-resilience/core/CredentialsProvider"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import * as Doctor from "../src/Doctor.js"
import * as Network from "../src/Network.js"
import { assertNoSecrets, cleanEnv, find, renderings, withEnv } from "./utils.js"

const key = "ASIAEMULATEDKEY12345"
const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEMULATEDKEY"
const token = `IQoJb3JpZ2luX2VjEEmulatedTokenValue${"z".repeat(120)}`

interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** A server on 127.0.0.1 answering each request as `reply` says (given its headers), for the scope. */
const serve = (reply: (headers: IncomingHttpHeaders) => Reply) =>
  Effect.acquireRelease(
    Effect.async<{ readonly endpoint: string; readonly close: () => Promise<void> }>((resume) => {
      const server = createServer((request, response) => {
        request.resume()
        request.on("end", () => {
          const { body, headers, status } = reply(request.headers)
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

const xml = (code: string, message: string) =>
  `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error>` +
  `<RequestId>REQ-9</RequestId></ErrorResponse>`

// An emulator that names a stale token `BadToken` on STS (as XML, which the SDK parses) and on DynamoDB (as XML
// marked text/html, which the SDK cannot parse), and answers SQS with AWS's own code in the same unparseable shape.
const emulator = (headers: IncomingHttpHeaders): Reply => {
  const target = String(headers["x-amz-target"] ?? "")
  if (target.startsWith("DynamoDB_")) {
    return { status: 403, headers: { "content-type": "text/html" }, body: xml("BadToken", "token rejected") }
  }
  if (target.startsWith("AmazonSQS.")) {
    return {
      status: 403,
      headers: { "content-type": "text/html" },
      body: xml("InvalidClientTokenId", "The security token included in the request is invalid.")
    }
  }
  return { status: 403, headers: { "content-type": "text/xml" }, body: xml("BadToken", "token rejected") }
}

const emulatorCodes: AwsError.Codes = { BadToken: AwsError.meansCredentials("InvalidClientTokenId") }

const provider = CredentialsProvider.fromStatic({
  accessKeyId: key,
  secretAccessKey: Redacted.make(secret),
  sessionToken: Redacted.make(token)
})

/** The doctor against the emulator, as `run` says (options and fiber); every rendering checked for the secrets. */
const againstEmulator = (
  run: (options: Doctor.Options) => Effect.Effect<Doctor.Report, never, Network.Network>,
  extra: Partial<Doctor.Options> = {}
) =>
  Effect.gen(function*() {
    const { endpoint } = yield* serve(emulator)
    yield* withEnv({
      ...cleanEnv,
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_STS: endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_SQS: endpoint
    })
    const report = yield* run({
      provider,
      table: "orders",
      queue: `${endpoint}/000000000000/orders`,
      only: ["identity", "probe"],
      timeout: "5 seconds",
      ...extra
    }).pipe(Effect.provide(Network.layer))
    assertNoSecrets(yield* renderings(report), { accessKeyId: key, secretAccessKey: secret, sessionToken: token })
    return report
  }).pipe(Effect.scoped)

const invalidTokenHint = /AWS does not know the key id/

describe("the doctor classifies with core's taxonomy and the program's codes", () => {
  it.live("without codes: the emulator's own code is a service error; AWS's code in an unparseable body is not", () =>
    Effect.gen(function*() {
      const report = yield* againstEmulator(Doctor.run)
      const identity = find(report, "identity")
      assert.strictEqual(identity.status, "fail")
      assert.strictEqual(identity.evidence["error"], "ServiceError")
      assert.strictEqual(identity.evidence["code"], "BadToken")
      const table = find(report, "probe DescribeTable orders")
      assert.strictEqual(table.evidence["error"], "ServiceError")
      assert.strictEqual(table.evidence["code"], "BadToken", "read from the body the SDK could not parse")
      assert.match(table.summary, /^BadToken: token rejected/)
      // The SDK threw a SyntaxError; the doctor reports the code the emulator sent.
      const queue = report.checks.find((c) => c.name.startsWith("probe GetQueueAttributes"))
      assert.isDefined(queue)
      assert.strictEqual(queue!.evidence["error"], "CredentialsError")
      assert.strictEqual(queue!.evidence["code"], "InvalidClientTokenId")
      assert.notMatch(queue!.summary, /SyntaxError|Deserialization/)
      assert.match(queue!.hints.join(" "), invalidTokenHint)
    }))

  it.live("the codes option: the emulator's code is a credentials failure in every check", () =>
    Effect.gen(function*() {
      const report = yield* againstEmulator(Doctor.run, { codes: emulatorCodes })
      const identity = find(report, "identity")
      assert.strictEqual(identity.evidence["error"], "CredentialsError")
      assert.strictEqual(identity.evidence["reason"], "InvalidClientTokenId")
      assert.strictEqual(identity.evidence["code"], "BadToken")
      assert.match(identity.hints.join(" "), invalidTokenHint)
      const table = find(report, "probe DescribeTable orders")
      assert.strictEqual(table.evidence["error"], "CredentialsError")
      assert.strictEqual(table.evidence["code"], "BadToken")
      assert.match(table.hints.join(" "), invalidTokenHint)
    }))

  it.live("the fiber's codes, by withCodes or by layer, are used as well", () =>
    Effect.gen(function*() {
      const viaFiber = yield* againstEmulator((options) => AwsError.withCodes(Doctor.run(options), emulatorCodes))
      assert.strictEqual(find(viaFiber, "identity").evidence["error"], "CredentialsError")
      assert.strictEqual(find(viaFiber, "probe DescribeTable orders").evidence["error"], "CredentialsError")
      const viaLayer = yield* againstEmulator((options) =>
        Doctor.run(options).pipe(Effect.provide(AwsError.layer(emulatorCodes)))
      )
      assert.strictEqual(find(viaLayer, "identity").evidence["reason"], "InvalidClientTokenId")
      // The options' codes override the fiber's.
      const overridden = yield* againstEmulator(
        (options) => AwsError.withCodes(Doctor.run(options), emulatorCodes),
        { codes: { BadToken: AwsError.meansService } }
      )
      assert.strictEqual(find(overridden, "identity").evidence["error"], "ServiceError")
    }))

  it.live("a provider's failure is classified with the codes too", () =>
    Effect.gen(function*() {
      yield* withEnv({ ...cleanEnv, AWS_REGION: "us-east-1" })
      const failing: CredentialsProvider.Provider = {
        name: "emulated-container",
        load: Effect.fail(
          Object.assign(new Error("the credentials endpoint refused the token"), {
            name: "BadToken",
            $metadata: { httpStatusCode: 403 }
          })
        )
      }
      const plain = yield* Doctor.run({ provider: failing, only: ["credentials"] }).pipe(Effect.provide(Network.layer))
      assert.strictEqual(find(plain, "credentials").evidence["reason"], "ProviderFailure")
      assert.strictEqual(find(plain, "credentials").evidence["code"], "BadToken")
      const mapped = yield* Doctor.run({ provider: failing, only: ["credentials"], codes: emulatorCodes }).pipe(
        Effect.provide(Network.layer)
      )
      const check = find(mapped, "credentials")
      assert.strictEqual(check.status, "fail")
      assert.strictEqual(check.evidence["reason"], "InvalidClientTokenId")
      assert.strictEqual(check.evidence["code"], "BadToken")
    }).pipe(Effect.scoped))
})

describe("an expiration that is not a date", () => {
  const withExpiration = (expiration: unknown): CredentialsProvider.Provider => ({
    name: "custom",
    load: Effect.succeed({
      accessKeyId: key,
      secretAccessKey: secret,
      sessionToken: token,
      expiration: expiration as Date
    })
  })

  for (
    const [what, expiration, shown] of [
      ["an Invalid Date", new Date("soon"), "Invalid Date"],
      ["a string", "soon", "\"soon\""],
      ["a number of ms", Number.NaN, "NaN"],
      ["null", null, "null"],
      ["an object", { at: "soon" }, "[object Object]"]
    ] as const
  ) {
    it.live(`${what}: a failed credentials check naming the field and the value, never a defect`, () =>
      Effect.gen(function*() {
        yield* withEnv({ ...cleanEnv, AWS_REGION: "us-east-1" })
        const exit = yield* Doctor.run({ provider: withExpiration(expiration), only: ["credentials"] }).pipe(
          Effect.provide(Network.layer),
          Effect.exit
        )
        assert.isTrue(Exit.isSuccess(exit), "Doctor.run died")
        const report = (exit as Exit.Success<Doctor.Report, never>).value
        const check = find(report, "credentials")
        assert.strictEqual(check.kind, "credentials")
        assert.strictEqual(check.status, "fail")
        assert.include(check.summary, `expiration = ${shown}`)
        assert.include(check.summary, "not a date")
        assert.strictEqual(check.evidence["expiration"], shown)
        assert.notInclude(check.evidence["timeLeft"] === undefined ? "" : String(check.evidence["timeLeft"]), "NaN")
        assert.strictEqual(report.status, "fail")
        assert.strictEqual(Doctor.exitCode(report), 1)
        assertNoSecrets(yield* renderings(report), { accessKeyId: key, secretAccessKey: secret, sessionToken: token })
      }).pipe(Effect.scoped))
  }

  it.live("the other checks still run with it, against a local endpoint, and the report renders", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* serve(() => ({
        status: 200,
        headers: { "content-type": "text/xml" },
        body: "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::000000000000:user/dev</Arn>" +
          "<UserId>AIDA</UserId><Account>000000000000</Account></GetCallerIdentityResult></GetCallerIdentityResponse>"
      }))
      yield* withEnv({ ...cleanEnv, AWS_REGION: "us-east-1", AWS_ENDPOINT_URL_STS: endpoint })
      for (const expiration of [new Date("soon"), "soon"]) {
        const report = yield* Doctor.run({
          provider: withExpiration(expiration),
          only: ["region", "credentials", "identity"]
        }).pipe(Effect.provide(Network.layer))
        assert.strictEqual(find(report, "credentials").status, "fail")
        assert.strictEqual(find(report, "region").kind, "region")
        assert.strictEqual(find(report, "identity").kind, "identity")
        const rendered = yield* renderings(report)
        assert.include(rendered["table"], "expiration")
        assertNoSecrets(rendered, { accessKeyId: key, secretAccessKey: secret, sessionToken: token })
      }
    }).pipe(Effect.scoped))
})
