/**
 * fast-check arbitraries for property tests over the local stack: fault plans and credential events. They
 * shrink towards fewer rules, fewer events, lower probabilities, earlier times and shorter lags, propagations and
 * windows, so a counterexample reads as the smallest plan that still breaks the program.
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
  /**
   * Kinds to generate. Default `Rotate`, `Revoke`, `Expire` and `Outage`; `Malformed` is generated only when listed
   * (applying it needs the gateway, which `Scenario.run` passes).
   */
  readonly kinds?: ReadonlyArray<CredentialEvent.CredentialEvent["_tag"]>
  readonly maxEvents?: number
  /** Longest outage. Default 300 ms. */
  readonly maxOutageMs?: number
  /** Longest source lag (`lagMs`) of a `Revoke` or `Expire`. Default 0: no `lagMs`, the authority's own lag. */
  readonly maxLagMs?: number
  /** Longest propagation (`propagationMs`) of a `Rotate`'s new set. Default 0: no `propagationMs`. */
  readonly maxPropagationMs?: number
  /** Longest window of malformed rejections. Default 300 ms. */
  readonly maxMalformedMs?: number
}

/**
 * One credential event: rotate (with an optional grace period and propagation), revoke or expire (with an optional
 * source lag), an endpoint outage, or a window of malformed rejections.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const credentialEvent = (
  options: CredentialEventOptions = {}
): fc.Arbitrary<CredentialEvent.CredentialEvent> => {
  const atMs = fc.integer({ min: 0, max: options.horizonMs ?? 1000 })
  const kinds = new Set(options.kinds ?? ["Rotate", "Revoke", "Expire", "Outage"])
  const maxLagMs = options.maxLagMs ?? 0
  const maxPropagationMs = options.maxPropagationMs ?? 0
  // Only asked-for knobs appear, so events without them read as before; each shrinks towards 0.
  const lag: { lagMs?: fc.Arbitrary<number> } = maxLagMs > 0 ? { lagMs: fc.integer({ min: 0, max: maxLagMs }) } : {}
  const all: Array<fc.Arbitrary<CredentialEvent.CredentialEvent>> = []
  if (kinds.has("Rotate")) {
    all.push(fc.record({
      _tag: fc.constant("Rotate" as const),
      atMs,
      graceMs: fc.integer({ min: 0, max: 200 }),
      ...(maxPropagationMs > 0 ? { propagationMs: fc.integer({ min: 0, max: maxPropagationMs }) } : {})
    }))
  }
  if (kinds.has("Revoke")) all.push(fc.record({ _tag: fc.constant("Revoke" as const), atMs, ...lag }))
  if (kinds.has("Expire")) all.push(fc.record({ _tag: fc.constant("Expire" as const), atMs, ...lag }))
  if (kinds.has("Outage")) {
    all.push(fc.record({
      _tag: fc.constant("Outage" as const),
      atMs,
      mode: fc.constantFrom("fail" as const, "hang" as const),
      forMs: fc.integer({ min: 1, max: options.maxOutageMs ?? 300 })
    }))
  }
  if (kinds.has("Malformed")) {
    all.push(fc.record({
      _tag: fc.constant("Malformed" as const),
      atMs,
      forMs: fc.integer({ min: 1, max: options.maxMalformedMs ?? 300 })
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
