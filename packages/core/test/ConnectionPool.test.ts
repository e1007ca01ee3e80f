import { DescribeLimitsCommand, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb"
import { assert, describe, it } from "@effect/vitest"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { HttpResponse } from "@smithy/protocol-http"
import { Effect, Fiber, Scope } from "effect"
import * as Http from "node:http"
import { Credentials, ManagedClient, Resilience, RetryPolicy } from "../src/index.js"
import * as ConnectionPool from "../src/internal/connectionPool.js"
import { countingProvider, heldCalls, heldRequest, interruptSome } from "./fixtures.js"

// A DynamoDB-shaped server: DescribeLimits is answered at once, GetItem held until `release`. It counts the
// connections it was opened and the ones closed.
const server = Effect.gen(function*() {
  const held: Array<() => void> = []
  const stats = { opened: 0, closed: 0, received: 0 }
  const http = yield* Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        stats.received++
        request.resume()
        const answer = () => response.writeHead(200, { "content-type": "application/x-amz-json-1.0" }).end("{}")
        if (String(request.headers["x-amz-target"]).endsWith("GetItem")) held.push(answer)
        else answer()
      })
      server.on("connection", (socket) => {
        stats.opened++
        socket.once("close", () => stats.closed++)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
  const until = (condition: () => boolean) =>
    Effect.gen(function*() {
      for (let i = 0; i < 500 && !condition(); i++) yield* Effect.sleep("10 millis")
      assert.isTrue(condition(), "the server saw what it waited for")
    })
  return {
    endpoint: `http://127.0.0.1:${(http.address() as { port: number }).port}`,
    stats,
    until,
    heldCount: () => held.length,
    release: () => held.shift()!()
  }
})

const getItem = new GetItemCommand({ TableName: "t", Key: { id: { S: "1" } } })

// A managed DynamoDB client on the test server, with counting credentials of its own.
const managedOn = (
  endpoint: string,
  build: (config: ManagedClient.ClientConfig) => DynamoDBClient = (config) => new DynamoDBClient(config)
) =>
  Effect.flatMap(
    countingProvider(),
    (provider) =>
      ManagedClient.make({ service: "dynamodb", region: "us-east-1", endpoint, build }).pipe(
        Effect.provide(Credentials.layer({ provider }))
      )
  )

describe("one connection pool per managed client", () => {
  it.live("calls after a rebuild go out on the warm connection, and closing the scope closes it", () =>
    Effect.gen(function*() {
      const { endpoint, stats, until } = yield* server
      const scope = yield* Scope.make()
      const managed = yield* managedOn(endpoint).pipe(Scope.extend(scope))
      yield* Resilience.send(managed, new DescribeLimitsCommand({}))
      assert.strictEqual(stats.opened, 1)
      yield* managed.renew(1)
      assert.strictEqual(yield* managed.generation, 2)
      assert.strictEqual(yield* managed.builds, 2)
      for (let i = 0; i < 3; i++) yield* Resilience.send(managed, new DescribeLimitsCommand({}))
      assert.strictEqual(stats.received, 4)
      assert.strictEqual(stats.opened, 1, "the new client sent on the connection the old one opened")
      assert.strictEqual(stats.closed, 0, "retiring the old client closed no connection")
      yield* Scope.close(scope, Effect.void as never)
      yield* until(() => stats.closed === 1)
    }).pipe(Effect.scoped))

  it.live(
    "with the caller's own handler, retiring a client leaves it open: a call in flight on the new client completes",
    () =>
      Effect.gen(function*() {
        const { endpoint, heldCount, release, until } = yield* server
        // One handler instance for every client, as a caller passes it in `clientConfig`.
        const handler = new NodeHttpHandler()
        const managed = yield* managedOn(
          endpoint,
          (config) => new DynamoDBClient({ requestHandler: handler, ...config })
        )
        const send = Resilience.send(managed, getItem).pipe(
          Effect.provide(RetryPolicy.layer({ maxAttempts: 1, credentialsTimeout: 0 }))
        )
        const onOld = yield* Effect.fork(send)
        yield* until(() => heldCount() === 1)
        yield* managed.renew(1)
        const onNew = yield* Effect.fork(send)
        yield* until(() => heldCount() === 2)
        // The old client's last call ends: the client is destroyed, with the new client's request in flight.
        release()
        yield* Fiber.join(onOld)
        release()
        const result = yield* Fiber.join(onNew).pipe(Effect.either)
        assert.strictEqual(result._tag, "Right", "the new client's call was not cut off by the old client's destroy")
      }).pipe(Effect.scoped)
  )
})

describe("a call's abort signal goes to the request handler only", () => {
  it.live("the SDK's middleware never sees it (no race per call), the handler does, and interrupting still aborts", () =>
    Effect.gen(function*() {
      const { endpoint, heldCount, stats, until } = yield* server
      const inMiddleware: Array<unknown> = []
      const managed = yield* managedOn(endpoint, (config) => {
        const client = new DynamoDBClient(config)
        client.middlewareStack.add((next, context) => (args) => {
          inMiddleware.push(
            (context as { __smithy_context?: { abortSignal?: unknown } }).__smithy_context?.abortSignal
          )
          return next(args)
        }, { step: "initialize" })
        return client
      })
      yield* Resilience.send(managed, new DescribeLimitsCommand({}))
      yield* Resilience.send(managed, new DescribeLimitsCommand({}))
      const call = yield* Effect.fork(Resilience.send(managed, getItem))
      yield* until(() => heldCount() === 1)
      yield* Fiber.interrupt(call)
      // The server sees the held request's connection close: the handler had the signal.
      yield* until(() => stats.closed === 1)
      assert.deepStrictEqual(inMiddleware, [undefined, undefined, undefined])
    }).pipe(Effect.scoped))

  it.live("a call in an uninterruptible region is not aborted when its fiber is interrupted: it completes", () =>
    Effect.gen(function*() {
      const { endpoint, heldCount, release, stats, until } = yield* server
      const managed = yield* managedOn(endpoint)
      // A first call, so that the next one takes the fast path.
      yield* Resilience.send(managed, new DescribeLimitsCommand({}))
      let completed = false
      const call = yield* Effect.fork(Effect.uninterruptible(
        Resilience.send(managed, getItem).pipe(Effect.tap(() => Effect.sync(() => completed = true)))
      ))
      yield* until(() => heldCount() === 1)
      const interrupting = yield* Effect.fork(Fiber.interrupt(call))
      yield* Effect.sleep("100 millis")
      assert.strictEqual(stats.closed, 0, "the request was not aborted")
      release()
      yield* Fiber.join(interrupting)
      assert.isTrue(completed, "the call completed with its response")
      assert.strictEqual(stats.closed, 0)
    }).pipe(Effect.scoped))

  it.effect("a request whose call was interrupted before it reached the handler is not handed on", () =>
    Effect.gen(function*() {
      const handed: Array<unknown> = []
      const pool = ConnectionPool.view({
        handle: (request: unknown) => {
          handed.push(request)
          return Promise.resolve({ response: {} })
        }
      } as never)
      const aborted = { aborted: true, reason: new Error("interrupted") }
      const error = yield* Effect.flip(
        Effect.tryPromise(() => pool.handle({} as never, { [ConnectionPool.callSignal]: aborted } as never))
      )
      assert.strictEqual((error.cause as Error).name, "AbortError")
      assert.strictEqual(handed.length, 0)
      const options: Record<PropertyKey, unknown> = { [ConnectionPool.callSignal]: { aborted: false } }
      yield* Effect.promise(() => pool.handle({} as never, options as never))
      assert.strictEqual(handed.length, 1)
      assert.strictEqual(options.abortSignal, options[ConnectionPool.callSignal], "the handler gets it as abortSignal")
    }))
})

// The SDK uses its handler cache (`cacheMiddleware: true`) only for a call without options: the signal rides in the
// call's arguments instead, and the pool's view takes it from the request.
describe("with the SDK's handler cache on", () => {
  const cached = (config: ManagedClient.ClientConfig) => new DynamoDBClient({ cacheMiddleware: true, ...config })
  // A command that counts how often the SDK resolves a middleware stack for it.
  const counted = <C extends { resolveMiddleware: (...args: Array<any>) => unknown }>(
    resolved: { count: number },
    command: C
  ): C => {
    const resolve = command.resolveMiddleware
    command.resolveMiddleware = function(this: C, ...args: Array<unknown>) {
      resolved.count++
      return resolve.apply(this, args)
    }
    return command
  }

  it.live("calls go through the cache, and interrupting a call still aborts its request", () =>
    Effect.gen(function*() {
      const { endpoint, heldCount, stats, until } = yield* server
      const managed = yield* managedOn(endpoint, cached)
      const resolved = { count: 0 }
      for (let i = 0; i < 3; i++) yield* Resilience.send(managed, counted(resolved, new DescribeLimitsCommand({})))
      assert.strictEqual(resolved.count, 1, "the stack was resolved for the first command only")
      const call = yield* Effect.fork(Resilience.send(managed, getItem))
      yield* until(() => heldCount() === 1)
      yield* Fiber.interrupt(call)
      // The server sees the held request's connection close: the handler had the call's signal.
      yield* until(() => stats.closed === 1)
    }).pipe(Effect.scoped))

  // The cached handler shares one context among all its calls: each call's signal must reach its own request.
  it.effect.prop(
    "among concurrent calls, exactly the interrupted ones have their requests aborted, the others succeed",
    [heldCalls],
    ([calls]) =>
      Effect.scoped(Effect.gen(function*() {
        const runtime = yield* Effect.runtime<never>()
        const aborted = new Set<number>()
        // A request handler that answers each GetItem after its call's hold (the key is the call's index), in test
        // time, and records which requests were aborted.
        const requestHandler = {
          handle: (request: { body?: unknown }, options?: { abortSignal?: AbortSignal }) => {
            const body = typeof request.body === "string" ? request.body : Buffer.from(request.body as Uint8Array)
            const key = Number(JSON.parse(String(body)).Key?.id?.S ?? -1)
            const answer = () => ({
              response: new HttpResponse({
                statusCode: 200,
                headers: { "content-type": "application/x-amz-json-1.0" },
                body: Buffer.from("{}")
              })
            })
            if (key < 0) return Promise.resolve(answer())
            return heldRequest(runtime, calls[key]!.hold, options?.abortSignal, answer, () => aborted.add(key))
          },
          updateHttpClientConfig: () => {},
          httpHandlerConfigs: () => ({})
        }
        const managed = yield* managedOn(
          "http://127.0.0.1:1",
          (config) => new DynamoDBClient({ requestHandler, cacheMiddleware: true, ...config })
        )
        const resolved = { count: 0 }
        yield* Resilience.send(managed, counted(resolved, new DescribeLimitsCommand({})))
        const fibers = yield* Effect.forEach(calls, (_, i) =>
          Effect.fork(
            Resilience.send(
              managed,
              counted(resolved, new GetItemCommand({ TableName: "t", Key: { id: { S: String(i) } } }))
            ).pipe(
              Effect.provide(RetryPolicy.layer({ maxAttempts: 1 }))
            )
          ))
        yield* interruptSome(calls, fibers, aborted)
        assert.strictEqual(resolved.count, 2, "the stack was resolved once per command class")
      })),
    { fastCheck: { numRuns: 50 } }
  )
})
