/**
 * @since 0.1.0
 */
export * as Doctor from "./Doctor.js"

/**
 * @since 0.1.0
 */
export * as Network from "./Network.js"
