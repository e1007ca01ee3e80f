/**
 * The metrics the toolkit records, as Effect `Metric`s, so any Effect metrics exporter picks them up.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricState from "effect/MetricState"

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

const boundaries = MetricBoundaries.exponential({ start: 1, factor: 2, count: 16 })
type Histogram<In> = Metric.Metric<MetricKeyType.MetricKeyType.Histogram, In, MetricState.MetricState.Histogram>
// By service, then by operation: no key is built on the hot path.
const durations = new Map<string, Map<string, Histogram<number>>>()

/**
 * `callDuration` taking milliseconds, for the hot path: cached per service and operation.
 *
 * @since 0.1.0
 * @category metrics
 */
export const unsafeCallDurationMillis = (service: string, operation: string): Histogram<number> => {
  let byOperation = durations.get(service)
  if (byOperation === undefined) durations.set(service, byOperation = new Map())
  let metric = byOperation.get(operation)
  if (metric === undefined) {
    // The labels live in the key itself: `Metric.tagged` would build and hash a new key on every update.
    const key = MetricKey.histogram("aws_resilience_call_duration", boundaries, "AWS call duration, retries included")
      .pipe(
        MetricKey.taggedWithLabels([
          MetricLabel.make("service", service),
          MetricLabel.make("operation", operation),
          MetricLabel.make("time_unit", "milliseconds")
        ])
      )
    metric = Metric.fromMetricKey(key)
    byOperation.set(operation, metric)
  }
  return metric
}

/**
 * Duration of a whole call in milliseconds, retries included, for one service and operation
 * (`aws_resilience_call_duration{service,operation}`): every call that ends, in success or failure, but not one that
 * is interrupted.
 *
 * @since 0.1.0
 * @category metrics
 */
export const callDuration = (service: string, operation: string): Metric.Metric.Histogram<Duration.Duration> =>
  Metric.mapInput(unsafeCallDurationMillis(service, operation), Duration.toMillis)
