import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { Credentials, ManagedClient, Resilience, RetryPolicy } from "../src/index.js"
const N = 50000
class Null {
  send(_c: any, _o?: any) {
    return Promise.resolve({})
  }
  destroy() {}
}
const t = (name: string, e: Effect.Effect<any, any>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) yield* e
    const s = performance.now()
    for (let i = 0; i < N; i++) yield* e
    console.log(name, ((performance.now() - s) / N * 1000).toFixed(2), "µs")
  })
await Effect.runPromise(
  Effect.gen(function*() {
    const managed = yield* ManagedClient.make({ service: "x", region: "r", build: () => new Null() })
    const cmd = { constructor: { name: "PutItemCommand" } } as any
    yield* t("promise", Effect.promise(() => Promise.resolve(1)))
    yield* t("use", managed.use((c) => Effect.promise(() => c.send(cmd))))
    yield* t("execute", Resilience.execute(managed, { name: "PutItem", run: (c) => c.send(cmd) }))
    yield* t(
      "execute signal",
      Resilience.execute(managed, { name: "PutItem", run: (c, signal) => c.send(cmd, { abortSignal: signal }) })
    )
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.mergeAll(
        Credentials.layer({
          provider: Credentials.fromStatic({ accessKeyId: "AKIA1234", secretAccessKey: Redacted.make("x") })
        }),
        RetryPolicy.layer()
      )
    ),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
