/**
 * `LambdaHandler.sqs`: decoding, partial batch responses, FIFO groups, invalid events and the deadline; the
 * handlers write to DynamoDB on the local stack.
 */
import { DynamoDB } from "@aws-resilience/dynamodb"
import { assert, describe, it, layer } from "@effect/vitest"
import type { SQSEvent, SQSRecord } from "aws-lambda"
import { Data, Effect, Either, FastCheck as fc, Fiber, Layer, Schema, TestClock } from "effect"
import { LambdaHandler, LambdaHandlerError } from "../src/index.js"
import { AppLayer, idsIn, invoke, lambdaContext, newTable, sqsEvent, sqsRecord, Stack } from "./utils.js"

const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number })
const order = (id: string, amount = 10) => JSON.stringify({ id, amount })

class HandlerFailed extends Data.TaggedError("HandlerFailed")<{ readonly id: string }> {}

// Blocks on the TestClock come before the `layer(...)` block: @effect/vitest's `layer` assigns its own `effect` and
// `scoped` (without the test services, with `excludeTestServices`) onto the shared `it` of every block collected after.
describe("LambdaHandler.sqs, its logic", () => {
  it.scoped("records still running at the deadline, or not started, are reported failed; the ones done are kept", () =>
    Effect.gen(function*() {
      const failures: Array<LambdaHandler.RecordFailure<unknown>> = []
      const handler = yield* LambdaHandler.sqsScoped(Layer.empty, {
        schema: Order,
        concurrency: 1,
        deadlineMargin: "500 millis",
        handler: () => Effect.sleep("1 second"),
        onFailure: (failure) => Effect.sync(() => failures.push(failure))
      })
      const event = sqsEvent(["m-1", "m-2", "m-3", "m-4"].map((id) => sqsRecord(id, order(id))))
      const fiber = yield* Effect.fork(invoke(handler, event, lambdaContext(3_000, "fixed")))
      yield* TestClock.adjust("2500 millis")
      const response = yield* Fiber.join(fiber)
      assert.deepStrictEqual(response.batchItemFailures, [{ itemIdentifier: "m-3" }, { itemIdentifier: "m-4" }])
      assert.deepStrictEqual(
        failures.map((f) => f._tag === "TimedOut" ? `${f.record.messageId}:${f.error.reason}` : f._tag),
        ["m-3:running", "m-4:notStarted"]
      )
    }))

  const Body = Schema.Struct({
    id: Schema.String,
    fate: Schema.Literal("ok", "fails", "dies"),
    yields: Schema.Number
  })
  const Spec = fc.record({
    group: fc.constantFrom("a", "b", "c", "d"),
    fate: fc.constantFrom("ok", "fails", "dies", "bad"),
    yields: fc.integer({ min: 0, max: 3 })
  })
  it.effect.prop(
    "FIFO: a group is handled one record at a time, in order, up to its first failure, which fails the rest of it",
    [
      fc.array(Spec, { maxLength: 16 }),
      fc.integer({ min: 1, max: 4 }),
      fc.constantFrom("arn", "groupId", "arnOnly", "standard")
    ],
    ([specs, concurrency, kind]) =>
      Effect.scoped(Effect.gen(function*() {
        const events: Array<readonly [string, string]> = []
        let inFlight = 0
        let maxInFlight = 0
        const handler = yield* LambdaHandler.sqsScoped(Layer.empty, {
          schema: Body,
          concurrency,
          handler: (body) =>
            Effect.gen(function*() {
              events.push(["start", body.id])
              maxInFlight = Math.max(maxInFlight, ++inFlight)
              for (let i = 0; i < body.yields; i++) yield* Effect.yieldNow()
              inFlight--
              events.push(["end", body.id])
              if (body.fate === "fails") return yield* new HandlerFailed({ id: body.id })
              if (body.fate === "dies") return yield* Effect.die(new Error(`bug in ${body.id}`))
            })
        })
        // FIFO by its ARN and its records' groups, by the groups alone, or by the ARN alone (then one group).
        const groupOf = (i: number) => kind === "arnOnly" ? "" : specs[i]!.group
        const records: Array<SQSRecord> = specs.map((spec, i) =>
          sqsRecord(
            `m-${i}`,
            spec.fate === "bad" ? "not json" : JSON.stringify({ id: `m-${i}`, fate: spec.fate, yields: spec.yields }),
            {
              queue: kind === "arn" || kind === "arnOnly" ? "orders.fifo" : "orders",
              ...(kind === "arn" || kind === "groupId" ? { groupId: spec.group } : {})
            }
          )
        )
        const response = yield* invoke(handler, sqsEvent(records))
        const failed = response.batchItemFailures.map((f) => f.itemIdentifier)
        assert.isAtMost(maxInFlight, concurrency)

        const started = events.filter(([kind]) => kind === "start").map(([, id]) => id)
        if (kind === "standard") {
          // Every record that decodes is handled once; exactly the ones that did not succeed are reported.
          assert.deepStrictEqual(
            [...started].sort(),
            records.filter((_, i) => specs[i]!.fate !== "bad").map((r) => r.messageId).sort()
          )
          assert.deepStrictEqual(failed, records.filter((_, i) => specs[i]!.fate !== "ok").map((r) => r.messageId))
          return
        }
        const expectedFailed = new Set<string>()
        for (const group of ["a", "b", "c", "d", ""]) {
          const members = records.flatMap((record, i) =>
            groupOf(i) === group ? [[record.messageId, specs[i]!] as const] : []
          )
          const first = members.findIndex(([, spec]) => spec.fate !== "ok")
          const upTo = first === -1 ? members.length : first
          const handledIds = members.slice(0, upTo + 1).filter(([, spec]) => spec.fate !== "bad").map(([id]) => id)
          const inGroup = new Set(members.map(([id]) => id))
          // Handled in batch order, up to and including the first failure (unless it did not decode).
          assert.deepStrictEqual(started.filter((id) => inGroup.has(id)), handledIds)
          // One at a time: within the group, each start is followed by its own end.
          const groupEvents = events.filter(([, id]) => inGroup.has(id))
          for (let i = 0; i < groupEvents.length; i += 2) {
            assert.deepStrictEqual([groupEvents[i]![0], groupEvents[i + 1]?.[0]], ["start", "end"])
            assert.strictEqual(groupEvents[i]![1], groupEvents[i + 1]?.[1])
          }
          if (first !== -1) { for (const [id] of members.slice(first)) expectedFailed.add(id) }
        }
        assert.deepStrictEqual(failed, records.map((r) => r.messageId).filter((id) => expectedFailed.has(id)))
      })),
    { fastCheck: { numRuns: 200 } }
  )

  it.scoped("a handler's typed failure and a defect are both batch item failures, never a rejection", () =>
    Effect.gen(function*() {
      const failures: Array<LambdaHandler.RecordFailure<HandlerFailed>> = []
      const handler = yield* LambdaHandler.sqsScoped(Layer.empty, {
        schema: Order,
        handler: (body) =>
          body.id === "fails"
            ? Effect.fail(new HandlerFailed({ id: body.id }))
            : body.id === "dies"
            ? Effect.die("bug")
            : Effect.void,
        onFailure: (failure) => Effect.sync(() => failures.push(failure))
      })
      const result = yield* Effect.either(invoke(
        handler,
        sqsEvent([sqsRecord("m-1", order("fails")), sqsRecord("m-2", order("ok")), sqsRecord("m-3", order("dies"))])
      ))
      assert.isTrue(Either.isRight(result))
      assert.deepStrictEqual(Either.getOrThrow(result).batchItemFailures, [{ itemIdentifier: "m-1" }, {
        itemIdentifier: "m-3"
      }])
      assert.deepStrictEqual(failures.map((f) => f._tag), ["Failed", "Died"])
    }))
})

layer(Stack, { excludeTestServices: true })("LambdaHandler.sqs on the local stack", (it) => {
  /** A handler that writes each order once (a conditional put), recording the ids it was given, in order. */
  const writing = (table: string, handled: Array<string>, failures: Array<LambdaHandler.RecordFailure<unknown>>) =>
    LambdaHandler.sqsScoped(AppLayer, {
      schema: Order,
      handler: (body) =>
        Effect.suspend(() => {
          handled.push(body.id)
          return DynamoDB.putItem({
            TableName: table,
            Item: { id: { S: body.id }, amount: { N: String(body.amount) } },
            ConditionExpression: "attribute_not_exists(id)"
          })
        }),
      onFailure: (failure) => Effect.sync(() => failures.push(failure))
    })

  it.scoped("a record that does not decode is a batch item failure with its reason; the others are handled", () =>
    Effect.gen(function*() {
      const table = yield* newTable("sqs")
      const handled: Array<string> = []
      const failures: Array<LambdaHandler.RecordFailure<unknown>> = []
      const handler = yield* writing(table, handled, failures)
      const response = yield* invoke(
        handler,
        sqsEvent([
          sqsRecord("m-1", order("o-1")),
          sqsRecord("m-2", "{ not json"),
          sqsRecord("m-3", JSON.stringify({ id: "o-3", amount: "ten" })),
          sqsRecord("m-4", order("o-4"))
        ])
      )
      assert.deepStrictEqual(response, { batchItemFailures: [{ itemIdentifier: "m-2" }, { itemIdentifier: "m-3" }] })
      assert.deepStrictEqual(failures.map((f) => `${f.record.messageId}:${f._tag}`), [
        "m-2:Undecodable",
        "m-3:Undecodable"
      ])
      const schemaFailure = failures[1]!
      assert.isTrue(schemaFailure._tag === "Undecodable" && schemaFailure.error.issues.some((i) => i.path === "amount"))
      assert.deepStrictEqual(handled.sort(), ["o-1", "o-4"])
      assert.deepStrictEqual(yield* idsIn(table), ["o-1", "o-4"])
    }))

  it.scoped("on a FIFO queue, each group is handled in order, and after a failure the rest of it is failed unhandled", () =>
    Effect.gen(function*() {
      const table = yield* newTable("fifo")
      // a-2 is there already: its conditional put fails, as a real ConditionalCheckFailed from DynamoDB.
      yield* DynamoDB.putItem({ TableName: table, Item: { id: { S: "a-2" } } })
      const handled: Array<string> = []
      const failures: Array<LambdaHandler.RecordFailure<unknown>> = []
      const handler = yield* writing(table, handled, failures)
      const fifo = (messageId: string, groupId: string, body: string) =>
        sqsRecord(messageId, body, { queue: "orders.fifo", groupId })
      const response = yield* invoke(
        handler,
        sqsEvent([
          fifo("m-a1", "a", order("a-1")),
          fifo("m-b1", "b", order("b-1")),
          fifo("m-a2", "a", order("a-2")),
          fifo("m-c1", "c", "{ not json"),
          fifo("m-a3", "a", order("a-3")),
          fifo("m-b2", "b", order("b-2")),
          fifo("m-c2", "c", order("c-2"))
        ])
      )
      assert.deepStrictEqual(
        response.batchItemFailures.map((f) => f.itemIdentifier),
        ["m-a2", "m-c1", "m-a3", "m-c2"]
      )
      assert.deepStrictEqual(handled.filter((id) => id.startsWith("a")), ["a-1", "a-2"])
      assert.deepStrictEqual(handled.filter((id) => id.startsWith("b")), ["b-1", "b-2"])
      assert.deepStrictEqual(handled.filter((id) => id.startsWith("c")), [])
      const byMessage = new Map(failures.map((f) => [f.record.messageId, f]))
      const a2 = byMessage.get("m-a2")!
      assert.isTrue(a2._tag === "Failed" && (a2.error as { _tag: string })._tag === "ConditionalCheckFailedError")
      assert.strictEqual(byMessage.get("m-c1")?._tag, "Undecodable")
      assert.deepStrictEqual(byMessage.get("m-a3"), {
        _tag: "Released",
        record: byMessage.get("m-a3")!.record,
        blockedBy: "m-a2"
      })
      const c2 = byMessage.get("m-c2")!
      assert.isTrue(c2._tag === "Released" && c2.blockedBy === "m-c1")
      assert.deepStrictEqual(yield* idsIn(table), ["a-1", "a-2", "b-1", "b-2"])
    }))

  it.scoped("an event that is not an SQS event fails with an InvalidLambdaEventError naming the problem", () =>
    Effect.gen(function*() {
      const table = yield* newTable("invalid")
      const handled: Array<string> = []
      const handler = yield* writing(table, handled, [])
      const kinesis = { ...sqsRecord("m-1", order("o-1")), eventSource: "aws:kinesis" }
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{}, "Records"],
        [{ Records: [kinesis] }, "Records.0.eventSource"],
        [{ Records: [{ ...sqsRecord("m-1", order("o-1")), messageId: "" }] }, "Records.0.messageId"],
        [null, "(root)"]
      ]
      for (const [event, path] of cases) {
        const error = yield* Effect.flip(invoke(handler, event as SQSEvent))
        assert.isTrue(LambdaHandlerError.isInvalidLambdaEventError(error), String(error))
        const invalid = error as LambdaHandlerError.InvalidLambdaEventError
        assert.strictEqual(invalid.issues[0]?.path || "(root)", path)
        assert.include(invalid.message, `not an SQS event: ${path}`)
      }
      assert.deepStrictEqual(handled, [])
    }))
})
