import {
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand
} from "@aws-sdk/client-dynamodb"
import { CreateQueueCommand, SendMessageCommand } from "@aws-sdk/client-sqs"
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Net from "node:net"
import * as CredentialsAuthority from "../src/CredentialsAuthority.js"
import * as FaultPlan from "../src/FaultPlan.js"
import * as Gateway from "../src/Gateway.js"
import * as LocalAws from "../src/LocalAws.js"
import {
  call,
  type Clients,
  createTable,
  currentClients,
  directDynamoDB,
  realSleep,
  type SdkError,
  unique
} from "./utils.js"

const setup = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const c = yield* currentClients(stack)
  const table = unique("table")
  yield* createTable(c, table)
  const { QueueUrl } = yield* call((abortSignal) =>
    c.sqs.send(new CreateQueueCommand({ QueueName: unique("queue") }), { abortSignal })
  )
  return { stack, c, table, queueUrl: QueueUrl! }
})

/** Runs `use` with the plan installed, and clears the plan afterwards. */
const withPlan = <A, E, R>(plan: FaultPlan.FaultPlanEncoded, use: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const stack = yield* LocalAws.LocalAws
    yield* stack.gateway.setPlan(plan)
    return yield* use.pipe(Effect.ensuring(stack.gateway.clearPlan))
  })

const getItem = (c: Clients, table: string, pk = "x") =>
  call((abortSignal) =>
    c.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } } }), { abortSignal })
  )

const putItem = (c: Clients, table: string, pk: string) =>
  call((abortSignal) =>
    c.dynamodb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: pk } } }), { abortSignal })
  )

const errorOf = <A>(effect: Effect.Effect<A, SdkError>) =>
  Effect.map(Effect.flip(effect).pipe(Effect.orDieWith(() => new Error("expected a failure"))), (e) => ({
    name: e.name,
    status: e.$metadata?.httpStatusCode
  }))

layer(LocalAws.layer(), { excludeTestServices: true })("Gateway", (it) => {
  describe("fault injection", () => {
    it.effect("throttle, status500 and status503 answer with each service's error", () =>
      Effect.gen(function*() {
        const { c, queueUrl, table } = yield* setup
        const observed: Record<string, unknown> = {}
        for (const fault of ["throttle", "status500", "status503"] as const) {
          const rules = (["dynamodb", "sqs", "sts"] as const).map((service) => ({ service, fault, probability: 1 }))
          observed[fault] = yield* withPlan(
            { seed: 1, rules },
            Effect.all([
              errorOf(getItem(c, table)),
              errorOf(call((s) =>
                c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "m" }), { abortSignal: s })
              )),
              errorOf(call((s) =>
                c.sts.send(new GetCallerIdentityCommand({}), { abortSignal: s })
              ))
            ])
          )
        }
        assert.deepStrictEqual(observed, {
          throttle: [
            { name: "ProvisionedThroughputExceededException", status: 400 },
            { name: "RequestThrottled", status: 400 },
            { name: "Throttling", status: 400 }
          ],
          status500: [
            { name: "InternalServerError", status: 500 },
            { name: "InternalError", status: 500 },
            { name: "InternalFailure", status: 500 }
          ],
          status503: [
            { name: "ServiceUnavailable", status: 503 },
            { name: "ServiceUnavailable", status: 503 },
            { name: "ServiceUnavailable", status: 503 }
          ]
        })
      }))

    it.effect("a rule matches its operation only", () =>
      Effect.gen(function*() {
        const { c, table } = yield* setup
        yield* withPlan(
          { seed: 1, rules: [{ service: "dynamodb", operation: "PutItem", fault: "status500", probability: 1 }] },
          Effect.gen(function*() {
            yield* getItem(c, table)
            assert.strictEqual((yield* errorOf(putItem(c, table, "p"))).name, "InternalServerError")
          })
        )
      }))

    it.effect("reset drops the connection before the backend sees the request", () =>
      Effect.gen(function*() {
        const { c, stack, table } = yield* setup
        const error = yield* withPlan(
          { seed: 1, rules: [{ service: "dynamodb", operation: "PutItem", fault: "reset", probability: 1 }] },
          Effect.flip(putItem(c, table, "reset-me"))
        )
        assert.match(`${error.code ?? ""} ${error.name} ${error.message}`, /ECONNRESET|socket hang up/)
        const { Item } = yield* getItem({ ...c, dynamodb: directDynamoDB(stack) }, table, "reset-me")
        assert.isUndefined(Item)
      }))

    it.effect("lostResponse commits the write but the client sees a failure", () =>
      Effect.gen(function*() {
        const { c, stack, table } = yield* setup
        const error = yield* withPlan(
          { seed: 1, rules: [{ service: "dynamodb", operation: "PutItem", fault: "lostResponse", probability: 1 }] },
          Effect.flip(putItem(c, table, "lost"))
        )
        assert.match(`${error.code ?? ""} ${error.name} ${error.message}`, /ECONNRESET|socket hang up/)
        const { Item } = yield* getItem({ ...c, dynamodb: directDynamoDB(stack) }, table, "lost")
        assert.deepStrictEqual(Item, { pk: { S: "lost" } })
      }))

    it.effect("latency delays the request, which then succeeds", () =>
      Effect.gen(function*() {
        const { c, stack, table } = yield* setup
        yield* stack.gateway.resetStats
        const elapsed = yield* withPlan(
          { seed: 1, rules: [{ service: "dynamodb", fault: "latency", latencyMs: 300, probability: 1 }] },
          Effect.gen(function*() {
            const start = Date.now()
            yield* getItem(c, table)
            return Date.now() - start
          })
        )
        assert.isAtLeast(elapsed, 300)
        assert.strictEqual((yield* stack.gateway.stats).byOutcome.latency, 1)
      }))

    it.effect("times bounds the number of injections", () =>
      Effect.gen(function*() {
        const { c, table } = yield* setup
        const outcomes = yield* withPlan(
          { seed: 1, rules: [{ service: "dynamodb", fault: "throttle", probability: 1, times: 2 }] },
          Effect.forEach([1, 2, 3, 4], () =>
            Effect.match(getItem(c, table), { onFailure: (e) => e.name, onSuccess: () => "ok" }))
        )
        assert.deepStrictEqual(outcomes, [
          "ProvisionedThroughputExceededException",
          "ProvisionedThroughputExceededException",
          "ok",
          "ok"
        ])
      }))

    it.effect("the same seed injects the same sequence; another seed another one", () =>
      Effect.gen(function*() {
        const { c, table } = yield* setup
        const run = (seed: number) =>
          withPlan(
            { seed, rules: [{ service: "dynamodb", operation: "GetItem", fault: "throttle", probability: 0.5 }] },
            Effect.forEach(
              Array.from({ length: 24 }),
              () => Effect.match(getItem(c, table), { onFailure: () => "T", onSuccess: () => "." })
            ).pipe(Effect.map((outcomes) => outcomes.join("")))
          )
        const first = yield* run(42)
        const again = yield* run(42)
        const other = yield* run(7)
        assert.strictEqual(again, first)
        assert.notStrictEqual(other, first)
        assert.include(first, "T")
        assert.include(first, ".")
      }))
  })

  describe("unprocessed", () => {
    const pks = (table: string, stack: LocalAws.Service) =>
      call((abortSignal) =>
        directDynamoDB(stack).send(new ScanCommand({ TableName: table, ConsistentRead: true }), { abortSignal })
      ).pipe(Effect.map(({ Items = [] }) => Items.map((item) => item.pk!.S!).sort()))
    const puts = (...keys: ReadonlyArray<string>) => keys.map((pk) => ({ PutRequest: { Item: { pk: { S: pk } } } }))

    it.effect("BatchWriteItem writes the first half of each table's requests and returns the rest", () =>
      Effect.gen(function*() {
        const { c, stack, table } = yield* setup
        const other = unique("table")
        yield* createTable(c, other)
        yield* stack.gateway.resetStats
        const output = yield* withPlan(
          { seed: 1, rules: [{ service: "dynamodb", fault: "unprocessed", probability: 1 }] },
          call((abortSignal) =>
            c.dynamodb.send(
              new BatchWriteItemCommand({
                RequestItems: { [table]: puts("a0", "a1", "a2", "a3", "a4"), [other]: puts("b0", "b1") }
              }),
              { abortSignal }
            )
          )
        )
        assert.deepStrictEqual(output.UnprocessedItems, { [table]: puts("a3", "a4"), [other]: puts("b1") })
        assert.deepStrictEqual(yield* pks(table, stack), ["a0", "a1", "a2"])
        assert.deepStrictEqual(yield* pks(other, stack), ["b0"])
        const stats = yield* stack.gateway.stats
        assert.deepStrictEqual(stats.byOutcome, { unprocessed: 1 })
        assert.strictEqual(stats.forwarded, 1)
      }))

    it.effect("other operations and services ignore the rule, which keeps its budget", () =>
      Effect.gen(function*() {
        const { c, queueUrl, stack, table } = yield* setup
        yield* stack.gateway.resetStats
        const rules = (["dynamodb", "sqs", "sts"] as const).map((service) => ({
          service,
          fault: "unprocessed" as const,
          probability: 1,
          times: 1
        }))
        const output = yield* withPlan(
          { seed: 1, rules },
          Effect.gen(function*() {
            yield* putItem(c, table, "p")
            yield* getItem(c, table, "p")
            yield* call((s) =>
              c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "m" }), { abortSignal: s })
            )
            yield* call((s) => c.sts.send(new GetCallerIdentityCommand({}), { abortSignal: s }))
            return yield* call((abortSignal) =>
              c.dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: puts("q0", "q1") } }), {
                abortSignal
              })
            )
          })
        )
        assert.deepStrictEqual(output.UnprocessedItems, { [table]: puts("q1") })
        assert.deepStrictEqual((yield* stack.gateway.stats).byOutcome, { ok: 4, unprocessed: 1 })
      }))
  })

  describe("plans", () => {
    it.effect("setPlan rejects an invalid plan and keeps the current one", () =>
      Effect.gen(function*() {
        const { stack } = yield* setup
        const plan = { seed: 5, rules: [{ service: "sqs" as const, fault: "throttle" as const, probability: 0.5 }] }
        yield* stack.gateway.setPlan(plan)
        const error = yield* Effect.flip(
          stack.gateway.setPlan({ seed: 6, rules: [{ service: "dynamodb", fault: "reset", probability: 2 }] })
        )
        assert.strictEqual(error._tag, "FaultPlanError")
        assert.include(error.message, "rules[0].probability")
        assert.deepStrictEqual(yield* stack.gateway.plan, plan)
        yield* stack.gateway.clearPlan
        assert.deepStrictEqual(yield* stack.gateway.plan, FaultPlan.empty)
      }))
  })

  describe("stats", () => {
    it.effect("counts requests by outcome and service", () =>
      Effect.gen(function*() {
        const { c, stack, table } = yield* setup
        yield* stack.gateway.resetStats
        yield* getItem(c, table)
        yield* call((s) => c.sts.send(new GetCallerIdentityCommand({}), { abortSignal: s }))
        yield* withPlan(
          { seed: 3, rules: [{ service: "dynamodb", fault: "status503", probability: 1 }] },
          Effect.flip(getItem(c, table))
        )
        const stranger = { ...c, dynamodb: (yield* currentClients(stack)).dynamodb }
        yield* stack.authority.revoke()
        yield* Effect.flip(getItem(stranger, table))
        yield* stack.authority.rotate()
        const stats = yield* stack.gateway.stats
        assert.deepStrictEqual(stats, {
          total: 4,
          forwarded: 2,
          byOutcome: { ok: 2, status503: 1, unrecognizedClient: 1 },
          byService: {
            dynamodb: { total: 3, byOutcome: { ok: 1, status503: 1, unrecognizedClient: 1 } },
            sts: { total: 1, byOutcome: { ok: 1 } }
          }
        })
        yield* stack.gateway.resetStats
        assert.strictEqual((yield* stack.gateway.stats).total, 0)
      }))
  })
})

describe("ports", () => {
  const holdPort = Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer()
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

  it.scopedLive("a taken gateway port gives a PortInUseError naming it", () =>
    Effect.gen(function*() {
      const server = yield* holdPort
      const port = (server.address() as Net.AddressInfo).port
      const error = yield* Effect.flip(Effect.scoped(LocalAws.make({ gatewayPort: port })))
      assert.strictEqual(error._tag, "PortInUseError")
      assert.strictEqual(error.message, `gateway cannot listen on 127.0.0.1:${port}: the port is already in use`)
    }))

  it.scopedLive("a taken credentials port gives a PortInUseError too", () =>
    Effect.gen(function*() {
      const server = yield* holdPort
      const port = (server.address() as Net.AddressInfo).port
      const error = yield* Effect.flip(Effect.scoped(LocalAws.make({ credentialsPort: port })))
      assert.strictEqual(error._tag, "PortInUseError")
      assert.include(error.message, `127.0.0.1:${port}`)
    }))
})

describe("startup and shutdown", () => {
  it.scopedLive("an invalid initial plan fails the stack with FaultPlanError", () =>
    Effect.gen(function*() {
      const plan = { seed: 1.5, rules: [] }
      const error = yield* Effect.flip(Effect.scoped(LocalAws.make({ plan })))
      assert.strictEqual(error._tag, "FaultPlanError")
      assert.include(error.message, "seed")
    }))

  it.scopedLive("closing the gateway's scope interrupts the requests in flight", () =>
    Effect.gen(function*() {
      // A backend that only counts what reaches it.
      let reached = 0
      const backend = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((_, response) => {
            reached++
            response.end("{}")
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const url = `http://127.0.0.1:${(backend.address() as Net.AddressInfo).port}`
      const authority = yield* CredentialsAuthority.make()
      const scope = yield* Scope.make()
      const gateway = yield* Gateway.make({
        backends: { dynamodb: url, sqs: url, sts: url },
        plan: { seed: 1, rules: [{ service: "dynamodb", fault: "latency", latencyMs: 400, probability: 1 }] }
      }).pipe(
        Effect.provideService(CredentialsAuthority.CredentialsAuthority, authority),
        Scope.extend(scope)
      )
      const client = new DynamoDBClient({
        region: "us-east-1",
        endpoint: gateway.url,
        credentials: yield* authority.currentStatic,
        maxAttempts: 1
      })
      const request = client.send(new GetItemCommand({ TableName: "t", Key: { pk: { S: "x" } } })).then(
        () => "answered",
        (error: Error) => error.name
      )
      yield* realSleep(100)
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      const outcome = yield* Effect.promise(() => request)
      assert.isBelow(Date.now() - started, 300, "the scope closed without waiting for the latency")
      assert.notStrictEqual(outcome, "answered")
      yield* realSleep(500)
      assert.strictEqual(reached, 0, "the interrupted request never reached the backend")
      client.destroy()
    }))
})

layer(LocalAws.layer())("Gateway under the TestClock", (it) => {
  it.effect("injected latency runs on wall-clock time, so a request is not stuck", () =>
    Effect.gen(function*() {
      const { c, table } = yield* setup
      const start = Date.now()
      yield* withPlan(
        { seed: 1, rules: [{ service: "dynamodb", fault: "latency", latencyMs: 100, probability: 1 }] },
        getItem(c, table)
      )
      assert.isAtLeast(Date.now() - start, 100)
    }))
})
