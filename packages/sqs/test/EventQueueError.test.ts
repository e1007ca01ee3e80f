/**
 * The errors of EventQueue: each carries the module's brand, and each guard recognises its own error only.
 */
import { AwsError } from "@aws-resilience/core"
import { assert, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as EventQueueError from "../src/EventQueueError.js"

it.effect("the errors are branded, and each guard recognises its own", () =>
  Effect.sync(() => {
    const cause = AwsError.fromCode("ServiceUnavailable", {
      service: "sqs",
      operation: "SendMessageBatch",
      generation: 1,
      fault: "server"
    })
    const errors = {
      MessageTooLargeError: new EventQueueError.MessageTooLargeError({ id: "e", size: 2, limit: 1 }),
      BatchEntryError: new EventQueueError.BatchEntryError({ code: "InternalError", reason: "", senderFault: false }),
      MaybeSentError: new EventQueueError.MaybeSentError({ cause }),
      HandlerTimeoutError: new EventQueueError.HandlerTimeoutError({
        id: "e",
        messageId: "m",
        timeout: Duration.seconds(1)
      })
    }
    const guards = {
      MessageTooLargeError: EventQueueError.isMessageTooLargeError,
      BatchEntryError: EventQueueError.isBatchEntryError,
      MaybeSentError: EventQueueError.isMaybeSentError,
      HandlerTimeoutError: EventQueueError.isHandlerTimeoutError
    }
    for (const [tag, error] of Object.entries(errors)) {
      assert.isTrue(EventQueueError.isEventQueueError(error), tag)
      for (const [name, guard] of Object.entries(guards)) assert.strictEqual(guard(error), name === tag, name)
    }
    // By brand, not by shape.
    assert.isFalse(EventQueueError.isMaybeSentError({ _tag: "MaybeSentError", cause }))
    assert.isFalse(EventQueueError.isEventQueueError(cause))
  }))
