/**
 * @since 0.1.0
 */
export * as DynamoDB from "./DynamoDB.js"
export * as DynamoDBError from "./DynamoDBError.js"
export * as EventStore from "./EventStore.js"
