/**
 * EventQueue against fauxqs behind the SigV4-checking gateway: enqueue, batches and consume.
 */
import type { EventCodec } from "@aws-resilience/core"
import { RetryPolicy } from "@aws-resilience/core"
import { type FaultPlan, LocalAws, Scenario } from "@aws-resilience/testkit"
import { assert, layer } from "@effect/vitest"
import { Chunk, Context, Duration, Effect, Either, Exit, FastCheck as fc, Ref, Stream } from "effect"
import * as EventQueue from "../src/EventQueue.js"
import * as SQS from "../src/SQS.js"
import {
  createQueue,
  drain,
  idsOf,
  Order,
  order,
  queueArn,
  resetStats,
  sqsOutcomes,
  StackWithSqs,
  unique
} from "./utils.js"

const big = (id: string, bytes: number) => order(id, { note: "x".repeat(bytes) })

/** Runs of faults met by consecutive SendMessageBatch requests; `latency` (of 0 ms) lets a request through. */
const attemptFaults = fc.array(
  fc.record({
    fault: fc.constantFrom<FaultPlan.FaultKind>("lostResponse", "throttle", "status503", "reset", "latency"),
    times: fc.integer({ min: 1, max: 3 })
  }),
  { minLength: 1, maxLength: 4 }
)

/** FIFO groups of 2 to 5 messages, and the positions (in send order) of messages whose first handling fails. */
const groupsAndFailures = fc.record({
  sizes: fc.array(fc.integer({ min: 2, max: 5 }), { minLength: 1, maxLength: 3 }),
  failing: fc.uniqueArray(fc.nat({ max: 14 }), { maxLength: 3 })
})

const undecodableBody = JSON.stringify({ id: "u-1", amount: "lots" })

layer(StackWithSqs, { excludeTestServices: true })("EventQueue", (it) => {
  it.effect("enqueue, then receive the same event", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("roundtrip"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      const sent = yield* queue.enqueue(order("o-1", { amount: 42 }))
      assert.strictEqual(sent.id, "o-1")
      const messages = yield* drain(queueUrl)
      assert.strictEqual(messages.length, 1)
      assert.strictEqual(messages[0]!.MessageId, sent.messageId)
      assert.deepStrictEqual(JSON.parse(messages[0]!.Body!), { id: "o-1", customer: "c-1", amount: 42 })
    }))

  it.effect("the dual combinator works on a queue from a tag-less make", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("dual"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      const sent = yield* queue.pipe(EventQueue.enqueue(order("o-dual")))
      const outcomes = yield* EventQueue.enqueueBatch(queue, [order("o-b1"), order("o-b2")])
      assert.strictEqual(sent.id, "o-dual")
      assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Sent", "Sent"])
      assert.sameMembers(idsOf(yield* drain(queueUrl)), ["o-dual", "o-b1", "o-b2"])
    }))

  it.effect("a queue under the caller's own tag, with the data-last combinators", () =>
    Effect.gen(function*() {
      class Orders extends Context.Tag("test/Orders")<Orders, EventQueue.EventQueue<Order>>() {}
      const queueUrl = yield* createQueue(unique("tagged"))
      const program = Effect.gen(function*() {
        const sent = yield* Effect.flatMap(Orders, EventQueue.enqueue(order("t-1", { amount: 3 })))
        const outcomes = yield* Effect.flatMap(Orders, EventQueue.enqueueBatch([order("t-2", { amount: 4 })]))
        const amounts: Array<number> = []
        const results = yield* Effect.map(
          Orders,
          EventQueue.consume((event: Order) => Effect.sync(() => amounts.push(event.amount)))
        ).pipe(Stream.unwrap, Stream.take(2), Stream.runCollect)
        return { sent, outcomes, amounts, results: Chunk.toArray(results) }
      })
      // Short polls: the receive in flight when the stream ends is answered at once, not up to 1 s later in the
      // middle of a test below that counts requests.
      const { amounts, outcomes, results, sent } = yield* program.pipe(
        Effect.provide(EventQueue.layer(Orders, { queueUrl, schema: Order, waitTime: "0 seconds" }))
      )
      assert.strictEqual(sent.id, "t-1")
      assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Sent"])
      assert.sameMembers(amounts, [3, 4])
      assert.deepStrictEqual(results.map((r) => r._tag), ["Processed", "Processed"])
    }))

  it.effect("FIFO: the group id and the event id as deduplication id", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("orders") + ".fifo")
      const queue = yield* EventQueue.make({ queueUrl, schema: Order, groupId: (o) => o.customer })
      assert.isTrue(queue.fifo)
      const first = yield* queue.enqueue(order("f-1", { customer: "alice" }))
      // The same id again is deduplicated by SQS: same message id, one message.
      const again = yield* queue.enqueue(order("f-1", { customer: "alice" }))
      assert.strictEqual(again.messageId, first.messageId)
      const batch = yield* queue.enqueueBatch([order("f-2", { customer: "bob" }), order("f-1", { customer: "alice" })])
      assert.deepStrictEqual(batch.map((o) => o._tag), ["Sent", "Sent"])
      const messages = yield* drain(queueUrl)
      const byId = new Map(messages.map((m) => [JSON.parse(m.Body!).id as string, m]))
      assert.deepStrictEqual([...byId.keys()].sort(), ["f-1", "f-2"])
      assert.strictEqual(messages.length, 2)
      assert.strictEqual(byId.get("f-1")!.Attributes?.MessageGroupId, "alice")
      assert.strictEqual(byId.get("f-1")!.Attributes?.MessageDeduplicationId, "f-1")
      assert.strictEqual(byId.get("f-2")!.Attributes?.MessageGroupId, "bob")
      assert.strictEqual(byId.get("f-2")!.Attributes?.MessageDeduplicationId, "f-2")
    }))

  it.effect("FIFO: the group defaults to the event id", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("default-group") + ".fifo")
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      yield* queue.enqueue(order("g-1"))
      const [message] = yield* drain(queueUrl)
      assert.strictEqual(message!.Attributes?.MessageGroupId, "g-1")
    }))

  it.effect("an invalid event fails with InvalidEventError naming the field, and nothing is sent", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("invalid"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      yield* resetStats
      const error = yield* Effect.flip(queue.enqueue(order("bad", { amount: -1 })))
      assert.strictEqual(error._tag, "InvalidEventError")
      if (error._tag !== "InvalidEventError") return
      assert.deepStrictEqual(error.issues.map((i) => i.path), ["amount"])
      assert.include(error.message, "amount")
      assert.deepStrictEqual(yield* sqsOutcomes, {}, "no request reached SQS")
      assert.strictEqual((yield* drain(queueUrl)).length, 0)
    }))

  it.effect("an oversize event fails with MessageTooLargeError and its size, and nothing is sent", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("oversize"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      yield* resetStats
      // One byte over the limit of SQS, 1 MiB.
      const limit = 1_048_576
      assert.strictEqual(SQS.defaultMaxMessageSize, limit)
      const event = big("huge", limit + 1 - Buffer.byteLength(JSON.stringify(big("huge", 0))))
      const error = yield* Effect.flip(queue.enqueue(event))
      assert.strictEqual(error._tag, "MessageTooLargeError")
      if (error._tag !== "MessageTooLargeError") return
      assert.strictEqual(error.id, "huge")
      assert.strictEqual(error.size, limit + 1)
      assert.strictEqual(error.limit, limit)
      assert.deepStrictEqual(yield* sqsOutcomes, {})
      // At the limit is accepted (and above the 256 KiB SQS allowed before 2025).
      const fits = big("fits", limit - Buffer.byteLength(JSON.stringify(big("fits", 0))))
      assert.strictEqual(Buffer.byteLength(JSON.stringify(fits)), limit)
      yield* queue.enqueue(fits)
      assert.deepStrictEqual(idsOf(yield* drain(queueUrl)), ["fits"])
    }))

  it.effect("a queue with a lower MaximumMessageSize: maxMessageSize refuses before sending, SQS refuses once", () =>
    Effect.gen(function*() {
      const limit = 262_144
      const queueUrl = yield* createQueue(unique("small"), { MaximumMessageSize: String(limit) })
      const event = big("mid", 300_000)
      yield* resetStats
      // Told the queue's limit, the queue refuses the event itself, naming its size and the limit.
      const told = yield* EventQueue.make({ queueUrl, schema: Order, maxMessageSize: limit })
      const error = yield* Effect.flip(told.enqueue(event))
      assert.strictEqual(error._tag, "MessageTooLargeError")
      if (error._tag !== "MessageTooLargeError") return
      assert.strictEqual(error.limit, limit)
      assert.deepStrictEqual(yield* sqsOutcomes, {})
      // Not told, it sends, and SQS's refusal is a typed failure, not retried.
      const untold = yield* EventQueue.make({ queueUrl, schema: Order })
      const refused = yield* Effect.flip(untold.enqueue(event))
      assert.strictEqual(refused._tag, "ServiceError")
      if (refused._tag !== "ServiceError") return
      assert.strictEqual(refused.code, "AWS.SimpleQueueService.InvalidParameterValue")
      assert.include(refused.message, String(limit))
      // One request reached SQS (the gateway passed it on); nothing was stored.
      assert.deepStrictEqual(yield* sqsOutcomes, { ok: 1 })
      assert.deepStrictEqual(yield* drain(queueUrl), [])
    }))

  it.effect("a batch with poisoned entries sends the rest and reports each entry in order", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("poisoned"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      const events = Array.from({ length: 12 }, (_, i) => order(`p-${i}`))
      events[3] = order("p-3", { amount: -5 })
      events[7] = big("p-7", 1_100_000)
      events[9] = { customer: "c-1", amount: 1 } as unknown as Order
      const outcomes = yield* queue.enqueueBatch(events)
      assert.deepStrictEqual(outcomes.map((o) => o.index), events.map((_, i) => i))
      assert.deepStrictEqual(
        outcomes.map((o) => o._tag),
        events.map((_, i) => [3, 7, 9].includes(i) ? "Rejected" : "Sent")
      )
      const rejected = outcomes.filter((o) => o._tag === "Rejected")
      assert.deepStrictEqual(rejected.map((o) => [o.id, o.error._tag]), [
        ["p-3", "InvalidEventError"],
        ["p-7", "MessageTooLargeError"],
        [undefined, "InvalidEventError"]
      ])
      const received = idsOf(yield* drain(queueUrl))
      assert.sameMembers(received, events.filter((_, i) => ![3, 7, 9].includes(i)).map((e) => e.id))
      assert.strictEqual(received.length, 9)
      for (const outcome of outcomes) {
        if (outcome._tag === "Sent") assert.strictEqual(outcome.id, `p-${outcome.index}`)
      }
    }))

  it.effect("a batch is chunked by 10 entries: 25 events, 3 requests", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("chunks"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      yield* resetStats
      const outcomes = yield* queue.enqueueBatch(Array.from({ length: 25 }, (_, i) => order(`c-${i}`)))
      assert.deepStrictEqual(yield* sqsOutcomes, { ok: 3 })
      assert.isTrue(outcomes.every((o) => o._tag === "Sent"))
      assert.strictEqual(new Set(outcomes.map((o) => o._tag === "Sent" && o.messageId)).size, 25)
      assert.strictEqual((yield* drain(queueUrl)).length, 25)
    }))

  it.effect("a batch is chunked by 1 MiB: 5 events of 400 KB, 3 requests", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("bytes"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      yield* resetStats
      const outcomes = yield* queue.enqueueBatch(Array.from({ length: 5 }, (_, i) => big(`b-${i}`, 400_000)))
      assert.deepStrictEqual(yield* sqsOutcomes, { ok: 3 })
      assert.isTrue(outcomes.every((o) => o._tag === "Sent"))
      assert.strictEqual((yield* drain(queueUrl)).length, 5)
    }))

  it.effect("a batch under throttling (p = 0.5) sends every entry exactly once", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("throttled"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      const events = Array.from({ length: 40 }, (_, i) => order(`t-${i}`))
      const report = yield* Scenario.run(
        queue.enqueueBatch(events).pipe(
          Effect.provide(RetryPolicy.layer({ maxAttempts: 10, throttlingBaseDelay: "20 millis" }))
        ),
        {
          plan: {
            seed: 7,
            rules: [{ service: "sqs", operation: "SendMessageBatch", fault: "throttle", probability: 0.5 }]
          }
        }
      )
      assert.isTrue(Exit.isSuccess(report.exit))
      if (!Exit.isSuccess(report.exit)) return
      assert.isAbove(report.requests.byOutcome.throttle ?? 0, 0, "the plan did throttle")
      assert.isTrue(report.exit.value.every((o) => o._tag === "Sent"), JSON.stringify(report.exit.value))
      const received = idsOf(yield* drain(queueUrl)).sort()
      assert.deepStrictEqual(received, events.map((e) => e.id).sort())
    }))

  it.effect("standard queue: a lost batch response is reported as maybe sent, and no entry is sent twice", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("lost"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      const events = Array.from({ length: 25 }, (_, i) => order(`l-${i}`))
      const report = yield* Scenario.run(
        queue.enqueueBatch(events).pipe(
          Effect.provide(RetryPolicy.layer({ maxAttempts: 5, baseDelay: "5 millis" }))
        ),
        {
          plan: {
            seed: 11,
            rules: [{ service: "sqs", operation: "SendMessageBatch", fault: "lostResponse", probability: 1, times: 1 }]
          }
        }
      )
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      if (!Exit.isSuccess(report.exit)) return
      const outcomes = report.exit.value
      assert.strictEqual(report.requests.byOutcome.lostResponse, 1, "the plan did lose one response")
      const received = idsOf(yield* drain(queueUrl))
      assert.strictEqual(new Set(received).size, received.length, `an entry was received twice: ${received.sort()}`)
      // The backend committed the lost request, so each event is received exactly once.
      assert.deepStrictEqual([...received].sort(), events.map((e) => e.id).sort())
      const sent = outcomes.filter((o) => o._tag === "Sent")
      const failed = outcomes.flatMap((o) => o._tag === "Failed" ? [o] : [])
      for (const outcome of sent) assert.include(received, outcome.id)
      // The lost request was one whole chunk of 10 or 5, reported, not resent.
      assert.include([10, 5], failed.length, JSON.stringify(outcomes))
      assert.strictEqual(sent.length + failed.length, events.length)
      for (const outcome of failed) {
        assert.isTrue(outcome.maybeSent, outcome.id)
        assert.strictEqual(outcome.error._tag, "MaybeSentError")
        if (outcome.error._tag === "MaybeSentError") {
          assert.strictEqual(outcome.error.cause._tag, "TransientError")
          assert.include(outcome.error.message, "may have been sent")
        }
      }
    }))

  it.effect("FIFO: a lost batch response is retried, and deduplication keeps one message per event", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("lost") + ".fifo")
      const queue = yield* EventQueue.make({ queueUrl, schema: Order })
      const events = Array.from({ length: 15 }, (_, i) => order(`lf-${i}`))
      const report = yield* Scenario.run(
        queue.enqueueBatch(events).pipe(
          Effect.provide(RetryPolicy.layer({ maxAttempts: 5, baseDelay: "5 millis" }))
        ),
        {
          plan: {
            seed: 11,
            rules: [{ service: "sqs", operation: "SendMessageBatch", fault: "lostResponse", probability: 1, times: 1 }]
          }
        }
      )
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      if (!Exit.isSuccess(report.exit)) return
      assert.strictEqual(report.requests.byOutcome.lostResponse, 1, "the plan did lose one response")
      assert.deepStrictEqual(report.exit.value.map((o) => o._tag), events.map(() => "Sent"))
      const received = idsOf(yield* drain(queueUrl))
      assert.deepStrictEqual(received.sort(), events.map((e) => e.id).sort())
    }))

  it.effect.prop(
    "FIFO: whatever faults the attempts of a batch meet, an entry in the queue is reported sent or maybe sent",
    [attemptFaults],
    ([faults]) =>
      Effect.gen(function*() {
        const queueUrl = yield* createQueue(unique("attempts") + ".fifo")
        const queue = yield* EventQueue.make({ queueUrl, schema: Order })
        const events = Array.from({ length: 15 }, (_, i) => order(`a-${i}`))
        // With probability 1, each rule takes the next `times` requests, in order.
        const rules = faults.map(({ fault, times }) => ({
          service: "sqs" as const,
          operation: "SendMessageBatch",
          fault,
          probability: 1,
          times,
          latencyMs: 0
        }))
        const report = yield* Scenario.run(
          queue.enqueueBatch(events).pipe(
            Effect.provide(
              RetryPolicy.layer({ maxAttempts: 3, baseDelay: "1 millis", throttlingBaseDelay: "1 millis" })
            )
          ),
          { plan: { seed: 1, rules } }
        )
        assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
        if (!Exit.isSuccess(report.exit)) return
        const outcomes = report.exit.value
        const received = idsOf(yield* drain(queueUrl))
        assert.strictEqual(new Set(received).size, received.length, `an entry was received twice: ${received}`)
        const byId = new Map(outcomes.map((outcome) => [outcome.id, outcome]))
        for (const id of received) {
          const outcome = byId.get(id)!
          assert.isTrue(
            outcome._tag === "Sent" || (outcome._tag === "Failed" && outcome.maybeSent),
            `${id} is in the queue, but reported ${outcome._tag} and not maybe sent`
          )
        }
        for (const outcome of outcomes) {
          if (outcome._tag === "Sent") assert.include(received, outcome.id)
          if (outcome._tag === "Failed") {
            assert.strictEqual(outcome.error._tag === "MaybeSentError", outcome.maybeSent, outcome.error.message)
          }
        }
      }),
    {
      fastCheck: {
        numRuns: 12,
        // The issue's case: a lost response, then throttling until the attempts run out.
        examples: [[[{ fault: "lostResponse", times: 1 }, { fault: "throttle", times: 3 }]]]
      }
    }
  )

  it.effect.prop(
    "FIFO consume: a group's messages are handled one at a time, in order, and a failure releases the rest",
    [groupsAndFailures],
    ([{ failing, sizes }]) =>
      Effect.gen(function*() {
        const queueUrl = yield* createQueue(unique("groups") + ".fifo")
        const queue = yield* EventQueue.make({
          queueUrl,
          schema: Order,
          groupId: (event) => event.customer,
          waitTime: "1 second"
        })
        const events = sizes.flatMap((size, group) =>
          Array.from({ length: size }, (_, i) => order(`g${group}-${i}`, { customer: `g${group}`, amount: i }))
        )
        const failOnce = new Set(failing.flatMap((i) => i < events.length ? [events[i]!.id] : []))
        const sent = yield* queue.enqueueBatch(events)
        assert.isTrue(sent.every((outcome) => outcome._tag === "Sent"))
        const running = new Map<string, number>()
        let overlaps = 0
        const calls: Array<Order> = []
        let processed = 0
        const results = yield* queue.consume((event) =>
          Effect.gen(function*() {
            const now = (running.get(event.customer) ?? 0) + 1
            running.set(event.customer, now)
            if (now > 1) overlaps++
            const first = !calls.some((call) => call.id === event.id)
            calls.push(event)
            // Long enough for a second handler of the group, if one were started, to overlap this one.
            yield* Effect.sleep("5 millis")
            running.set(event.customer, now - 1)
            if (first && failOnce.has(event.id)) return yield* Effect.fail("the first handling fails")
          }), { retryDelay: "0 seconds" }).pipe(
            Stream.takeUntil((result) => result._tag === "Processed" && ++processed === events.length),
            Stream.runCollect,
            Effect.map(Chunk.toArray)
          )
        assert.strictEqual(overlaps, 0, "two messages of one group were handled at once")
        const failedIds = new Map(results.flatMap((r) => r._tag === "Failed" ? [[r.messageId, r.id]] : []))
        for (const [group, size] of sizes.entries()) {
          const customer = `g${group}`
          const handled = calls.filter((call) => call.customer === customer).map((call) => call.amount)
          // In order; a message is handled again only when it is the one that failed.
          for (let i = 1; i < handled.length; i++) {
            assert.isAtLeast(handled[i]!, handled[i - 1]!, `${customer} was handled out of order: ${handled}`)
          }
          const done = results.flatMap((r) => r._tag === "Processed" && r.id.startsWith(`${customer}-`) ? [r.id] : [])
          assert.deepStrictEqual(done, Array.from({ length: size }, (_, i) => `${customer}-${i}`))
        }
        for (const result of results) {
          if (result._tag === "Released") {
            const blocker = failedIds.get(result.blockedBy)
            assert.isDefined(blocker, "released after a failure")
            assert.strictEqual(
              result.id!.split("-")[0],
              blocker!.split("-")[0],
              "released after a failure in its group"
            )
          }
        }
        assert.deepStrictEqual(yield* drain(queueUrl), [])
      }),
    { fastCheck: { numRuns: 8 } }
  )

  it.effect("consume moves a message that keeps failing to the named dead-letter queue at maxReceiveCount", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("poison"))
      const deadLetterQueueUrl = yield* createQueue(unique("poison-dlq"))
      // Visibility of 1 s: without `retryDelay` applying to undecodable bodies, this test still ends.
      const queue = yield* EventQueue.make({
        queueUrl,
        schema: Order,
        visibilityTimeout: "1 second",
        waitTime: "1 second"
      })
      yield* SQS.sendMessage({
        QueueUrl: queueUrl,
        MessageBody: undecodableBody,
        MessageAttributes: { origin: { DataType: "String", StringValue: "test" } }
      })
      yield* queue.enqueue(order("always-fails"))
      const results = yield* queue.consume(() => Effect.fail("always"), {
        maxReceiveCount: 2,
        deadLetterQueueUrl,
        retryDelay: "0 seconds"
      }).pipe(Stream.take(4), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.deepStrictEqual(
        results.map((r) => r._tag).sort(),
        ["DeadLettered", "DeadLettered", "Failed", "Undecodable"]
      )
      const deadLettered = results.flatMap((r) => r._tag === "DeadLettered" ? [r] : [])
      for (const result of deadLettered) {
        assert.strictEqual(result.receiveCount, 2)
        assert.strictEqual(result.deadLetterQueueUrl, deadLetterQueueUrl)
      }
      const poison = deadLettered.find((r) => r.id === undefined)!
      assert.strictEqual(poison.body, undecodableBody)
      assert.strictEqual((poison.error as EventCodec.InvalidEventError)._tag, "InvalidEventError")
      assert.strictEqual(deadLettered.find((r) => r.id === "always-fails")!.error, "always")
      assert.deepStrictEqual(yield* drain(queueUrl), [], "removed from the queue")
      const moved = yield* drain(deadLetterQueueUrl)
      assert.sameMembers(moved.map((m) => m.Body), [undecodableBody, JSON.stringify(order("always-fails"))])
      const movedPoison = moved.find((m) => m.Body === undecodableBody)!
      assert.strictEqual(movedPoison.MessageAttributes?.origin?.StringValue, "test")
    }))

  it.effect("by default a poison message is deleted after 10 receives, unless the queue's redrive policy moves it", () =>
    Effect.gen(function*() {
      const plainUrl = yield* createQueue(unique("poison-plain"))
      const deadLetterQueueUrl = yield* createQueue(unique("redrive-dlq"))
      const redrivenUrl = yield* createQueue(unique("poison-redriven"), {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: yield* queueArn(deadLetterQueueUrl), maxReceiveCount: 12 })
      })
      const consumeOnce = (queueUrl: string, count: number) =>
        Effect.gen(function*() {
          const queue = yield* EventQueue.make({
            queueUrl,
            schema: Order,
            visibilityTimeout: "1 second",
            waitTime: "1 second"
          })
          yield* SQS.sendMessage({ QueueUrl: queueUrl, MessageBody: undecodableBody })
          return yield* queue.consume(() => Effect.void, { retryDelay: "0 seconds" }).pipe(
            Stream.take(count),
            Stream.runCollect,
            Effect.map(Chunk.toArray)
          )
        })
      const plain = yield* consumeOnce(plainUrl, 10)
      assert.deepStrictEqual(plain.map((r) => r._tag), [...Array(9).fill("Undecodable"), "DeadLettered"])
      const last = plain[9]!
      if (last._tag !== "DeadLettered") return
      assert.strictEqual(last.receiveCount, 10)
      assert.isUndefined(last.deadLetterQueueUrl, "deleted")
      assert.strictEqual(last.body, undecodableBody)
      assert.deepStrictEqual(yield* drain(plainUrl), [])
      // Past our default of 10: the queue's own policy (12) is left to act.
      const redriven = yield* consumeOnce(redrivenUrl, 12)
      assert.deepStrictEqual(redriven.map((r) => r._tag), Array(12).fill("Undecodable"))
      // The next receive is the 13th: SQS moves the message instead of delivering it.
      assert.deepStrictEqual(yield* drain(redrivenUrl), [])
      assert.deepStrictEqual((yield* drain(deadLetterQueueUrl)).map((m) => m.Body), [undecodableBody])
    }))

  it.effect("a handler that never ends is interrupted after 3 visibility timeouts, and its message comes back", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("stuck"))
      const queue = yield* EventQueue.make({
        queueUrl,
        schema: Order,
        visibilityTimeout: "1 second",
        waitTime: "1 second"
      })
      yield* queue.enqueue(order("s-1"))
      const counts: Array<number> = []
      let interrupted = false
      const results = yield* queue.consume((_, meta) => {
        counts.push(meta.receiveCount)
        return meta.receiveCount === 1
          ? Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted = true)))
          : Effect.void
      }).pipe(Stream.take(2), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.deepStrictEqual(results.map((r) => r._tag), ["TimedOut", "Processed"])
      const [timedOut] = results
      if (timedOut?._tag !== "TimedOut") return
      assert.strictEqual(timedOut.id, "s-1")
      assert.strictEqual(timedOut.error._tag, "HandlerTimeoutError")
      assert.isTrue(Duration.equals(timedOut.error.timeout, Duration.seconds(3)))
      assert.include(timedOut.error.message, "s-1")
      assert.isTrue(interrupted, "the handler was interrupted")
      assert.deepStrictEqual(counts, [1, 2])
      assert.deepStrictEqual(yield* drain(queueUrl), [])
    }))

  it.effect("a whole-request failure the policy does not retry is reported for every entry", () =>
    Effect.gen(function*() {
      const queue = yield* EventQueue.make({
        queueUrl: (yield* createQueue(unique("gone"))).replace(/gone-[^/]*$/, "does-not-exist"),
        schema: Order
      })
      yield* resetStats
      const outcomes = yield* queue.enqueueBatch(Array.from({ length: 25 }, (_, i) => order(`x-${i}`)), {
        concurrency: 1
      })
      assert.isTrue(outcomes.every((o) => o._tag === "Failed" && o.error._tag === "ServiceError"))
      assert.strictEqual((yield* sqsOutcomes).ok, 1, "the other batches were not sent")
    }))

  it.effect("consume handles, deletes and reports each message", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("consume"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order, waitTime: "1 second" })
      const events = Array.from({ length: 15 }, (_, i) => order(`k-${i}`, { amount: i }))
      yield* queue.enqueueBatch(events)
      const seen = yield* Ref.make(0)
      const results = yield* queue.consume((event, meta) =>
        Ref.update(seen, (n) => n + event.amount).pipe(Effect.zipRight(Effect.sync(() => meta.receiveCount))), {
        concurrency: 4
      }).pipe(Stream.take(15), Stream.runCollect)
      assert.isTrue(Chunk.every(results, (r) =>
        r._tag === "Processed"))
      assert.sameMembers(
        Chunk.toArray(results).map((r) =>
          r._tag === "Processed" ? r.id : ""
        ),
        events.map((e) => e.id)
      )
      assert.strictEqual(yield* Ref.get(seen), events.reduce((sum, e) => sum + e.amount, 0))
      assert.strictEqual((yield* drain(queueUrl)).length, 0, "processed messages are deleted")
    }))

  it.effect("consume reports a handler failure and the message comes back", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("redeliver"))
      const queue = yield* EventQueue.make({
        queueUrl,
        schema: Order,
        visibilityTimeout: "1 second",
        waitTime: "1 second"
      })
      yield* queue.enqueue(order("r-1"))
      const counts: Array<number> = []
      const results = yield* queue.consume((event, meta) => {
        counts.push(meta.receiveCount)
        return meta.receiveCount === 1 ? Effect.fail({ reason: "first try fails", id: event.id } as const) : Effect.void
      }).pipe(Stream.take(2), Stream.runCollect)
      const [first, second] = Chunk.toArray(results)
      assert.deepStrictEqual(first, {
        _tag: "Failed",
        id: "r-1",
        messageId: second!.messageId,
        error: { reason: "first try fails", id: "r-1" }
      })
      assert.deepStrictEqual(second, { _tag: "Processed", id: "r-1", messageId: first!.messageId })
      assert.deepStrictEqual(counts, [1, 2])
      assert.strictEqual((yield* drain(queueUrl)).length, 0)
    }))

  it.effect("consume with retryDelay makes a failed message visible again sooner", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("retry-delay"))
      const queue = yield* EventQueue.make({
        queueUrl,
        schema: Order,
        visibilityTimeout: "30 seconds",
        waitTime: "1 second"
      })
      yield* queue.enqueue(order("d-1"))
      const start = Date.now()
      const results = yield* queue.consume((_, meta) => meta.receiveCount === 1 ? Effect.fail("boom") : Effect.void, {
        retryDelay: "1 second"
      }).pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(Chunk.toArray(results).map((r) => r._tag), ["Failed", "Processed"])
      assert.isBelow(Date.now() - start, 10_000, "redelivered after the retry delay, not the 30 s timeout")
    }))

  it.effect("consume keeps a message invisible while a slow handler runs", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("heartbeat"))
      // Renewed every 1 s, so each renewal has 1 s to land before the message would come back; the handler runs
      // 1.5 s past the first timeout, time enough for the free slot's polls to redeliver it if nothing renewed it.
      const queue = yield* EventQueue.make({
        queueUrl,
        schema: Order,
        visibilityTimeout: "2 seconds",
        waitTime: "1 second"
      })
      yield* queue.enqueue(order("h-1"))
      let calls = 0
      const results = yield* queue.consume(() => {
        calls++
        return Effect.sleep("3500 millis")
      }, { concurrency: 2 }).pipe(
        Stream.take(1),
        Stream.runCollect
      )
      assert.deepStrictEqual(Chunk.toArray(results).map((r) => r._tag), ["Processed"])
      assert.strictEqual(calls, 1, "the message was not redelivered during the handler")
    }))

  it.effect("consume reports an undecodable body and leaves it", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("undecodable"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order, waitTime: "1 second" })
      yield* SQS.sendMessage({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ id: "u-1", amount: "lots" }) })
      const results = yield* queue.consume(() => Effect.void).pipe(Stream.take(1), Stream.runCollect)
      const result = Chunk.unsafeHead(results)
      assert.strictEqual(result._tag, "Undecodable")
      if (result._tag !== "Undecodable") return
      assert.includeMembers(result.error.issues.map((i) => i.path), ["customer", "amount"])
    }))

  it.effect("interrupting consume stops polling", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("interrupt"))
      const queue = yield* EventQueue.make({ queueUrl, schema: Order, waitTime: "1 second" })
      yield* queue.enqueue(order("i-1"))
      yield* queue.consume(() => Effect.void).pipe(Stream.take(1), Stream.runDrain)
      // The gateway still counts the aborted long poll once fauxqs answers it, within the 1 s wait (later on a
      // loaded machine, hence the margin).
      yield* Effect.sleep("2500 millis")
      yield* resetStats
      // A consumer still polling would be counted at least twice in this window.
      yield* Effect.sleep("2500 millis")
      assert.deepStrictEqual(yield* sqsOutcomes, {}, "no receive after the stream ended")
    }))

  it.effect("a receive failure fails the stream with the AwsError", () =>
    Effect.gen(function*() {
      const queueUrl = yield* createQueue(unique("missing"))
      const queue = yield* EventQueue.make({ queueUrl: queueUrl + "-nope", schema: Order, waitTime: "1 second" })
      const result = yield* Effect.either(queue.consume(() => Effect.void).pipe(Stream.runDrain))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "ServiceError")
    }))

  it.effect("the stack is the one the SQS layer talks to", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const sqs = yield* SQS.SQS
      assert.strictEqual(sqs.region, stack.region)
      assert.strictEqual(process.env.AWS_ENDPOINT_URL_SQS, stack.endpoints.sqs)
      // A call through the layer's client reaches the stack's gateway, signed well enough to be forwarded.
      const name = unique("wired")
      const queueUrl = yield* createQueue(name)
      yield* resetStats
      const found = yield* SQS.getQueueUrl({ QueueName: name })
      assert.strictEqual(found.QueueUrl, queueUrl)
      assert.deepStrictEqual(yield* sqsOutcomes, { ok: 1 })
    }))
})
