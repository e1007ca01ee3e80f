/**
 * fast-check arbitraries for property tests over the local stack: fault plans and credential events. They
 * shrink towards fewer rules, fewer events, lower probabilities and earlier times, so a counterexample reads
 * as the smallest plan that still breaks the program.
 *
 * @since 0.1.0
 */
import * as fc from "effect/FastCheck"
import type * as CredentialEvent from "./CredentialEvent.js"
import type * as FaultPlan from "./FaultPlan.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface FaultPlanOptions {
  readonly services?: ReadonlyArray<FaultPlan.ServiceName>
  readonly faults?: ReadonlyArray<FaultPlan.FaultKind>
  /** Upper bound of each rule's probability. Default 0.3. */
  readonly maxProbability?: number
  readonly maxRules?: number
  readonly operations?: ReadonlyArray<string>
}

/**
 * One fault rule.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const faultRule = (options: FaultPlanOptions = {}): fc.Arbitrary<FaultPlan.FaultRule> =>
  fc.record(
    {
      service: fc.constantFrom(...(options.services ?? ["dynamodb", "sqs"] as const)),
      ...(options.operations ? { operation: fc.constantFrom(...options.operations) } : {}),
      fault: fc.constantFrom(
        ...(options.faults ??
          ["throttle", "status500", "status503", "reset", "latency", "lostResponse", "unprocessed"] as const)
      ),
      probability: fc.double({ min: 0, max: options.maxProbability ?? 0.3, noNaN: true }),
      latencyMs: fc.integer({ min: 0, max: 50 })
    },
    { requiredKeys: ["service", "fault", "probability"] }
  ) as fc.Arbitrary<FaultPlan.FaultRule>

/**
 * A whole fault plan with its seed.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const faultPlan = (options: FaultPlanOptions = {}): fc.Arbitrary<FaultPlan.FaultPlan> =>
  fc.record({
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    rules: fc.array(faultRule(options), { maxLength: options.maxRules ?? 4 })
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface CredentialEventOptions {
  /** Events happen within this many milliseconds of the start. Default 1000. */
  readonly horizonMs?: number
  readonly kinds?: ReadonlyArray<CredentialEvent.CredentialEvent["_tag"]>
  readonly maxEvents?: number
  /** Longest outage. Default 300 ms. */
  readonly maxOutageMs?: number
}

/**
 * One credential event: rotate (with an optional grace period), revoke, expire, or an endpoint outage.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const credentialEvent = (
  options: CredentialEventOptions = {}
): fc.Arbitrary<CredentialEvent.CredentialEvent> => {
  const atMs = fc.integer({ min: 0, max: options.horizonMs ?? 1000 })
  const kinds = new Set(options.kinds ?? ["Rotate", "Revoke", "Expire", "Outage"])
  const all: Array<fc.Arbitrary<CredentialEvent.CredentialEvent>> = []
  if (kinds.has("Rotate")) {
    all.push(fc.record({ _tag: fc.constant("Rotate" as const), atMs, graceMs: fc.integer({ min: 0, max: 200 }) }))
  }
  if (kinds.has("Revoke")) all.push(fc.record({ _tag: fc.constant("Revoke" as const), atMs }))
  if (kinds.has("Expire")) all.push(fc.record({ _tag: fc.constant("Expire" as const), atMs }))
  if (kinds.has("Outage")) {
    all.push(fc.record({
      _tag: fc.constant("Outage" as const),
      atMs,
      mode: fc.constantFrom("fail" as const, "hang" as const),
      forMs: fc.integer({ min: 1, max: options.maxOutageMs ?? 300 })
    }))
  }
  return fc.oneof(...all)
}

/**
 * A time-ordered list of credential events.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const credentialEvents = (
  options: CredentialEventOptions = {}
): fc.Arbitrary<ReadonlyArray<CredentialEvent.CredentialEvent>> =>
  fc.array(credentialEvent(options), { maxLength: options.maxEvents ?? 4 }).map((events) =>
    [...events].sort((a, b) => a.atMs - b.atMs)
  )
