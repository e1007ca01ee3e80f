/**
 * An event queue's options with their defaults applied, in the units the SQS API takes: what the batch sender and
 * the consumer share.
 */
import { EventCodec, type ManagedClient } from "@aws-resilience/core"
import type { SQSClient } from "@aws-sdk/client-sqs"
import * as Duration from "effect/Duration"
import type * as EventQueue from "../EventQueue.js"
import * as SQS from "../SQS.js"

/** The options of `EventQueue.make`, resolved once per queue. */
export interface QueueSettings<A> {
  readonly sqs: ManagedClient.ManagedClient<SQSClient>
  readonly queueUrl: string
  readonly fifo: boolean
  readonly codec: EventCodec.EventCodec<A>
  readonly groupOf: (event: A) => string
  /** Bytes. */
  readonly maxMessageSize: number
  readonly visibilitySeconds: number
  readonly waitSeconds: number
}

/** A duration in whole seconds, rounded up, within the bounds SQS accepts. */
export const clampSeconds = (duration: Duration.DurationInput, min: number, max: number): number =>
  Math.min(max, Math.max(min, Math.ceil(Duration.toSeconds(Duration.decode(duration)))))

/** Applies the defaults documented on `EventQueue.Options`. */
export const make = <A, I>(
  sqs: ManagedClient.ManagedClient<SQSClient>,
  options: EventQueue.Options<A, I>
): QueueSettings<A> => {
  const codec = EventCodec.make(options.schema, options.idOf)
  return {
    sqs,
    queueUrl: options.queueUrl,
    fifo: options.queueUrl.endsWith(".fifo"),
    codec,
    groupOf: options.groupId ?? codec.idOf,
    maxMessageSize: options.maxMessageSize ?? SQS.defaultMaxMessageSize,
    visibilitySeconds: clampSeconds(options.visibilityTimeout ?? Duration.seconds(30), 1, 43_200),
    waitSeconds: clampSeconds(options.waitTime ?? Duration.seconds(20), 0, 20)
  }
}
