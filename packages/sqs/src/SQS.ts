/**
 * Amazon SQS as an Effect service: a `ManagedClient` over the SDK's `SQSClient`, rebuilt per credentials
 * generation, and thin typed operations that each run one command through `Resilience.send`.
 *
 * @since 0.1.0
 */
import type { AwsError, Credentials } from "@aws-resilience/core"
import { ManagedClient, Resilience } from "@aws-resilience/core"
import {
  ChangeMessageVisibilityCommand,
  type ChangeMessageVisibilityCommandInput,
  type ChangeMessageVisibilityCommandOutput,
  CreateQueueCommand,
  type CreateQueueCommandInput,
  type CreateQueueCommandOutput,
  DeleteMessageCommand,
  type DeleteMessageCommandInput,
  type DeleteMessageCommandOutput,
  GetQueueUrlCommand,
  type GetQueueUrlCommandInput,
  type GetQueueUrlCommandOutput,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  type ReceiveMessageCommandOutput,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  type SendMessageBatchCommandOutput,
  SendMessageCommand,
  type SendMessageCommandInput,
  type SendMessageCommandOutput,
  SQSClient,
  type SQSClientConfig
} from "@aws-sdk/client-sqs"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/**
 * The SQS client of the context: a `ManagedClient<SQSClient>`.
 *
 * @since 0.1.0
 * @category tags
 */
export class SQS extends Context.Tag("@aws-resilience/sqs/SQS")<SQS, ManagedClient.ManagedClient<SQSClient>>() {}

/**
 * What the SQS client takes: the region, an endpoint, the retry budget, the drain timeout, and anything else for
 * the SDK's `SQSClient` (`clientConfig`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends
  ManagedClient.ClientOptions<
    Omit<SQSClientConfig, "region" | "credentials" | "maxAttempts" | "endpoint" | "systemClockOffset">
  >
{}

// Behind a configured endpoint queue URLs are not used as endpoints: local servers such as fauxqs answer queue URLs
// on hosts that may not resolve.
const clients = ManagedClient.factory(SQS, {
  service: "sqs",
  serviceId: "SQS",
  build: (config, clientConfig: Options["clientConfig"]) =>
    new SQSClient({
      ...clientConfig,
      ...config,
      ...(config.endpoint !== undefined ? { useQueueUrlAsEndpoint: false } : {})
    })
})

/**
 * Builds the client; bad settings fail here with a `ConfigurationError` naming them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<
  ManagedClient.ManagedClient<SQSClient>,
  AwsError.ConfigurationError,
  Credentials.Credentials | Scope.Scope
> = clients.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => Layer.Layer<SQS, AwsError.ConfigurationError, Credentials.Credentials> =
  clients.layer

/**
 * `layer` with its options as `Config`s: the region defaults to `AWS_REGION` (then `AWS_DEFAULT_REGION`), the
 * endpoint to `AWS_ENDPOINT_URL_SQS` (then `AWS_ENDPOINT_URL`), as the SDK reads them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  options?: ManagedClient.ClientConfigOptions<Options["clientConfig"]>
) => Layer.Layer<SQS, AwsError.ConfigurationError, Credentials.Credentials> = clients.layerConfig

/**
 * @since 0.1.0
 * @category operations
 */
export const sendMessage = (
  input: SendMessageCommandInput
): Effect.Effect<SendMessageCommandOutput, AwsError.AwsError, SQS> =>
  Effect.flatMap(SQS, (sqs) => Resilience.send(sqs, new SendMessageCommand(input)))

/**
 * @since 0.1.0
 * @category operations
 */
export const sendMessageBatch = (
  input: SendMessageBatchCommandInput
): Effect.Effect<SendMessageBatchCommandOutput, AwsError.AwsError, SQS> =>
  Effect.flatMap(SQS, (sqs) => Resilience.send(sqs, new SendMessageBatchCommand(input)))

/**
 * @since 0.1.0
 * @category operations
 */
export const receiveMessage = (
  input: ReceiveMessageCommandInput
): Effect.Effect<ReceiveMessageCommandOutput, AwsError.AwsError, SQS> =>
  Effect.flatMap(SQS, (sqs) => Resilience.send(sqs, new ReceiveMessageCommand(input)))

/**
 * @since 0.1.0
 * @category operations
 */
export const deleteMessage = (
  input: DeleteMessageCommandInput
): Effect.Effect<DeleteMessageCommandOutput, AwsError.AwsError, SQS> =>
  Effect.flatMap(SQS, (sqs) => Resilience.send(sqs, new DeleteMessageCommand(input)))

/**
 * @since 0.1.0
 * @category operations
 */
export const changeMessageVisibility = (
  input: ChangeMessageVisibilityCommandInput
): Effect.Effect<ChangeMessageVisibilityCommandOutput, AwsError.AwsError, SQS> =>
  Effect.flatMap(SQS, (sqs) => Resilience.send(sqs, new ChangeMessageVisibilityCommand(input)))

/**
 * @since 0.1.0
 * @category operations
 */
export const createQueue = (
  input: CreateQueueCommandInput
): Effect.Effect<CreateQueueCommandOutput, AwsError.AwsError, SQS> =>
  Effect.flatMap(SQS, (sqs) => Resilience.send(sqs, new CreateQueueCommand(input)))

/**
 * @since 0.1.0
 * @category operations
 */
export const getQueueUrl = (
  input: GetQueueUrlCommandInput
): Effect.Effect<GetQueueUrlCommandOutput, AwsError.AwsError, SQS> =>
  Effect.flatMap(SQS, (sqs) => Resilience.send(sqs, new GetQueueUrlCommand(input)))

/**
 * The SQS limit on one message (body plus attributes) and on the sum of one batch's messages, 1 MiB (raised from
 * 256 KiB in 2025; also the default `MaximumMessageSize` of a queue created through the API without that attribute):
 * the default `maxMessageSize` of `EventQueue`. Queues created before 2025, or by tools that still set 256 KiB, may
 * have a lower `MaximumMessageSize`: give that as `maxMessageSize`, or SQS refuses a larger message itself (a
 * `ServiceError`, `InvalidParameterValue`, not retried) instead of `EventQueue` refusing it before sending.
 *
 * @since 0.1.0
 * @category limits
 */
export const defaultMaxMessageSize = 1_048_576

/**
 * At most this many entries go in one `SendMessageBatch`, and one `ReceiveMessage` returns at most this many.
 *
 * @since 0.1.0
 * @category limits
 */
export const maxBatchEntries = 10

/**
 * The size of a message as SQS counts it against its limit: the body's UTF-8 bytes plus, for each attribute, its
 * name, data type and value.
 *
 * @since 0.1.0
 * @category limits
 */
export const messageSize = (body: string, attributes: SendMessageCommandInput["MessageAttributes"] = {}): number => {
  let size = Buffer.byteLength(body, "utf8")
  for (const [name, attribute] of Object.entries(attributes)) {
    size += Buffer.byteLength(name, "utf8") + Buffer.byteLength(attribute.DataType ?? "", "utf8")
    if (attribute.StringValue !== undefined) size += Buffer.byteLength(attribute.StringValue, "utf8")
    if (attribute.BinaryValue !== undefined) size += attribute.BinaryValue.byteLength
  }
  return size
}
