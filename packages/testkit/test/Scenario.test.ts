/**
 * The testkit catching a bug: a naive program (a bare SDK client, no refresh) fails when its credentials are
 * rotated, and the same work through the core layers recovers under the same plan.
 */
import { AwsConfig, Credentials, ManagedClient, Resilience, RetryPolicy } from "@aws-resilience/core"
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { assert, layer } from "@effect/vitest"
import { Config, Effect, Exit, FastCheck as fc, Layer, Stream } from "effect"
import { Arbitraries, LocalAws, Scenario } from "../src/index.js"
import type { CredentialEvent } from "../src/index.js"
import { directDynamoDB, unique } from "./utils.js"

const items = 12
const pause = 25

const createTable = (tableName: string) =>
  Effect.flatMap(LocalAws.LocalAws, (stack) =>
    Effect.acquireUseRelease(
      Effect.sync(() => directDynamoDB(stack)),
      (direct) =>
        Effect.promise(() =>
          direct.send(
            new CreateTableCommand({
              TableName: tableName,
              KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
              AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
              BillingMode: "PAY_PER_REQUEST"
            })
          )
        ),
      (direct) => Effect.sync(() => direct.destroy())
    ))

/** What the incident's code did: one SDK client, credentials from the default chain, no refresh on failure. */
const naive = (tableName: string) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new DynamoDBClient({ maxAttempts: 3 })),
    (client) =>
      Effect.forEach(Array.from({ length: items }, (_, i) => i), (i) =>
        Effect.tryPromise(() =>
          client.send(new PutItemCommand({ TableName: tableName, Item: { id: { S: `n-${i}` } } }))
        )
          .pipe(Effect.zipLeft(Effect.sleep(pause)))),
    (client) =>
      Effect.sync(() =>
        client.destroy()
      )
  )

/** The same work through the core layers, configured only from the environment the stack sets. */
const resilient = (tableName: string) =>
  Effect.gen(function*() {
    const region = yield* Config.unwrap(AwsConfig.region)
    const client = yield* ManagedClient.make({
      service: "dynamodb",
      region,
      build: (config) => new DynamoDBClient(config)
    })
    yield* Effect.forEach(Array.from({ length: items }, (_, i) => i), (i) =>
      Resilience.send(client, new PutItemCommand({ TableName: tableName, Item: { id: { S: `r-${i}` } } })).pipe(
        Effect.zipLeft(Effect.sleep(pause))
      ))
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(Credentials.layer(), RetryPolicy.layer({ maxAttempts: 5 })))
  )

const revokeEarly: ReadonlyArray<CredentialEvent.CredentialEvent> = [{ _tag: "Revoke", atMs: 100 }]

layer(LocalAws.layerWithEnv(), { excludeTestServices: true })("Scenario", (it) => {
  it.effect("a naive program fails when its credentials are revoked", () =>
    Effect.gen(function*() {
      const table = unique("naive")
      yield* createTable(table)
      const report = yield* Scenario.run(naive(table), { events: revokeEarly })
      assert.isTrue(Exit.isFailure(report.exit), "the naive program should not survive a revocation")
      assert.isAbove(report.requests.byOutcome.unrecognizedClient ?? 0, 0)
    }))

  it.effect("the same work through the core layers recovers", () =>
    Effect.gen(function*() {
      const table = unique("resilient")
      yield* createTable(table)
      const report = yield* Scenario.run(resilient(table), { events: revokeEarly })
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      assert.isAbove(report.requests.byOutcome.unrecognizedClient ?? 0, 0, "the revocation did hit the program")
      assert.strictEqual(report.credentialFetches, 2, "one initial fetch and one refresh")
      assert.strictEqual(report.clientRebuilds, 1)
    }))

  it.effect("events can come from a stream, and each is reported to onEvent once applied", () =>
    Effect.gen(function*() {
      const table = unique("stream")
      yield* createTable(table)
      const applied: Array<string> = []
      const report = yield* Scenario.run(resilient(table), {
        // Revokes once the program is under way, as `revokeEarly` does.
        events: Stream.concat(
          Stream.fromEffect(Effect.sleep(100)).pipe(Stream.drain),
          Stream.fromIterable(revokeEarly)
        ),
        onEvent: (event) => Effect.sync(() => applied.push(event._tag))
      })
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      assert.deepStrictEqual(applied, ["Revoke"])
      assert.isAbove(report.retries.CredentialsError ?? 0, 0, "the revocation was retried through")
    }))

  it.effect.prop(
    "the core layers survive any sequence of credential events",
    [Arbitraries.credentialEvents({ horizonMs: 250, maxEvents: 3, maxOutageMs: 150 })],
    ([events]) =>
      Effect.gen(function*() {
        const table = unique("prop")
        yield* createTable(table)
        const report = yield* Scenario.run(resilient(table), { events })
        assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      }),
    { fastCheck: { numRuns: 8 } }
  )

  it("fault plans shrink to small, readable counterexamples", () => {
    const result = fc.check(
      fc.property(Arbitraries.faultPlan(), (plan) => plan.rules.every((rule) => rule.fault !== "lostResponse")),
      { seed: 42 }
    )
    assert.isTrue(result.failed)
    const [counterexample] = result.counterexample!
    assert.strictEqual(counterexample.rules.length, 1)
    assert.strictEqual(counterexample.rules[0]!.fault, "lostResponse")
    assert.strictEqual(counterexample.rules[0]!.probability, 0)
  })
})
