/**
 * Runs a user's program against the local stack under a fault plan and credential events, and reports what
 * happened: the program's exit, the gateway's requests by outcome, the credential fetches, the client rebuilds and
 * the retries.
 *
 * @since 0.1.0
 */
import { Metrics } from "@aws-resilience/core"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"
import * as Stream from "effect/Stream"
import * as CredentialEvent from "./CredentialEvent.js"
import type * as CredentialsAuthority from "./CredentialsAuthority.js"
import * as FaultPlan from "./FaultPlan.js"
import type * as Gateway from "./Gateway.js"
import { withLiveClock } from "./internal/liveClock.js"
import { LocalAws } from "./LocalAws.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  readonly plan?: FaultPlan.FaultPlanEncoded | FaultPlan.FaultPlan | undefined
  /**
   * Credential events, applied alongside the program until it ends: a time-ordered list (each event `atMs` after
   * the program starts), or a stream (each event applied as the stream emits it, whatever its `atMs`: for events
   * triggered by the program's progress, or periodic ones from `CredentialEvent.every`). Both run on the wall clock.
   */
  readonly events?:
    | ReadonlyArray<CredentialEvent.CredentialEvent>
    | Stream.Stream<CredentialEvent.CredentialEvent, never, R>
    | undefined
  /** Runs after each event is applied, before the next one is (for example to log it). */
  readonly onEvent?: ((event: CredentialEvent.CredentialEvent) => Effect.Effect<void, never, R>) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Report<A, E> {
  readonly exit: Exit.Exit<A, E>
  readonly requests: Gateway.Stats
  readonly credentialFetches: number
  /**
   * What the source's lag did during the run: lag windows opened, their length, and the fetches served the revoked
   * set in them (see `CredentialsAuthority.LagStats`). A window still open when the run ended counts up to then.
   */
  readonly lag: CredentialsAuthority.LagStats
  readonly clientRebuilds: number
  /** The program's retries, by the tag of the error that was retried. */
  readonly retries: Readonly<Record<string, number>>
}

let scenarios = 0

const scenarioTag = "aws_resilience_scenario"

// Retries carry the error's tag and the call's service and operation, so they are summed from the registry.
const retriesOf = (label: string): Effect.Effect<Record<string, number>> =>
  Effect.map(Metric.snapshot, (pairs) => {
    const counts: Record<string, number> = {}
    for (const pair of pairs) {
      if (pair.metricKey.name !== "aws_resilience_retries") continue
      const tags = pair.metricKey.tags
      if (!tags.some((tag) => tag.key === scenarioTag && tag.value === label)) continue
      const error = tags.find((tag) => tag.key === "error")?.value ?? "?"
      const state = pair.metricState
      if (MetricState.isCounterState(state)) counts[error] = (counts[error] ?? 0) + Number(state.count)
    }
    return counts
  })

const isList = <R>(
  events: ReadonlyArray<CredentialEvent.CredentialEvent> | Stream.Stream<CredentialEvent.CredentialEvent, never, R>
): events is ReadonlyArray<CredentialEvent.CredentialEvent> => Array.isArray(events)

/**
 * Runs `program` with the plan installed and the events applied, then restores an empty plan. The program's own
 * failure is in the report's `exit`; `run` itself fails only with `FaultPlanError`, when the plan is invalid,
 * before the program starts.
 *
 * @since 0.1.0
 * @category combinators
 */
export const run = <A, E, R, R2 = never>(
  program: Effect.Effect<A, E, R>,
  options: Options<R2> = {}
): Effect.Effect<Report<A, E>, FaultPlan.FaultPlanError, R | R2 | LocalAws> =>
  Effect.gen(function*() {
    const stack = yield* LocalAws
    const plan = options.plan === undefined ? FaultPlan.empty : yield* FaultPlan.decode(options.plan)
    yield* stack.gateway.resetStats
    const fetchesBefore = yield* stack.authority.fetchCount
    const lagBefore = yield* stack.authority.lagStats
    // Metrics are counted under a label of this run only, so other work in the process does not show up.
    const label = String(++scenarios)
    const rebuilds = Metric.tagged(Metrics.clientRebuilds, scenarioTag, label)
    yield* stack.gateway.setPlan(plan)
    const events = options.events ?? []
    const onEvent = options.onEvent
    const applyEach = (event: CredentialEvent.CredentialEvent) =>
      onEvent === undefined
        ? CredentialEvent.apply(stack.authority, event, stack.gateway)
        : Effect.zipRight(CredentialEvent.apply(stack.authority, event, stack.gateway), onEvent(event))
    const eventsFiber = yield* Effect.fork(
      Stream.runForEach(isList(events) ? CredentialEvent.timeline(events) : events, applyEach).pipe(withLiveClock)
    )
    const exit = yield* Effect.exit(program.pipe(withLiveClock, Effect.tagMetrics(scenarioTag, label))).pipe(
      Effect.ensuring(Fiber.interrupt(eventsFiber).pipe(Effect.zipRight(stack.gateway.clearPlan)))
    )
    const lagAfter = yield* stack.authority.lagStats
    return {
      exit,
      requests: yield* stack.gateway.stats,
      credentialFetches: (yield* stack.authority.fetchCount) - fetchesBefore,
      lag: {
        windows: lagAfter.windows - lagBefore.windows,
        lagMs: lagAfter.lagMs - lagBefore.lagMs,
        fetches: lagAfter.fetches - lagBefore.fetches
      },
      clientRebuilds: (yield* Metric.value(rebuilds)).count,
      retries: yield* retriesOf(label)
    }
  })
