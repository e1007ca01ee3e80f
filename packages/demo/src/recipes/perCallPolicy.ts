import { AwsError, type EventCodec, RetryPolicy } from "@aws-resilience/core"
import { EventStore } from "@aws-resilience/dynamodb"
import { Effect } from "effect"

// Everything else keeps the policy of the layer; this one call gives up after two attempts and never retries a
// request that may already have been processed.
const impatient = RetryPolicy.make({
  maxAttempts: 2,
  isRetryable: (error) => RetryPolicy.defaultIsRetryable(error) && AwsError.isRejectedBeforeProcessing(error)
})

export const putOnce = <A>(
  store: EventStore.EventStore<A>,
  event: A
): Effect.Effect<
  EventStore.PutResult,
  EventCodec.InvalidEventError | EventStore.EventConflictError | AwsError.AwsError
> => EventStore.put(store, event).pipe(Effect.provideService(RetryPolicy.RetryPolicy, impatient))
