// Types of `floors.mjs`, for the packages' TypeScript benchmarks.
import type { Effect } from "effect";

export declare const interruptibleSend: <A>(send: () => Promise<A>) => Effect.Effect<A, unknown>;
