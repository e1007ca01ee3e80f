/**
 * Runs a user's program against the local stack under a fault plan and a list of credential events, and
 * reports what happened: the program's exit, the gateway's requests by outcome, the credential fetches and the
 * client rebuilds.
 *
 * @since 0.1.0
 */
import { Metrics } from "@aws-resilience/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as CredentialEvent from "./CredentialEvent.js"
import * as FaultPlan from "./FaultPlan.js"
import type * as Gateway from "./Gateway.js"
import { LocalAws } from "./LocalAws.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly plan?: FaultPlan.FaultPlan | undefined
  readonly events?: ReadonlyArray<CredentialEvent.CredentialEvent> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Report<A, E> {
  readonly exit: Exit.Exit<A, E>
  readonly requests: Gateway.Stats
  readonly credentialFetches: number
  readonly clientRebuilds: number
}

// The stack runs on real sockets, so the scenario runs on real time even inside `it.effect`.
const liveClock = Clock.make()

const sleepLive = (ms: number) => Effect.sleep(ms).pipe(Effect.withClock(liveClock))

/**
 * Runs `program` with the plan installed and the events applied at their times, then restores an empty plan.
 *
 * @since 0.1.0
 * @category combinators
 */
export const run = <A, E, R>(
  program: Effect.Effect<A, E, R>,
  options: Options = {}
): Effect.Effect<Report<A, E>, never, R | LocalAws> =>
  Effect.gen(function*() {
    const stack = yield* LocalAws
    yield* stack.gateway.resetStats
    const fetchesBefore = yield* stack.authority.fetchCount
    const rebuildsBefore = (yield* Metric.value(Metrics.clientRebuilds)).count
    yield* stack.gateway.setPlan(options.plan ?? FaultPlan.empty)
    const events = yield* Effect.fork(
      Effect.reduce(options.events ?? [], 0, (elapsed, event) =>
        sleepLive(Math.max(0, event.atMs - elapsed)).pipe(
          Effect.zipRight(CredentialEvent.apply(stack.authority, event)),
          Effect.as(Math.max(elapsed, event.atMs))
        ))
    )
    const exit = yield* Effect.exit(program.pipe(Effect.withClock(liveClock)))
    yield* Fiber.interrupt(events)
    yield* stack.gateway.setPlan(FaultPlan.empty)
    return {
      exit,
      requests: yield* stack.gateway.stats,
      credentialFetches: (yield* stack.authority.fetchCount) - fetchesBefore,
      clientRebuilds: (yield* Metric.value(Metrics.clientRebuilds)).count - rebuildsBefore
    }
  })
