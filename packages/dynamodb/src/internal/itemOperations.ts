/**
 * The item operations on a given client: what `DynamoDB.putItem`, `getItem`, `deleteItem` and `updateItem` run on
 * the client of the context, and what `EventStore` runs on the client it holds (no service lookup per call). The
 * writes that can carry a condition fail with a `ConditionalCheckFailedError` when it does not hold.
 */
import { type AwsError, type ManagedClient, Resilience } from "@aws-resilience/core"
import {
  DeleteItemCommand,
  type DeleteItemCommandInput,
  type DeleteItemCommandOutput,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  type GetItemCommandOutput,
  PutItemCommand,
  type PutItemCommandInput,
  type PutItemCommandOutput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  type UpdateItemCommandOutput
} from "@aws-sdk/client-dynamodb"
import type * as Effect from "effect/Effect"
import * as DynamoDBError from "../DynamoDBError.js"

type Client = ManagedClient.ManagedClient<DynamoDBClient>
type WriteError = AwsError.AwsError | DynamoDBError.ConditionalCheckFailedError

export const putItem = (client: Client, input: PutItemCommandInput): Effect.Effect<PutItemCommandOutput, WriteError> =>
  DynamoDBError.refineCondition(Resilience.send(client, new PutItemCommand(input)))

export const getItem = (
  client: Client,
  input: GetItemCommandInput
): Effect.Effect<GetItemCommandOutput, AwsError.AwsError> => Resilience.send(client, new GetItemCommand(input))

export const deleteItem = (
  client: Client,
  input: DeleteItemCommandInput
): Effect.Effect<DeleteItemCommandOutput, WriteError> =>
  DynamoDBError.refineCondition(Resilience.send(client, new DeleteItemCommand(input)))

export const updateItem = (
  client: Client,
  input: UpdateItemCommandInput
): Effect.Effect<UpdateItemCommandOutput, WriteError> =>
  DynamoDBError.refineCondition(Resilience.send(client, new UpdateItemCommand(input)))
