/**
 * The writing side of `EventStore`: one conditional write per event, on its key. Each item counts the writes that
 * landed on it (`writes`); when the condition fails, the stored copy is read back and its digest compared, so that
 * a retry after a lost response is `AlreadyStored` and a different event an `EventConflictError`.
 */
import { type AwsError, type EventCodec, type ManagedClient, Resilience } from "@aws-resilience/core"
import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import type * as EventStore from "../EventStore.js"
import { EventConflictError } from "../EventStoreError.js"
import { readItem } from "./eventReads.js"
import * as itemLayout from "./itemLayout.js"
import type { ItemLayout } from "./itemLayout.js"
import * as itemOperations from "./itemOperations.js"

const digestOf = (body: string) => createHash("sha256").update(body).digest("base64")

/** Validates, encodes and writes one event, at most once whatever the retries. */
export const put = <A>(
  layout: ItemLayout<A>,
  client: ManagedClient.ManagedClient<DynamoDBClient>,
  event: A
): Effect.Effect<EventStore.PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError> =>
  Effect.gen(function*() {
    const { codec, names, parts, tableName } = layout
    const body = yield* codec.encode(event)
    const id = yield* codec.id(event)
    const key = yield* itemLayout.keyOfEvent(layout, id, event)
    const fields = yield* itemLayout.fieldsOf(layout, body, key)
    // The same digest in both layouts: of the encoded event's JSON text.
    const digest = digestOf(body)
    const at = new Date(yield* Clock.currentTimeMillis).toISOString()
    const attributeNames: Record<string, string> = {
      "#key": parts[0].name,
      "#digest": names.digest,
      "#storedAt": names.storedAt,
      "#writes": names.writes
    }
    const values: Record<string, AttributeValue> = {
      ":digest": { S: digest },
      ":at": { S: at },
      ":one": { N: "1" }
    }
    const sets = ["#digest = :digest", "#storedAt = :at"]
    Object.entries(fields).forEach(([name, value], i) => {
      attributeNames[`#f${i}`] = name
      values[`:f${i}`] = value
      sets.push(`#f${i} = :f${i}`)
    })
    const conflict = () => {
      const keyed = itemLayout.keyValues(layout, key)
      return new EventConflictError({ tableName, id, ...(keyed === undefined ? {} : { key: keyed }) })
    }
    // A conditional update rather than a put: `writes` counts the writes that landed, so a second copy
    // (an unconditional retry after a lost response) would be visible as `writes > 1`. On the full key,
    // `attribute_not_exists` of the partition key means "no item under this key".
    return yield* itemOperations.updateItem(client, {
      TableName: tableName,
      Key: key,
      UpdateExpression: `SET ${sets.join(", ")} ADD #writes :one`,
      ConditionExpression: "attribute_not_exists(#key)",
      ExpressionAttributeNames: attributeNames,
      ExpressionAttributeValues: values
    }).pipe(
      Effect.as<EventStore.PutResult>({ _tag: "Stored", id }),
      Effect.catchTag(
        "ConditionalCheckFailedError",
        () =>
          Effect.flatMap(
            readItem(layout, client, key),
            (stored) =>
              Option.isSome(stored) && stored.value[names.digest]?.S === digest
                ? Effect.succeed<EventStore.PutResult>({ _tag: "AlreadyStored", id })
                : Effect.fail(conflict())
          )
      )
    )
  }).pipe(Resilience.withSpanWhenTraced("EventStore.put", { captureStackTrace: false }))
