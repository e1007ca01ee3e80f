/**
 * The wall clock the testkit's servers and scenarios run on. They serve real sockets, so they keep real time
 * even inside `it.effect`, whose `TestClock` only moves when a test adjusts it.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

/** @internal */
export const liveClock: Clock.Clock = Clock.make()

/** @internal */
export const withLiveClock = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withClock(self, liveClock)
