// The floors the benchmarks print beside their ratios: what any Effect wrapper of a bare SDK call costs.
import { Effect } from "effect";

/**
 * The floor of any Effect wrapper that can abort its request when its fiber is interrupted: `Effect.async` with a
 * canceler (one that does nothing here; no signal is handed to the SDK).
 */
export const interruptibleSend = (send) =>
  Effect.async((resume) => {
    send().then((value) => resume(Effect.succeed(value)), (error) => resume(Effect.fail(error)));
    return Effect.void;
  });
