/**
 * A machine whose clock is off: the gateway, like AWS, refuses requests signed more than 5 minutes away from its
 * clock and sends its clock in `Date`. The SDK client corrects its offset from that; the core layers hand the
 * offset to the credentials service (which logs it once) and start every rebuilt client with it.
 */
import { Credentials, ManagedClient, Resilience, RetryPolicy } from "@aws-resilience/core"
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { LocalAws } from "../src/index.js"

layer(LocalAws.layerWithEnv(), { excludeTestServices: true })("clock skew", (it) => {
  for (const offsetMinutes of [12, -12]) {
    it.effect(
      `AWS's clock ${offsetMinutes} min away costs one refused call, not one per rebuilt client, and is logged once`,
      () =>
        Effect.gen(function*() {
          const stack = yield* LocalAws.LocalAws
          const logs: Array<string> = []
          const capture = Logger.make(({ message }) => logs.push(String(message)))
          yield* stack.gateway.setClockOffset(offsetMinutes * 60_000)
          yield* stack.gateway.resetStats
          const program = Effect.gen(function*() {
            const client = yield* ManagedClient.make({
              service: "dynamodb",
              region: stack.region,
              build: (config) => new DynamoDBClient(config)
            })
            for (let round = 0; round < 3; round++) {
              yield* Effect.forEach(
                Array.from({ length: 4 }),
                () => Resilience.send(client, new ListTablesCommand({})),
                { concurrency: 1 }
              )
              // A rotation: the next call is rejected and the client rebuilt on the new set.
              yield* stack.authority.revoke()
            }
            return yield* client.builds
          }).pipe(
            Effect.scoped,
            Effect.provide(Layer.merge(Credentials.layer(), RetryPolicy.layer({ maxAttempts: 3 }))),
            Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
            Effect.ensuring(stack.gateway.setClockOffset(0))
          )
          const builds = yield* program
          const stats = yield* stack.gateway.stats
          assert.isAtLeast(builds, 3, "each rotation rebuilt the client")
          assert.strictEqual(stats.byOutcome.signatureExpired, 1, "only the first client paid for the skew")
          assert.strictEqual(logs.filter((line) => line.includes("clock skew detected")).length, 1)
        })
    )
  }
})
