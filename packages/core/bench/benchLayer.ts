/**
 * What the core benchmarks run ours with: one static key (the bare client signs with the same), the default retry
 * policy, and only warnings logged.
 */
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import type * as Scope from "effect/Scope"
import { Credentials, CredentialsProvider, RetryPolicy } from "../src/index.js"

export const credentials = { accessKeyId: "AKIABENCHMARK0000", secretAccessKey: "bench-secret" }

/** Runs a benchmark's program (scoped) with `credentials`, the default retry policy and warnings only. */
export const provideBench = <A, E>(
  program: Effect.Effect<A, E, Credentials.Credentials | RetryPolicy.RetryPolicy | Scope.Scope>
): Effect.Effect<A, E> =>
  program.pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(
      Credentials.layer({
        provider: CredentialsProvider.fromStatic({
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: Redacted.make(credentials.secretAccessKey)
        })
      }),
      RetryPolicy.layer()
    )),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )

/** Runs `next()` `calls` times in a row in one fiber; the result is the time per call in ms. */
export const msPerCall = <E, R>(calls: number, next: () => Effect.Effect<unknown, E, R>): Effect.Effect<number, E, R> =>
  Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < calls; i++) yield* next()
    return (performance.now() - start) / calls
  })
