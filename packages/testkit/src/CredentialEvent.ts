/**
 * Things that happen to credentials during a scenario, and how each is applied to the stack's authority (and, for
 * the rejection shape, its gateway).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as CredentialsAuthority from "./CredentialsAuthority.js"
import type * as Gateway from "./Gateway.js"

/**
 * - `Rotate` issues a new set (the old one stays valid for `graceMs`; the new one is refused for `propagationMs`,
 *   default: the authority's `propagation`);
 * - `Revoke` and `Expire` make the current set unusable (the endpoint issues a new one on its first fetch once
 *   `lagMs` has passed, default: the authority's `revocationLag`);
 * - `Outage` breaks the endpoint for `forMs`;
 * - `Malformed` makes the gateway answer credentials rejections in the malformed shape for `forMs`
 *   (`Gateway.RejectionShape`).
 *
 * @since 0.1.0
 * @category models
 */
export type CredentialEvent =
  | {
    readonly _tag: "Rotate"
    readonly atMs: number
    readonly graceMs: number
    readonly propagationMs?: number | undefined
  }
  | { readonly _tag: "Revoke"; readonly atMs: number; readonly lagMs?: number | undefined }
  | { readonly _tag: "Expire"; readonly atMs: number; readonly lagMs?: number | undefined }
  | { readonly _tag: "Outage"; readonly atMs: number; readonly mode: "fail" | "hang"; readonly forMs: number }
  | { readonly _tag: "Malformed"; readonly atMs: number; readonly forMs: number }

const lagOf = (lagMs: number | undefined): CredentialsAuthority.RevokeOptions | undefined =>
  lagMs === undefined ? undefined : { lag: lagMs }

/**
 * Applies one event to the authority. A `Malformed` event needs the gateway: applying one without it is a defect.
 *
 * @since 0.1.0
 * @category combinators
 */
export const apply = (
  authority: CredentialsAuthority.Service,
  event: CredentialEvent,
  gateway?: Gateway.Service
): Effect.Effect<void> => {
  switch (event._tag) {
    case "Rotate":
      return Effect.asVoid(authority.rotate({
        graceFor: event.graceMs,
        ...(event.propagationMs !== undefined ? { propagation: event.propagationMs } : {})
      }))
    case "Revoke":
      return authority.revoke(lagOf(event.lagMs))
    case "Expire":
      return authority.expire(lagOf(event.lagMs))
    case "Outage":
      return authority.outage({ mode: event.mode, for: event.forMs })
    case "Malformed":
      return gateway === undefined
        ? Effect.dieMessage("CredentialEvent.apply: a Malformed event needs the gateway (the third argument)")
        : gateway.setRejectionShape("malformed", { for: event.forMs })
  }
}

/**
 * Emits each event of a time-ordered list `atMs` after the stream starts, on the clock of the fiber running it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const timeline = (events: Iterable<CredentialEvent>): Stream.Stream<CredentialEvent> =>
  Stream.fromIterable(events).pipe(
    Stream.mapAccumEffect(0, (elapsed, event) =>
      Effect.sleep(Math.max(0, event.atMs - elapsed)).pipe(
        Effect.as([Math.max(elapsed, event.atMs), event] as const)
      ))
  )

/**
 * Emits `event` every `interval`, the first time one `interval` after the stream starts, on the clock of the fiber
 * running it, with `atMs` set to when it is due (for example `every("2 seconds", { _tag: "Revoke", atMs: 0 })`
 * for a revocation every 2 seconds, as `Scenario.run`'s `events`). It never ends: take or interrupt it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const every = (interval: Duration.DurationInput, event: CredentialEvent): Stream.Stream<CredentialEvent> => {
  const intervalMs = Duration.toMillis(Duration.decode(interval))
  // `spaced` outputs its repetition count, 0 after the first interval.
  return Stream.map(Stream.fromSchedule(Schedule.spaced(interval)), (n) => ({ ...event, atMs: (n + 1) * intervalMs }))
}
