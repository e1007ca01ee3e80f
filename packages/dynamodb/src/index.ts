/**
 * @since 0.1.0
 */
export * as DynamoDB from "./DynamoDB.js"

/**
 * @since 0.1.0
 */
export * as DynamoDBError from "./DynamoDBError.js"

/**
 * @since 0.1.0
 */
export * as EventStore from "./EventStore.js"

/**
 * @since 0.1.0
 */
export * as EventStoreError from "./EventStoreError.js"
