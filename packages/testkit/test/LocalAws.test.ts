import { CreateTableCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs"
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as CredentialsAuthority from "../src/CredentialsAuthority.js"
import * as LocalAws from "../src/LocalAws.js"
import { call, type Clients, clients, currentClients, failure, fetchCredentials, realSleep, unique } from "./utils.js"

const createTable = (client: Clients["dynamodb"], name: string) =>
  call((abortSignal) =>
    client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST"
      }),
      { abortSignal }
    )
  )

const getItem = (client: Clients["dynamodb"], table: string) =>
  call((abortSignal) => client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: "x" } } }), { abortSignal }))

const sendMessage = (client: Clients["sqs"], queueUrl: string) =>
  call((abortSignal) => client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "m" }), { abortSignal }))

const callerIdentity = (client: Clients["sts"]) =>
  call((abortSignal) => client.send(new GetCallerIdentityCommand({}), { abortSignal }))

/** One call per service with the given clients; each must fail, and the errors are returned by service. */
const failAll = (c: Clients, table: string, queueUrl: string) =>
  Effect.all({
    dynamodb: Effect.flip(getItem(c.dynamodb, table)),
    sqs: Effect.flip(sendMessage(c.sqs, queueUrl)),
    sts: Effect.flip(callerIdentity(c.sts))
  }).pipe(Effect.orDieWith(() => new Error("expected every call to fail")))

const namesAndStatuses = (errors: Record<string, { name: string; $metadata?: { httpStatusCode?: number } }>) =>
  Object.fromEntries(Object.entries(errors).map(([service, e]) => [service, [e.name, e.$metadata?.httpStatusCode]]))

/** Fixtures shared by the tests: a table and a queue created through the gateway. */
const fixtures = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const c = yield* currentClients(stack)
  const table = unique("table")
  yield* createTable(c.dynamodb, table)
  const { QueueUrl } = yield* call((abortSignal) =>
    c.sqs.send(new CreateQueueCommand({ QueueName: unique("queue") }), { abortSignal })
  )
  return { stack, table, queueUrl: QueueUrl! }
})

layer(LocalAws.layer(), { excludeTestServices: true })("LocalAws", (it) => {
  describe("valid requests", () => {
    it.effect("DynamoDB PutItem then GetItem through the gateway", () =>
      Effect.gen(function*() {
        const { stack, table } = yield* fixtures
        const c = yield* currentClients(stack)
        const before = yield* stack.gateway.stats
        yield* call((abortSignal) =>
          c.dynamodb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: "x" }, v: { N: "7" } } }), {
            abortSignal
          })
        )
        const { Item } = yield* getItem(c.dynamodb, table)
        assert.deepStrictEqual(Item, { pk: { S: "x" }, v: { N: "7" } })
        const after = yield* stack.gateway.stats
        assert.strictEqual(after.forwarded - before.forwarded, 2)
      }))

    it.effect("SQS CreateQueue, SendMessage, ReceiveMessage through the gateway", () =>
      Effect.gen(function*() {
        const { queueUrl, stack } = yield* fixtures
        const c = yield* currentClients(stack)
        const sent = yield* call((abortSignal) =>
          c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "hello" }), { abortSignal })
        )
        const { Messages } = yield* call((abortSignal) =>
          c.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }), { abortSignal })
        )
        assert.strictEqual(Messages?.length, 1)
        assert.strictEqual(Messages?.[0]?.Body, "hello")
        assert.strictEqual(Messages?.[0]?.MessageId, sent.MessageId)
      }))

    it.effect("STS GetCallerIdentity through the gateway", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        const c = yield* currentClients(stack)
        const identity = yield* callerIdentity(c.sts)
        assert.strictEqual(identity.Account, "000000000000")
        assert.strictEqual(identity.$metadata.httpStatusCode, 200)
      }))
  })

  describe("authentication failures, as AWS answers them", () => {
    it.effect("an unknown access key id", () =>
      Effect.gen(function*() {
        const { queueUrl, stack, table } = yield* fixtures
        const current = yield* stack.authority.currentStatic
        const errors = yield* failAll(
          clients(stack, { ...current, accessKeyId: "ASIAUNKNOWNUNKNOWN00" }),
          table,
          queueUrl
        )
        assert.deepStrictEqual(namesAndStatuses(errors), {
          dynamodb: ["UnrecognizedClientException", 400],
          sqs: ["InvalidClientTokenId", 403],
          sts: ["InvalidClientTokenId", 403]
        })
        assert.strictEqual(errors.dynamodb.message, "The security token included in the request is invalid.")
      }))

    it.effect("a session token that does not belong to the key", () =>
      Effect.gen(function*() {
        const { queueUrl, stack, table } = yield* fixtures
        const current = yield* stack.authority.currentStatic
        const errors = yield* failAll(clients(stack, { ...current, sessionToken: "forged" }), table, queueUrl)
        assert.deepStrictEqual(namesAndStatuses(errors), {
          dynamodb: ["UnrecognizedClientException", 400],
          sqs: ["InvalidClientTokenId", 403],
          sts: ["InvalidClientTokenId", 403]
        })
      }))

    it.effect("a wrong secret gives a signature mismatch", () =>
      Effect.gen(function*() {
        const { queueUrl, stack, table } = yield* fixtures
        const current = yield* stack.authority.currentStatic
        const wrongSecret = `${current.secretAccessKey.slice(0, -1)}${
          current.secretAccessKey.endsWith("A") ? "B" : "A"
        }`
        const errors = yield* failAll(clients(stack, { ...current, secretAccessKey: wrongSecret }), table, queueUrl)
        assert.deepStrictEqual(namesAndStatuses(errors), {
          dynamodb: ["InvalidSignatureException", 400],
          sqs: ["SignatureDoesNotMatch", 403],
          sts: ["SignatureDoesNotMatch", 403]
        })
      }))

    it.effect("an expired token", () =>
      Effect.gen(function*() {
        const { queueUrl, stack, table } = yield* fixtures
        const current = yield* stack.authority.currentStatic
        yield* stack.authority.expire()
        const errors = yield* failAll(clients(stack, current), table, queueUrl)
        assert.deepStrictEqual(namesAndStatuses(errors), {
          dynamodb: ["ExpiredTokenException", 400],
          sqs: ["ExpiredToken", 403],
          sts: ["ExpiredToken", 403]
        })
        const lookup = yield* stack.authority.lookup(current.accessKeyId)
        assert.strictEqual(lookup.status, "expired")
        // A fresh set works again.
        yield* stack.authority.rotate()
        yield* getItem((yield* currentClients(stack)).dynamodb, table)
      }))

    it.effect("a revoked key is unknown to the gateway", () =>
      Effect.gen(function*() {
        const { queueUrl, stack, table } = yield* fixtures
        const current = yield* stack.authority.currentStatic
        yield* stack.authority.revoke()
        const errors = yield* failAll(clients(stack, current), table, queueUrl)
        assert.deepStrictEqual(namesAndStatuses(errors), {
          dynamodb: ["UnrecognizedClientException", 400],
          sqs: ["InvalidClientTokenId", 403],
          sts: ["InvalidClientTokenId", 403]
        })
        yield* stack.authority.rotate()
      }))

    it.effect("every failure carries a request id", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        const response = yield* Effect.promise(() =>
          fetch(stack.endpoints.sts, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: "Action=GetCallerIdentity&Version=2011-06-15"
          })
        )
        const body = yield* Effect.promise(() => response.text())
        assert.strictEqual(response.status, 403)
        const requestId = response.headers.get("x-amzn-requestid")
        assert.isString(requestId)
        assert.strictEqual(response.headers.get("x-amz-request-id"), requestId)
        assert.include(body, `<RequestId>${requestId}</RequestId>`)
        assert.include(body, "<Code>MissingAuthenticationToken</Code>")
      }))
  })

  describe("CredentialsAuthority", () => {
    it.effect("issues ASIA keys that expire after the ttl", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        const set = yield* stack.authority.rotate()
        assert.match(set.accessKeyId, /^ASIA[A-Z0-9]{16}$/)
        const minutes = (set.expiration.getTime() - Date.now()) / 60_000
        assert.isTrue(minutes > 59 && minutes <= 60, `expires in ${minutes} minutes`)
        assert.notInclude(String(set.secretAccessKey), CredentialsAuthority.toStatic(set).secretAccessKey)
      }))

    it.effect("rotate invalidates the previous set at once by default", () =>
      Effect.gen(function*() {
        const { stack, table } = yield* fixtures
        const previous = yield* stack.authority.currentStatic
        const next = yield* stack.authority.rotate()
        assert.notStrictEqual(next.accessKeyId, previous.accessKeyId)
        const error = yield* failure((abortSignal) =>
          clients(stack, previous).dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: "x" } } }), {
            abortSignal
          })
        )
        assert.strictEqual(error.name, "UnrecognizedClientException")
        yield* getItem((yield* currentClients(stack)).dynamodb, table)
      }))

    it.effect("rotate keeps the previous set valid during the grace period", () =>
      Effect.gen(function*() {
        const { stack, table } = yield* fixtures
        const previous = yield* stack.authority.currentStatic
        yield* stack.authority.rotate({ graceFor: "600 millis" })
        yield* getItem(clients(stack, previous).dynamodb, table)
        yield* getItem((yield* currentClients(stack)).dynamodb, table)
        yield* realSleep(700)
        const error = yield* Effect.flip(getItem(clients(stack, previous).dynamodb, table))
        assert.strictEqual(error.name, "UnrecognizedClientException")
        yield* getItem((yield* currentClients(stack)).dynamodb, table)
      }))

    it.effect("the container endpoint checks its token and serves the current set", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        const get = (headers: Record<string, string>) => fetchCredentials(stack, headers)
        const count0 = yield* stack.authority.fetchCount
        assert.strictEqual((yield* get({})).status, 401)
        assert.strictEqual((yield* get({ authorization: "wrong" })).status, 403)
        const ok = yield* fetchCredentials(stack)
        const current = yield* stack.authority.currentStatic
        assert.strictEqual(ok.status, 200)
        assert.deepStrictEqual(
          [ok.body.AccessKeyId, ok.body.SecretAccessKey, ok.body.Token, ok.body.Expiration],
          [
            current.accessKeyId,
            current.secretAccessKey,
            current.sessionToken,
            current.expiration.toISOString().replace(/\.\d{3}Z$/, "Z")
          ]
        )
        assert.strictEqual((yield* stack.authority.fetchCount) - count0, 3)
      }))

    it.effect("concurrent fetches after a revocation all get the same new set, valid at the gateway", () =>
      Effect.gen(function*() {
        const { stack, table } = yield* fixtures
        const revoked = yield* stack.authority.currentStatic
        yield* stack.authority.revoke()
        const fetched = yield* Effect.all(
          Array.from({ length: 8 }, () => Effect.map(fetchCredentials(stack), (r) => r.body)),
          { concurrency: "unbounded" }
        )
        const ids = new Set(fetched.map((body) => body.AccessKeyId))
        assert.strictEqual(ids.size, 1, `one new set, got ${[...ids].join(", ")}`)
        const [body] = fetched
        assert.notStrictEqual(body!.AccessKeyId, revoked.accessKeyId)
        assert.strictEqual((yield* stack.authority.current).accessKeyId, body!.AccessKeyId)
        assert.strictEqual((yield* stack.authority.lookup(body!.AccessKeyId!)).status, "valid")
        const fresh = clients(stack, {
          accessKeyId: body!.AccessKeyId!,
          secretAccessKey: body!.SecretAccessKey!,
          sessionToken: body!.Token!,
          expiration: new Date(body!.Expiration!)
        })
        yield* getItem(fresh.dynamodb, table)
      }))

    it.effect("an outage in fail mode answers 500 for its duration", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        const status = Effect.map(fetchCredentials(stack), (r) => r.status)
        yield* stack.authority.outage({ mode: "fail", for: "400 millis" })
        assert.strictEqual(yield* status, 500)
        yield* realSleep(500)
        assert.strictEqual(yield* status, 200)
      }))

    it.effect("an outage in hang mode does not answer", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        yield* stack.authority.outage({ mode: "hang", for: "1 second" })
        const result = yield* fetchCredentials(stack).pipe(
          Effect.map((r) => `status ${r.status}`),
          Effect.timeoutTo({ duration: "300 millis", onSuccess: (r) => r, onTimeout: () => "TimeoutError" })
        )
        assert.strictEqual(result, "TimeoutError")
        yield* realSleep(800)
      }))

    it.effect("the SDK's default chain reads the stack's env and fetches from the endpoint", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        const saved = { ...process.env }
        const count0 = yield* stack.authority.fetchCount
        const identity = yield* Effect.acquireUseRelease(
          Effect.sync(() => {
            for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]) {
              delete process.env[name]
            }
            Object.assign(process.env, stack.env)
          }),
          () => callerIdentity(new STSClient({ maxAttempts: 1 })),
          () => Effect.sync(() => (process.env = saved))
        )
        assert.strictEqual(identity.Account, "000000000000")
        assert.strictEqual((yield* stack.authority.fetchCount) - count0, 1)
      }))
  })
})
