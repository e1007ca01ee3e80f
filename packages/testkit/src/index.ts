/**
 * @since 0.1.0
 */
export * as Arbitraries from "./Arbitraries.js"

/**
 * @since 0.1.0
 */
export * as CredentialEvent from "./CredentialEvent.js"

/**
 * @since 0.1.0
 */
export * as CredentialsAuthority from "./CredentialsAuthority.js"

/**
 * @since 0.1.0
 */
export * as FaultPlan from "./FaultPlan.js"

/**
 * @since 0.1.0
 */
export * as Gateway from "./Gateway.js"

/**
 * @since 0.1.0
 */
export * as GroundTruth from "./GroundTruth.js"

/**
 * @since 0.1.0
 */
export * as LambdaEnvironment from "./LambdaEnvironment.js"

/**
 * @since 0.1.0
 */
export * as LambdaRuntimeApi from "./LambdaRuntimeApi.js"

/**
 * @since 0.1.0
 */
export * as LocalAws from "./LocalAws.js"

/**
 * @since 0.1.0
 */
export * as Scenario from "./Scenario.js"

/**
 * @since 0.1.0
 */
export * as StackError from "./StackError.js"
