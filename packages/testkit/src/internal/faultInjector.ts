import type * as FaultPlan from "../FaultPlan.js"
import { mulberry32 } from "./prng.js"

/**
 * The mutable state of a running plan: a seeded stream of draws and the injection count per rule.
 *
 * @internal
 */
export interface FaultInjector {
  readonly plan: FaultPlan.FaultPlan
  /** Draws once per matching rule, in rule order; the first rule whose draw hits wins. */
  readonly next: (service: FaultPlan.ServiceName, operation: string) => FaultPlan.FaultRule | undefined
}

/**
 * Whether a rule can act on a request at all: `unprocessed` only exists for DynamoDB `BatchWriteItem`, so elsewhere
 * it neither draws nor spends its `times` budget.
 *
 * @internal
 */
export const applies = (rule: FaultPlan.FaultRule, service: FaultPlan.ServiceName, operation: string): boolean =>
  rule.service === service &&
  (rule.operation === undefined || rule.operation === operation) &&
  (rule.fault !== "unprocessed" || (service === "dynamodb" && operation === "BatchWriteItem"))

/** @internal */
export const makeFaultInjector = (plan: FaultPlan.FaultPlan): FaultInjector => {
  const random = mulberry32(plan.seed)
  const injected = plan.rules.map(() => 0)
  return {
    plan,
    next: (service, operation) => {
      for (let index = 0; index < plan.rules.length; index++) {
        const rule = plan.rules[index]!
        if (!applies(rule, service, operation)) continue
        if (rule.times !== undefined && injected[index]! >= rule.times) continue
        if (random() < rule.probability) {
          injected[index] = injected[index]! + 1
          return rule
        }
      }
      return undefined
    }
  }
}
