/**
 * @since 0.1.0
 */
export * as AwsConfig from "./AwsConfig.js"

/**
 * @since 0.1.0
 */
export * as AwsError from "./AwsError.js"

/**
 * @since 0.1.0
 */
export * as Credentials from "./Credentials.js"

/**
 * @since 0.1.0
 */
export * as CredentialsProvider from "./CredentialsProvider.js"

/**
 * @since 0.1.0
 */
export * as EventCodec from "./EventCodec.js"

/**
 * @since 0.1.0
 */
export * as Generation from "./Generation.js"

/**
 * @since 0.1.0
 */
export * as ManagedClient from "./ManagedClient.js"

/**
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.js"

/**
 * @since 0.1.0
 */
export * as Resilience from "./Resilience.js"

/**
 * @since 0.1.0
 */
export * as RetryBudget from "./RetryBudget.js"

/**
 * @since 0.1.0
 */
export * as RetryPolicy from "./RetryPolicy.js"
