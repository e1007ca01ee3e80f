/**
 * @since 0.1.0
 */
export * as EventQueue from "./EventQueue.js"

/**
 * @since 0.1.0
 */
export * as EventQueueError from "./EventQueueError.js"

/**
 * @since 0.1.0
 */
export * as SQS from "./SQS.js"
