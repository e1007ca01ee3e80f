/**
 * The reading side of `EventStore`: an item read consistently by its key and decoded, and every item the store
 * wrote, a page at a time.
 */
import type { AwsError, EventCodec, ManagedClient } from "@aws-resilience/core"
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as DynamoDB from "../DynamoDB.js"
import type * as EventStore from "../EventStore.js"
import * as itemLayout from "./itemLayout.js"
import type { Item, ItemLayout } from "./itemLayout.js"
import * as itemOperations from "./itemOperations.js"

/** The item stored under a key, read consistently, as it is stored. */
export const readItem = <A>(
  layout: ItemLayout<A>,
  client: ManagedClient.ManagedClient<DynamoDBClient>,
  key: Item
): Effect.Effect<Option.Option<Item>, AwsError.AwsError> =>
  itemOperations.getItem(client, { TableName: layout.tableName, Key: key, ConsistentRead: true }).pipe(
    Effect.map((r) => Option.fromNullable(r.Item))
  )

/** The event stored under a key. */
export const getByKey = <A>(
  layout: ItemLayout<A>,
  client: ManagedClient.ManagedClient<DynamoDBClient>,
  key: Item
): Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError> =>
  Effect.flatMap(readItem(layout, client, key), (item) =>
    Option.match(item, {
      onNone: () => Effect.succeed(Option.none<A>()),
      onSome: (found) => Effect.map(itemLayout.decode(layout, found), Option.some)
    }))

/** The event stored under an event id; a defect when a key attribute is derived from the event. */
export const get = <A>(
  layout: ItemLayout<A>,
  client: ManagedClient.ManagedClient<DynamoDBClient>,
  id: string
): Effect.Effect<Option.Option<A>, EventCodec.InvalidEventError | AwsError.AwsError> => {
  const { fromEventPart, tableName } = layout
  return fromEventPart === undefined
    ? Effect.flatMap(itemLayout.keyOfId(layout, id), (key) => getByKey(layout, client, key))
    : Effect.dieMessage(
      `EventStore ${tableName}: get(id) cannot locate an item, the ${fromEventPart.role} key ` +
        `${fromEventPart.name} is derived from the event (key.${fromEventPart.role}.fromEvent); use getByKey`
    )
}

/** Every event the store wrote (the items carrying its digest attribute), a page at a time. */
export const list = <A>(
  layout: ItemLayout<A>,
  options: EventStore.ListOptions | undefined
): Stream.Stream<A, EventCodec.InvalidEventError | AwsError.AwsError, DynamoDB.DynamoDB> =>
  Stream.paginateChunkEffect(undefined as Item | undefined, (start) =>
    DynamoDB.scan({
      TableName: layout.tableName,
      Limit: options?.pageSize ?? 100,
      FilterExpression: "attribute_exists(#digest)",
      ExpressionAttributeNames: { "#digest": layout.names.digest },
      ...(start ? { ExclusiveStartKey: start } : {})
    }).pipe(
      Effect.flatMap((page) =>
        Effect.map(
          Effect.forEach(page.Items ?? [], (item) => itemLayout.decode(layout, item)),
          (events) => [Chunk.unsafeFromArray(events), Option.fromNullable(page.LastEvaluatedKey)] as const
        )
      )
    ))
