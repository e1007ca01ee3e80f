/**
 * @since 0.1.0
 */
export * as AwsError from "./AwsError.js"
export * as Credentials from "./Credentials.js"
export * as EventCodec from "./EventCodec.js"
export * as ManagedClient from "./ManagedClient.js"
export * as Metrics from "./Metrics.js"
export * as Resilience from "./Resilience.js"
export * as RetryBudget from "./RetryBudget.js"
export * as RetryPolicy from "./RetryPolicy.js"
