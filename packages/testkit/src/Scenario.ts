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
  readonly plan?: FaultPlan.FaultPlanEncoded | FaultPlan.FaultPlan | undefined
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

let scenarios = 0

// The stack runs on real sockets, so the scenario runs on real time even inside `it.effect`.
const liveClock = Clock.make()

const sleepLive = (ms: number) => Effect.sleep(ms).pipe(Effect.withClock(liveClock))

/**
 * Runs `program` with the plan installed and the events applied at their times, then restores an empty plan.
 * The program's own failure is in the report's `exit`; `run` itself fails only with `FaultPlanError`, when the
 * plan is invalid, before the program starts.
 *
 * @since 0.1.0
 * @category combinators
 */
export const run = <A, E, R>(
  program: Effect.Effect<A, E, R>,
  options: Options = {}
): Effect.Effect<Report<A, E>, FaultPlan.FaultPlanError, R | LocalAws> =>
  Effect.gen(function*() {
    const stack = yield* LocalAws
    const plan = options.plan === undefined ? FaultPlan.empty : yield* FaultPlan.decode(options.plan)
    yield* stack.gateway.resetStats
    const fetchesBefore = yield* stack.authority.fetchCount
    // Rebuilds are counted under a label of this run only, so other work in the process does not show up.
    const label = String(++scenarios)
    const rebuilds = Metric.tagged(Metrics.clientRebuilds, "aws_resilience_scenario", label)
    yield* stack.gateway.setPlan(plan)
    const events = yield* Effect.fork(
      Effect.reduce(options.events ?? [], 0, (elapsed, event) =>
        sleepLive(Math.max(0, event.atMs - elapsed)).pipe(
          Effect.zipRight(CredentialEvent.apply(stack.authority, event)),
          Effect.as(Math.max(elapsed, event.atMs))
        ))
    )
    const exit = yield* Effect.exit(
      program.pipe(Effect.withClock(liveClock), Effect.tagMetrics("aws_resilience_scenario", label))
    ).pipe(
      Effect.ensuring(Fiber.interrupt(events).pipe(Effect.zipRight(stack.gateway.clearPlan)))
    )
    return {
      exit,
      requests: yield* stack.gateway.stats,
      credentialFetches: (yield* stack.authority.fetchCount) - fetchesBefore,
      clientRebuilds: (yield* Metric.value(rebuilds)).count
    }
  })
