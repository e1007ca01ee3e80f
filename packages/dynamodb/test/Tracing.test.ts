/**
 * What an OpenTelemetry exporter receives for DynamoDB calls, through @effect/opentelemetry's NodeSdk and the SDK's
 * in-memory exporter, against the local stack: one client span per call, with the region and AWS's request id.
 */
import { NodeSdk } from "@effect/opentelemetry"
import { assert, layer } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Schema } from "effect"
import { DynamoDB, EventStore } from "../src/index.js"
import { Live, newTable } from "./fixtures.js"

const exporter = new InMemorySpanExporter()
const Tracing = NodeSdk.layer(() => ({
  resource: { serviceName: "tracing-test" },
  spanProcessor: new SimpleSpanProcessor(exporter)
}))

layer(Layer.merge(Live, Tracing), { excludeTestServices: true })("DynamoDB spans", (it) => {
  it.effect("each call is a client span carrying the region and the AWS request id, also when it fails", () =>
    Effect.gen(function*() {
      const table = yield* newTable("traced")
      exporter.reset()
      yield* DynamoDB.putItem({ TableName: table, Item: { id: { S: "a" } } })
      yield* Effect.flip(DynamoDB.getItem({ TableName: "no-such-table", Key: { id: { S: "a" } } }))
      const spans = exporter.getFinishedSpans()
      const put = spans.find((span) => span.name === "dynamodb.PutItem")
      const get = spans.find((span) => span.name === "dynamodb.GetItem")
      assert.isDefined(put)
      assert.isDefined(get)
      for (const span of [put!, get!]) {
        assert.strictEqual(span.kind, 2, "a client span")
        assert.strictEqual(span.attributes["rpc.system"], "aws-api")
        assert.strictEqual(span.attributes["rpc.service"], "dynamodb")
        assert.strictEqual(span.attributes["cloud.region"], process.env.AWS_REGION)
        assert.match(String(span.attributes["aws.request_id"]), /^[0-9A-Za-z-]{8,}$/)
      }
      assert.notStrictEqual(put!.attributes["aws.request_id"], get!.attributes["aws.request_id"])
      assert.strictEqual(get!.status.code, 2, "the failed call's span is an error")
    }))

  it.effect("EventStore.put is a span, with its conditional write as a client span inside it", () =>
    Effect.gen(function*() {
      const table = yield* newTable("traced-store")
      const store = yield* EventStore.make({ tableName: table, schema: Schema.Struct({ id: Schema.String }) })
      exporter.reset()
      yield* store.put({ id: "e-1" })
      const spans = exporter.getFinishedSpans()
      const put = spans.find((span) => span.name === "EventStore.put")
      const update = spans.find((span) => span.name === "dynamodb.UpdateItem")
      assert.isDefined(put)
      assert.isDefined(update)
      assert.strictEqual(update!.parentSpanContext?.spanId, put!.spanContext().spanId)
    }))
})
