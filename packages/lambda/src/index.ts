/**
 * @since 0.1.0
 */
export * as LambdaHandler from "./LambdaHandler.js"

/**
 * @since 0.1.0
 */
export * as LambdaHandlerError from "./LambdaHandlerError.js"
