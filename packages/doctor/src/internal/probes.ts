/**
 * Optional read-only probes of the resources the application uses: `DescribeTable` on a table, and
 * `GetQueueAttributes` on a queue (after `GetQueueUrl` when it is given by name).
 */
import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Check } from "../Doctor.js"
import { likelyCauses } from "./causes.js"
import type { Loaded } from "./credentialsCheck.js"
import type { Resolved } from "./endpoints.js"
import { check } from "./environment.js"
import * as Sdk from "./sdk.js"

const notAttempted = (name: string, loaded: Loaded): Check =>
  check({
    kind: "probe",
    name,
    status: "fail",
    summary: loaded._tag === "Failed"
      ? "not attempted: no credentials to sign with (see credentials)"
      : "not attempted: no region (see region)"
  })

const notFoundHint = (what: string, region: string): string =>
  `no ${what} of that name in ${region} for this account: check the name, the region and the account (see identity)`

export const describeTable = (
  table: string,
  region: string | undefined,
  loaded: Loaded,
  timeout: Duration.Duration
): Effect.Effect<Check> => {
  const name = `probe DescribeTable ${table}`
  if (loaded._tag === "Failed" || region === undefined) return Effect.succeed(notAttempted(name, loaded))
  return Effect.scoped(
    Effect.flatMap(
      Sdk.scoped(() => new DynamoDBClient({ region, credentials: loaded.identity, maxAttempts: 1 })),
      (client) =>
        Sdk.call(
          "dynamodb",
          "DescribeTable",
          timeout,
          (signal) => client.send(new DescribeTableCommand({ TableName: table }), { abortSignal: signal })
        )
    )
  ).pipe(
    Effect.map((answer) => {
      const status = answer.Table?.TableStatus ?? "?"
      return check({
        kind: "probe",
        name,
        status: status === "ACTIVE" ? "ok" : "warn",
        summary: `table ${table} is ${status}`,
        evidence: { table, tableStatus: status, tableArn: answer.Table?.TableArn },
        hints: status === "ACTIVE" ? [] : ["writes fail until the table is ACTIVE"]
      })
    }),
    Effect.catchAll((error) => {
      const code = Sdk.codeOf(error)
      return Effect.succeed(check({
        kind: "probe",
        name,
        status: "fail",
        summary: Sdk.describe(error),
        evidence: { table, error: error._tag, code },
        hints: code === "ResourceNotFoundException"
          ? [notFoundHint("table", region)]
          : likelyCauses(error, "dynamodb").map((hint) =>
            error._tag === "AccessDeniedError"
              ? hint.replace("permission", "permission (dynamodb:DescribeTable)")
              : hint
          )
      }))
    })
  )
}

const queueUrlOf = (
  client: SQSClient,
  queue: string,
  timeout: Duration.Duration
) =>
  /^https?:\/\//.test(queue)
    ? Effect.succeed(queue)
    : Effect.map(
      Sdk.call(
        "sqs",
        "GetQueueUrl",
        timeout,
        (signal) => client.send(new GetQueueUrlCommand({ QueueName: queue }), { abortSignal: signal })
      ),
      (answer) => answer.QueueUrl ?? queue
    )

export const getQueueAttributes = (
  queue: string,
  region: string | undefined,
  loaded: Loaded,
  endpoint: Resolved,
  timeout: Duration.Duration
): Effect.Effect<Check> => {
  // As `SQS.layerConfig` does: behind a configured endpoint, queue URLs are not used as endpoints (local servers
  // answer queue URLs on hosts that may not resolve).
  const override = endpoint._tag === "Resolved" && endpoint.endpoint.override
  const name = `probe GetQueueAttributes ${queue}`
  if (loaded._tag === "Failed" || region === undefined) return Effect.succeed(notAttempted(name, loaded))
  return Effect.scoped(
    Effect.flatMap(
      Sdk.scoped(() =>
        new SQSClient({
          region,
          credentials: loaded.identity,
          maxAttempts: 1,
          ...(override ? { useQueueUrlAsEndpoint: false } : {})
        })
      ),
      (client) =>
        Effect.flatMap(queueUrlOf(client, queue, timeout), (url) =>
          Sdk.call(
            "sqs",
            "GetQueueAttributes",
            timeout,
            (signal) =>
              client.send(
                new GetQueueAttributesCommand({
                  QueueUrl: url,
                  AttributeNames: ["QueueArn", "ApproximateNumberOfMessages", "KmsMasterKeyId"]
                }),
                { abortSignal: signal }
              )
          ))
    )
  ).pipe(
    Effect.map((answer) => {
      const attributes = answer.Attributes ?? {}
      return check({
        kind: "probe",
        name,
        status: "ok",
        summary: `queue ${attributes.QueueArn ?? queue}: ~${attributes.ApproximateNumberOfMessages ?? "?"} messages`,
        evidence: {
          queue,
          queueArn: attributes.QueueArn,
          approximateMessages: attributes.ApproximateNumberOfMessages,
          kmsKey: attributes.KmsMasterKeyId
        },
        hints: attributes.KmsMasterKeyId !== undefined
          ? ["the queue is encrypted with a KMS key: senders also need kms:GenerateDataKey, receivers kms:Decrypt"]
          : []
      })
    }),
    Effect.catchAll((error) => {
      const code = Sdk.codeOf(error)
      const missing = /NonExistentQueue|QueueDoesNotExist/.test(code)
      return Effect.succeed(check({
        kind: "probe",
        name,
        status: "fail",
        summary: Sdk.describe(error),
        evidence: { queue, error: error._tag, code },
        hints: missing ?
          [notFoundHint("queue", region)] :
          likelyCauses(error, "sqs").map((hint) =>
            error._tag === "AccessDeniedError"
              ? hint.replace("permission", "permission (sqs:GetQueueAttributes)")
              : hint
          )
      }))
    })
  )
}
