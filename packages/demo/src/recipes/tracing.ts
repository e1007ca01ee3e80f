import { NodeSdk } from "@effect/opentelemetry"
import { BatchSpanProcessor, ConsoleSpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, type Layer } from "effect"

// Every AWS call is a client span `<service>.<Operation>` (e.g. `dynamodb.PutItem`) with `rpc.system`,
// `rpc.service`, `rpc.method`, `cloud.region` and `aws.request_id`; retries and rebuilds happen inside it.
export const Tracing: Layer.Layer<never> = NodeSdk.layer(() => ({
  resource: { serviceName: "orders" },
  spanProcessor: new BatchSpanProcessor(new ConsoleSpanExporter())
}))

export const traced = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  program.pipe(Effect.withSpan("orders.ingest"), Effect.provide(Tracing))
