/**
 * The core layers built only from the environment variables the SDK reads, against dynalite and fauxqs started
 * here, with credentials from a loopback container-credentials endpoint that this test serves.
 */
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import dynalite from "dynalite"
import { Config, Context, Effect, Layer, Logger, Option, Ref } from "effect"
import { startFauxqs } from "fauxqs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { AwsConfig, Credentials, ManagedClient, Resilience } from "../src/index.js"

const token = "local-container-token"

const startDynalite = Effect.acquireRelease(
  Effect.async<ReturnType<typeof dynalite>>((resume) => {
    const server = dynalite({ createTableMs: 0 })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

const startSqs = Effect.acquireRelease(
  Effect.promise(() => startFauxqs({ port: 0, host: "127.0.0.1", logger: false })),
  (server) => Effect.promise(() => server.stop())
).pipe(Effect.map((server) => server.address))

const serveContainerCredentials = Effect.gen(function*() {
  const fetches = yield* Ref.make(0)
  const context = yield* Layer.build(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  const server = Context.get(context, HttpServer.HttpServer)
  yield* server.serve(HttpRouter.empty.pipe(
    HttpRouter.get(
      "/role",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (request.headers["authorization"] !== token) return HttpServerResponse.text("forbidden", { status: 403 })
        const n = yield* Ref.updateAndGet(fetches, (k) => k + 1)
        return yield* HttpServerResponse.json({
          AccessKeyId: `ASIALOCALCONTAINER${n}`,
          SecretAccessKey: "container-secret",
          Token: "container-session-token",
          Expiration: new Date(Date.now() + 3_600_000).toISOString()
        })
      })
    )
  ))
  const address = server.address as HttpServer.TcpAddress
  return { uri: `http://127.0.0.1:${address.port}/role`, fetches: Ref.get(fetches) }
})

const withEnv = (vars: Record<string, string | undefined>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const saved: Record<string, string | undefined> = {}
      for (const [key, value] of Object.entries(vars)) {
        saved[key] = process.env[key]
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
      return saved
    }),
    (saved) =>
      Effect.sync(() => {
        for (const [key, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[key]
          else process.env[key] = value
        }
      })
  )

const verified: Array<string> = []
const captureVerification = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ annotations, message }) => {
    if (String(message).includes("credentials verified")) verified.push(JSON.stringify([...annotations]))
  })
)

describe("core layers from the SDK's environment", () => {
  it.live("DynamoDB and SQS calls with container credentials, verified through STS", () =>
    Effect.scoped(
      Effect.gen(function*() {
        const dynamodbEndpoint = yield* startDynalite
        const sqsEndpoint = yield* startSqs
        const endpoint = yield* serveContainerCredentials
        yield* withEnv({
          AWS_REGION: "us-east-1",
          AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
          AWS_ENDPOINT_URL_SQS: sqsEndpoint,
          AWS_ENDPOINT_URL_STS: sqsEndpoint,
          AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.uri,
          AWS_CONTAINER_AUTHORIZATION_TOKEN: token,
          AWS_ACCESS_KEY_ID: undefined,
          AWS_SECRET_ACCESS_KEY: undefined,
          AWS_SESSION_TOKEN: undefined,
          AWS_PROFILE: undefined
        })

        const credentialsContext = yield* Layer.build(Credentials.layer({ verify: true }))
        const region = yield* Config.unwrap(AwsConfig.region)
        const dynamodb = yield* ManagedClient.make({
          service: "dynamodb",
          region,
          build: (config) => new DynamoDBClient(config)
        }).pipe(Effect.provide(credentialsContext))
        const sqs = yield* ManagedClient.make({
          service: "sqs",
          region,
          build: (config) => new SQSClient({ ...config, useQueueUrlAsEndpoint: false })
        }).pipe(Effect.provide(credentialsContext))

        yield* Resilience.send(
          dynamodb,
          new CreateTableCommand({
            TableName: "events",
            KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
            AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
            BillingMode: "PAY_PER_REQUEST"
          })
        )
        yield* Resilience.send(
          dynamodb,
          new PutItemCommand({ TableName: "events", Item: { id: { S: "e-1" }, n: { N: "42" } } })
        )
        const item = yield* Resilience.send(
          dynamodb,
          new GetItemCommand({ TableName: "events", Key: { id: { S: "e-1" } } })
        )
        assert.strictEqual(item.Item?.n?.N, "42")

        const { QueueUrl } = yield* Resilience.send(sqs, new CreateQueueCommand({ QueueName: "events" }))
        yield* Resilience.send(sqs, new SendMessageCommand({ QueueUrl, MessageBody: "hello" }))
        const received = yield* Resilience.send(sqs, new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }))
        assert.strictEqual(received.Messages?.[0]?.Body, "hello")

        const credentials = Context.get(credentialsContext, Credentials.Credentials)
        const current = Option.getOrThrow(yield* credentials.current)
        assert.strictEqual(current.source, "container")
        assert.strictEqual(current.maskedAccessKeyId, "****NER1")
        assert.strictEqual(yield* endpoint.fetches, 1, "both clients share one resolution")
        assert.strictEqual(verified.length, 1, "GetCallerIdentity was called once, on the first resolution")
        assert.include(verified[0]!, "000000000000")
      }).pipe(Effect.provide(captureVerification))
    ))
})
