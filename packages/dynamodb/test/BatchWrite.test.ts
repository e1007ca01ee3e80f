import { RetryPolicy } from "@aws-resilience/core"
import { GroundTruth, LocalAws } from "@aws-resilience/testkit"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { DynamoDB } from "../src/index.js"
import { Live, newTable } from "./fixtures.js"

const items = Array.from({ length: 40 }, (_, i) => ({ id: { S: `i-${i}` } }))

/** Runs `use` with every BatchWriteItem answered with half of its requests unprocessed, then clears the plan. */
const withUnprocessed = <A, E, R>(times: number | undefined, use: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const stack = yield* LocalAws.LocalAws
    yield* stack.gateway.resetStats
    yield* stack.gateway.setPlan({
      seed: 1,
      rules: [{
        service: "dynamodb",
        operation: "BatchWriteItem",
        fault: "unprocessed",
        probability: 1,
        ...(times === undefined ? {} : { times })
      }]
    })
    return yield* use.pipe(Effect.ensuring(stack.gateway.clearPlan))
  })

const idsInTable = (table: string) =>
  Effect.map(GroundTruth.scanTable(table), (found) => new Set(found.map((item) => item.id?.S as string)))

layer(Live, { excludeTestServices: true })("batchWrite against unprocessed items", (it) => {
  it.effect("resubmits the unprocessed halves until every item is written", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const table = yield* newTable("unprocessed")
      const result = yield* withUnprocessed(2, DynamoDB.batchWrite(table, items))
      assert.deepStrictEqual(result, { written: 40, unprocessed: [] })
      // Two chunks (25 + 15), each answered once with half unprocessed, then resubmitted once.
      const stats = yield* stack.gateway.stats
      assert.strictEqual(stats.byOutcome.unprocessed, 2)
      assert.strictEqual(stats.byOutcome.ok, 2)
      assert.deepStrictEqual([...(yield* idsInTable(table))].sort(), items.map((i) => i.id.S).sort())
    }))

  it.effect("reports exactly the items left unprocessed when the policy gives up", () =>
    Effect.gen(function*() {
      const table = yield* newTable("unprocessed-left")
      const result = yield* withUnprocessed(undefined, DynamoDB.batchWrite(table, items))
      const stored = yield* idsInTable(table)
      const unprocessed = result.unprocessed.map((u) => u.item.id?.S as string)
      assert.strictEqual(result.written + unprocessed.length, 40)
      assert.isAbove(unprocessed.length, 0)
      assert.strictEqual(stored.size, result.written)
      assert.deepStrictEqual(
        [...unprocessed].sort(),
        items.map((i) => i.id.S).filter((id) => !stored.has(id)).sort()
      )
      assert.isTrue(result.unprocessed.every((u) => u.error._tag === "ThrottlingError"))
    }).pipe(Effect.provide(RetryPolicy.layer({ maxAttempts: 2 }))))

  it.effect("an item left unprocessed carries the ProvisionedThroughputExceededException DynamoDB throws for it", () =>
    Effect.gen(function*() {
      const table = yield* newTable("unprocessed-error")
      const result = yield* withUnprocessed(undefined, DynamoDB.batchWrite(table, items))
      assert.isAbove(result.unprocessed.length, 0)
      for (const { error } of result.unprocessed) {
        assert.strictEqual(error._tag, "ThrottlingError")
        if (error._tag !== "ThrottlingError") return
        assert.strictEqual(error.code, "ProvisionedThroughputExceededException")
        assert.strictEqual(error.service, "dynamodb")
        assert.strictEqual(error.operation, "BatchWriteItem")
        assert.match(String(error.cause), /^\d+ unprocessed items$/)
      }
    }).pipe(Effect.provide(RetryPolicy.layer({ maxAttempts: 2 }))))
})
