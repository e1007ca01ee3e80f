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
