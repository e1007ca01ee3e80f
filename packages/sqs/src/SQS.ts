/**
 * Amazon SQS as an Effect service: a `ManagedClient` over the SDK's `SQSClient`, rebuilt per credentials
 * generation, and thin typed operations that each run one command through `Resilience.send`.
 *
 * @since 0.1.0
 */
import type { AwsError, Credentials, RetryBudget } from "@aws-resilience/core"
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
  SQSClient
} from "@aws-sdk/client-sqs"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/**
 * The SQS client of the context: a `ManagedClient<SQSClient>`.
 *
 * @since 0.1.0
 * @category tags
 */
export class SQS extends Context.Tag("@aws-resilience/sqs/SQS")<SQS, ManagedClient.ManagedClient<SQSClient>>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly region: string
  /** An explicit endpoint. Without it the SDK reads `AWS_ENDPOINT_URL_SQS`, then `AWS_ENDPOINT_URL`. */
  readonly endpoint?: string | undefined
  /** The retry budget shared by every call through this client. */
  readonly budget?: RetryBudget.Options | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ConfigOptions {
  readonly budget?: RetryBudget.Options | undefined
}

/**
 * Builds the client. Behind a configured endpoint (explicit or from the environment) queue URLs are not used as
 * endpoints, since local servers such as fauxqs answer queue URLs on hosts that may not resolve.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  ManagedClient.ManagedClient<SQSClient>,
  AwsError.ConfigurationError,
  Credentials.Credentials | Scope.Scope
> =>
  Effect.gen(function*() {
    const endpointConfigured = options.endpoint !== undefined
    return yield* ManagedClient.make({
      service: "sqs",
      region: options.region,
      endpoint: options.endpoint,
      budget: options.budget,
      build: (config) => new SQSClient(endpointConfigured ? { ...config, useQueueUrlAsEndpoint: false } : config)
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<SQS, AwsError.ConfigurationError, Credentials.Credentials> =>
  Layer.scoped(SQS, make(options))

/**
 * Reads the region as the SDK does (`AWS_REGION`, a missing one is a `ConfigurationError` naming it), and the
 * endpoint the SDK would read (`AWS_ENDPOINT_URL_SQS`, then `AWS_ENDPOINT_URL`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: ConfigOptions = {}
): Layer.Layer<SQS, AwsError.ConfigurationError, Credentials.Credentials> =>
  Layer.scoped(
    SQS,
    Effect.gen(function*() {
      const region = yield* ManagedClient.regionConfig
      const endpoint = Option.getOrUndefined(yield* ManagedClient.endpointConfig("SQS"))
      return yield* make({ region, endpoint, budget: options.budget })
    })
  )

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
