/**
 * What the core benchmarks run ours with: one static key (the bare client signs with the same), the default retry
 * policy, and only warnings logged.
 */
import type { Effect } from "effect"
import type * as Scope from "effect/Scope"
import type { Credentials, RetryPolicy } from "../src/index.js"
export declare const credentials: {
  accessKeyId: string
  secretAccessKey: string
}
/** Runs a benchmark's program (scoped) with `credentials`, the default retry policy and warnings only. */
export declare const provideBench: <A, E>(
  program: Effect.Effect<A, E, Credentials.Credentials | RetryPolicy.RetryPolicy | Scope.Scope>
) => Effect.Effect<A, E>
/**
 * The floor of any Effect wrapper that can abort its request when its fiber is interrupted: `Effect.async` with a
 * canceler (one that does nothing here; no signal is handed to the SDK).
 */
export declare const interruptibleSend: <A>(send: () => Promise<A>) => Effect.Effect<A, unknown>
