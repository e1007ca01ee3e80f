/**
 * fauxqs stores whose FIFO queues receive as SQS does: as many messages of one group as the receive asks for, in
 * sequence order, before the next group (fauxqs alone returns at most one message per group per receive). A group
 * with a message in flight is still skipped, and the dead-letter move on `maxReceiveCount` is kept.
 *
 * fauxqs exports only its app, so its store classes are loaded from the installed package's files; this is
 * written against fauxqs 1.9 (the version the testkit pins).
 */
import type { BuildAppOptions } from "fauxqs"
import { randomUUID } from "node:crypto"
import { existsSync, realpathSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { pathToFileURL } from "node:url"

/** @internal */
export type Stores = NonNullable<BuildAppOptions["stores"]>

interface Message {
  approximateReceiveCount: number
  approximateFirstReceiveTimestamp?: number
  readonly messageId: string
  readonly body: string
  readonly md5OfBody: string
  readonly md5OfMessageAttributes?: string
  readonly messageAttributes: Record<string, unknown>
  readonly sequenceNumber?: string
}

interface Queue {
  readonly name: string
  readonly attributes: Record<string, string>
  readonly fifoMessages: Map<string, Array<Message>>
  readonly fifoLockedGroups: Map<string, number>
  readonly inflightMessages: Map<string, { message: Message; receiptHandle: string; visibilityDeadline: number }>
  readonly spy?: { addMessage(message: Record<string, unknown>): void }
  isFifo(): boolean
  processTimers(): void
  enqueue(message: Message): void
  dequeueFifo(
    maxCount: number,
    visibilityTimeoutOverride: number | undefined,
    dlqResolver: ((arn: string) => Queue | undefined) | undefined
  ): Array<Record<string, unknown>>
}

const distDirectory = (): string => {
  const require = createRequire(import.meta.url)
  for (const modules of require.resolve.paths("fauxqs") ?? []) {
    const dist = join(modules, "fauxqs", "dist")
    if (existsSync(join(dist, "sqs", "sqsStore.js"))) return realpathSync(dist)
  }
  throw new Error("fauxqs is not installed where the testkit can find it")
}

// Sequence numbers are zero-padded to one width, so they sort as strings.
const bySequence = (a: Message, b: Message) => (a.sequenceNumber ?? "").localeCompare(b.sequenceNumber ?? "")

function dequeueGroups(
  this: Queue,
  maxCount: number,
  visibilityTimeoutOverride: number | undefined,
  dlqResolver: ((arn: string) => Queue | undefined) | undefined
): Array<Record<string, unknown>> {
  this.processTimers()
  // fauxqs puts a message that becomes visible again at the front of its group, which reorders a group that had
  // several in flight; SQS always delivers a group in sequence order.
  for (const messages of this.fifoMessages.values()) messages.sort(bySequence)
  const visibilityTimeout = visibilityTimeoutOverride ?? parseInt(this.attributes.VisibilityTimeout ?? "30")
  let maxReceiveCount = Infinity
  let dlqArn: string | undefined
  try {
    const policy = JSON.parse(this.attributes.RedrivePolicy ?? "{}") as {
      maxReceiveCount?: number | string
      deadLetterTargetArn?: string
    }
    maxReceiveCount = Number(policy.maxReceiveCount ?? Infinity)
    dlqArn = policy.deadLetterTargetArn
  } catch {
    // An invalid policy is ignored, as fauxqs does.
  }
  const count = Math.min(maxCount, 10)
  const result: Array<Record<string, unknown>> = []
  for (const [groupId, messages] of this.fifoMessages) {
    if (result.length >= count) break
    if (this.fifoLockedGroups.has(groupId)) continue
    while (result.length < count && messages.length > 0) {
      const message = messages.shift()!
      message.approximateReceiveCount++
      message.approximateFirstReceiveTimestamp ??= Date.now()
      const dlq = dlqArn !== undefined && message.approximateReceiveCount > maxReceiveCount
        ? dlqResolver?.(dlqArn)
        : undefined
      if (dlq !== undefined) {
        this.spy?.addMessage({
          service: "sqs",
          queueName: this.name,
          messageId: message.messageId,
          body: message.body,
          messageAttributes: message.messageAttributes,
          status: "dlq",
          timestamp: Date.now()
        })
        dlq.enqueue(message)
        continue
      }
      const receiptHandle = randomUUID()
      this.inflightMessages.set(receiptHandle, {
        message,
        receiptHandle,
        visibilityDeadline: Date.now() + visibilityTimeout * 1000
      })
      result.push({
        MessageId: message.messageId,
        ReceiptHandle: receiptHandle,
        MD5OfBody: message.md5OfBody,
        Body: message.body,
        ...(message.md5OfMessageAttributes ? { MD5OfMessageAttributes: message.md5OfMessageAttributes } : {}),
        ...(Object.keys(message.messageAttributes).length > 0 ? { MessageAttributes: message.messageAttributes } : {})
      })
      this.fifoLockedGroups.set(groupId, (this.fifoLockedGroups.get(groupId) ?? 0) + 1)
    }
    if (messages.length === 0) this.fifoMessages.delete(groupId)
  }
  return result
}

/**
 * Stores for `buildApp` whose FIFO queues receive whole groups, as SQS does.
 *
 * @internal
 */
export const groupBatchingStores = async (): Promise<Stores> => {
  const dist = distDirectory()
  const load = (path: string) => import(pathToFileURL(join(dist, path)).href)
  const [{ SqsStore }, { SnsStore }, { S3Store }] = await Promise.all([
    load("sqs/sqsStore.js"),
    load("sns/snsStore.js"),
    load("s3/s3Store.js")
  ])
  const sqsStore = new SqsStore()
  const createQueue = sqsStore.createQueue.bind(sqsStore)
  sqsStore.createQueue = (...args: Array<unknown>) => {
    const queue = createQueue(...args) as Queue
    if (queue.isFifo()) queue.dequeueFifo = dequeueGroups
    return queue
  }
  return { sqsStore, snsStore: new SnsStore(), s3Store: new S3Store() }
}
