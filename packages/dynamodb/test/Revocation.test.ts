/**
 * A revocation while requests wait in the client's socket queue, against the local stack: the gateway checks every
 * request's key with the credentials authority, so what it counts is what reached it.
 */
import { Credentials, RetryPolicy } from "@aws-resilience/core"
import { LocalAws } from "@aws-resilience/testkit"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { DynamoDB } from "../src/index.js"
import { newTable } from "./fixtures.js"

// Two sockets, so that most of the calls below wait in the agent's queue, already signed, when the key is revoked;
// with the SDK's handler cache off (its default) and on (the calls' signals then reach the pool another way).
const live = (cacheMiddleware: boolean) =>
  DynamoDB.layerConfig({ clientConfig: { cacheMiddleware, requestHandler: { httpAgent: { maxSockets: 2 } } } }).pipe(
    Layer.provideMerge(Layer.merge(Credentials.layer(), RetryPolicy.layer({ maxAttempts: 4 }))),
    Layer.provideMerge(LocalAws.layerWithEnv())
  )

for (const cacheMiddleware of [false, true]) {
  layer(live(cacheMiddleware), { excludeTestServices: true })(
    `a revocation with requests queued for a connection, cacheMiddleware ${cacheMiddleware}`,
    (it) => {
      it.effect(
        "the queued requests signed with the revoked key are withdrawn, not sent; every write is then stored once",
        () =>
          Effect.gen(function*() {
            const stack = yield* LocalAws.LocalAws
            const table = yield* newTable("withdrawn")
            yield* DynamoDB.putItem({ TableName: table, Item: { id: { S: "warm" } } })
            const n = 40
            // The gateway holds the first two requests after accepting their key, while the others queue behind them.
            yield* stack.gateway.setPlan({
              seed: 1,
              rules: [{ service: "dynamodb", fault: "latency", latencyMs: 300, probability: 1, times: 2 }]
            })
            yield* stack.gateway.resetStats
            const calls = yield* Effect.forEach(
              Array.from({ length: n }, (_, i) => `item-${i}`),
              (id) =>
                Effect.fork(DynamoDB.putItem({
                  TableName: table,
                  Item: { id: { S: id } },
                  // A write applied twice would fail its second time.
                  ConditionExpression: "attribute_not_exists(id)"
                }))
            )
            yield* Effect.sleep("100 millis")
            yield* stack.authority.revoke()
            yield* Fiber.join(Fiber.all(calls))
            const stats = yield* stack.gateway.stats
            const rejected = stats.byOutcome.unrecognizedClient ?? 0
            // After the two held requests, the next two go out with the revoked key and are rejected; the first
            // rejection withdraws the rest (a few more may leave the queue in between).
            assert.isAtLeast(rejected, 1)
            assert.isAtMost(rejected, 6, `${rejected} requests with the revoked key reached the gateway, of ${n}`)
            const items = yield* DynamoDB.scan({ TableName: table })
            assert.strictEqual(items.Count, n + 1)
            yield* stack.gateway.clearPlan
          }),
        30_000
      )
    }
  )
}
