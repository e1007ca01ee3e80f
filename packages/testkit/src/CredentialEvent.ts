/**
 * Things that happen to credentials during a scenario, and how each is applied to the stack's authority.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as CredentialsAuthority from "./CredentialsAuthority.js"

/**
 * `Rotate` issues a new set (the old one stays valid for `graceMs`); `Revoke` and `Expire` make the current set
 * unusable (the endpoint issues a new one on its next fetch); `Outage` breaks the endpoint for `forMs`.
 *
 * @since 0.1.0
 * @category models
 */
export type CredentialEvent =
  | { readonly _tag: "Rotate"; readonly atMs: number; readonly graceMs: number }
  | { readonly _tag: "Revoke"; readonly atMs: number }
  | { readonly _tag: "Expire"; readonly atMs: number }
  | { readonly _tag: "Outage"; readonly atMs: number; readonly mode: "fail" | "hang"; readonly forMs: number }

/**
 * Applies one event to the authority.
 *
 * @since 0.1.0
 * @category combinators
 */
export const apply = (
  authority: CredentialsAuthority.Service,
  event: CredentialEvent
): Effect.Effect<void> => {
  switch (event._tag) {
    case "Rotate":
      return Effect.asVoid(authority.rotate({ graceFor: event.graceMs }))
    case "Revoke":
      return authority.revoke()
    case "Expire":
      return authority.expire()
    case "Outage":
      return authority.outage({ mode: event.mode, for: event.forMs })
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
