/**
 * The metrics the toolkit records, as Effect `Metric`s, so any Effect metrics exporter picks them up.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Metric from "effect/Metric"
import * as internal from "./internal/metrics.js"

/**
 * Each call of a credentials provider.
 *
 * @since 0.1.0
 * @category metrics
 */
export const credentialRefreshes = Metric.counter("aws_resilience_credential_refreshes", {
  description: "credential provider resolutions",
  incremental: true
})

/**
 * Each SDK client built to replace a stale one.
 *
 * @since 0.1.0
 * @category metrics
 */
export const clientRebuilds = Metric.counter("aws_resilience_client_rebuilds", {
  description: "SDK clients rebuilt for a new credentials generation",
  incremental: true
})

/**
 * Each retry, tagged with `error` (the error's tag), `service` and `operation`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retries = Metric.counter("aws_resilience_retries", {
  description: "retried AWS calls by error tag",
  incremental: true
})

/**
 * Duration of a whole call in milliseconds, retries included, for one service and operation
 * (`aws_resilience_call_duration{service,operation}`): every call that ends, in success or failure, but not one that
 * is interrupted.
 *
 * @since 0.1.0
 * @category metrics
 */
export const callDuration = (service: string, operation: string): Metric.Metric.Histogram<Duration.Duration> =>
  Metric.mapInput(internal.callDurationMillis(service, operation), Duration.toMillis)
