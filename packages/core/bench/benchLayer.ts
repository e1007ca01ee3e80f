/**
 * What the core benchmarks run ours with: one static key (the bare client signs with the same), the default retry
 * policy, and only warnings logged.
 */
import { HttpResponse } from "@smithy/protocol-http"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import type * as Scope from "effect/Scope"
import { ratios, reportInfo } from "../../../bench/lib/stats.mjs"
import { type AwsError, Credentials, CredentialsProvider, RetryPolicy } from "../src/index.js"

export const credentials = { accessKeyId: "AKIABENCHMARK0000", secretAccessKey: "bench-secret" }

/** An SDK request handler that answers every request at once with an empty JSON body: only the client's work counts. */
export const instantHandler = {
  handle: async () => ({
    response: new HttpResponse({
      statusCode: 200,
      headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "bench" },
      body: Buffer.from("{}")
    })
  }),
  updateHttpClientConfig: () => {},
  httpHandlerConfigs: () => ({})
}

/** Runs a benchmark's program (scoped) with `credentials`, the default retry policy and warnings only. */
export const provideBench = <A, E>(
  program: Effect.Effect<A, E, Credentials.Credentials | RetryPolicy.RetryPolicy | Scope.Scope>
): Effect.Effect<A, E | AwsError.ConfigurationError> =>
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

/**
 * Prints the variants with the SDK's handler cache on (`cacheMiddleware: true`), per round in ms per call: ours
 * against the bare client with it on too, and against the bare client with the SDK's defaults (information).
 */
export const reportCached = (times: {
  readonly bare: ReadonlyArray<number>
  readonly bareCached: ReadonlyArray<number>
  readonly oursCached: ReadonlyArray<number>
}): void => {
  reportInfo({ label: "cacheMiddleware on both: bare (µs/call)", values: times.bareCached.map((ms) => ms * 1000) })
  reportInfo({
    label: "cacheMiddleware on both: ours / bare",
    values: ratios(times.oursCached, times.bareCached),
    digits: 3
  })
  reportInfo({
    label: "ours, cacheMiddleware on / bare, SDK defaults",
    values: ratios(times.oursCached, times.bare),
    digits: 3
  })
}
