/**
 * The writing side of `EventStore`: one conditional write per event, on its key. Each item counts the writes that
 * landed on it (`writes`); when the condition fails, the stored copy is read back and its digest compared, so that
 * a retry after a lost response is `AlreadyStored` and a different event an `EventConflictError`.
 */
import { type AwsError, type EventCodec, type ManagedClient, Resilience } from "@aws-resilience/core"
import type { AttributeValue, DynamoDBClient, UpdateItemCommandInput } from "@aws-sdk/client-dynamodb"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import type * as EventStore from "../EventStore.js"
import { EventConflictError } from "../EventStoreError.js"
import { readItem } from "./eventReads.js"
import * as itemLayout from "./itemLayout.js"
import type { ItemLayout } from "./itemLayout.js"
import * as itemOperations from "./itemOperations.js"

const digestOf = (body: string) => createHash("sha256").update(body).digest("base64")

interface Write {
  readonly id: string
  readonly key: itemLayout.Item
  readonly digest: string
  readonly input: UpdateItemCommandInput
}

/**
 * The write of one encoded event, checked and built in one synchronous step: its id, its key, its fields and the
 * conditional update that stores them.
 */
const writeOf = <A>(
  layout: ItemLayout<A>,
  event: A,
  body: string,
  now: number
): Either.Either<Write, EventCodec.InvalidEventError> => {
  const { codec, names, parts, tableName } = layout
  const id = codec.id(event)
  if (Either.isLeft(id)) return Either.left(id.left)
  const key = itemLayout.keyOfEvent(layout, id.right, event)
  if (Either.isLeft(key)) return Either.left(key.left)
  const fields = itemLayout.fieldsOf(layout, body, key.right)
  if (Either.isLeft(fields)) return Either.left(fields.left)
  // The same digest in both layouts: of the encoded event's JSON text.
  const digest = digestOf(body)
  const attributeNames: Record<string, string> = {
    "#key": parts[0].name,
    "#digest": names.digest,
    "#storedAt": names.storedAt,
    "#writes": names.writes
  }
  const values: Record<string, AttributeValue> = {
    ":digest": { S: digest },
    ":at": { S: new Date(now).toISOString() },
    ":one": { N: "1" }
  }
  let sets = "#digest = :digest, #storedAt = :at"
  let i = 0
  for (const name in fields.right) {
    attributeNames[`#f${i}`] = name
    values[`:f${i}`] = fields.right[name]!
    sets += `, #f${i} = :f${i}`
    i++
  }
  // A conditional update rather than a put: `writes` counts the writes that landed, so a second copy
  // (an unconditional retry after a lost response) would be visible as `writes > 1`. On the full key,
  // `attribute_not_exists` of the partition key means "no item under this key".
  return Either.right({
    id: id.right,
    key: key.right,
    digest,
    input: {
      TableName: tableName,
      Key: key.right,
      UpdateExpression: `SET ${sets} ADD #writes :one`,
      ConditionExpression: "attribute_not_exists(#key)",
      ExpressionAttributeNames: attributeNames,
      ExpressionAttributeValues: values
    }
  })
}

/** Validates, encodes and writes one event, at most once whatever the retries. */
export const put = <A>(
  layout: ItemLayout<A>,
  client: ManagedClient.ManagedClient<DynamoDBClient>,
  event: A
): Effect.Effect<EventStore.PutResult, EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError> =>
  Effect.flatMap(layout.codec.encode(event), (body) =>
    Effect.clockWith((clock): Effect.Effect<
      EventStore.PutResult,
      EventCodec.InvalidEventError | EventConflictError | AwsError.AwsError
    > => {
      const write = writeOf(layout, event, body, clock.unsafeCurrentTimeMillis())
      if (Either.isLeft(write)) return Effect.fail(write.left)
      const { digest, id, key, input } = write.right
      const conflict = () => {
        const keyed = itemLayout.keyValues(layout, key)
        return new EventConflictError({
          tableName: layout.tableName,
          id,
          ...(keyed === undefined ? {} : { key: keyed })
        })
      }
      return itemOperations.updateItem(client, input).pipe(
        Effect.as<EventStore.PutResult>({ _tag: "Stored", id }),
        Effect.catchTag(
          "ConditionalCheckFailedError",
          () =>
            Effect.flatMap(
              readItem(layout, client, key),
              (stored) =>
                Option.isSome(stored) && stored.value[layout.names.digest]?.S === digest
                  ? Effect.succeed<EventStore.PutResult>({ _tag: "AlreadyStored", id })
                  : Effect.fail(conflict())
            )
        )
      )
    })).pipe(Resilience.withSpanWhenTraced("EventStore.put", { captureStackTrace: false }))
