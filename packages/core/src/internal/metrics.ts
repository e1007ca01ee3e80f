/**
 * The call-duration histograms, cached per service and operation so that the hot path builds no metric key.
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricState from "effect/MetricState"

const boundaries = MetricBoundaries.exponential({ start: 1, factor: 2, count: 16 })
type Histogram<In> = Metric.Metric<MetricKeyType.MetricKeyType.Histogram, In, MetricState.MetricState.Histogram>
// By service, then by operation: no key is built on the hot path.
const durations = new Map<string, Map<string, Histogram<number>>>()

/** `Metrics.callDuration` taking milliseconds, for the hot path: cached per service and operation. */
export const callDurationMillis = (service: string, operation: string): Histogram<number> => {
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
