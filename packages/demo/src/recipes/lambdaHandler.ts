import { Credentials, CredentialsProvider, RetryPolicy } from "@aws-resilience/core"
import { DynamoDB, EventStore } from "@aws-resilience/dynamodb"
// Deep imports: the `effect` barrel re-exports whole namespaces (fast-check among them) that bundlers cannot drop.
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"

const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
class Orders extends Context.Tag("app/Orders")<Orders, EventStore.EventStore<typeof Order.Type>>() {}

// Built once per execution environment, in the init phase, when Lambda loads the module. On Lambda the role's
// credentials are environment variables, so the provider is `environment()`.
const runtime = ManagedRuntime.make(
  EventStore.layerConfig(Orders, { tableName: Config.string("ORDERS_TABLE"), schema: Order }).pipe(
    Layer.provide(DynamoDB.layerConfig()),
    Layer.provide(Layer.merge(
      Credentials.layerConfig({ provider: CredentialsProvider.environment() }),
      RetryPolicy.layerConfig()
    ))
  )
)

export const handler = (event: { readonly body?: string }): Promise<{ statusCode: number; body: string }> =>
  runtime.runPromise(
    Effect.gen(function*() {
      const order = yield* Schema.decodeUnknown(Schema.parseJson(Order))(event.body ?? "")
      const result = yield* EventStore.put(yield* Orders, order)
      return { statusCode: result._tag === "Stored" ? 201 : 200, body: JSON.stringify(result) }
    }).pipe(
      Effect.catchAll((error) => Effect.succeed({ statusCode: 400, body: error.message }))
    )
  )
