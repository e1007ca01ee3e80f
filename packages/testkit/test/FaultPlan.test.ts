import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as FaultPlan from "../src/FaultPlan.js"
import { makeFaultInjector } from "../src/internal/faultInjector.js"

const operations = ["GetItem", "PutItem", "SendMessage", "GetCallerIdentity"] as const

const rule = FastCheck.record(
  {
    service: FastCheck.constantFrom("dynamodb" as const, "sqs" as const, "sts" as const),
    operation: FastCheck.constantFrom(...operations),
    fault: FastCheck.constantFrom("throttle" as const, "status500" as const, "reset" as const),
    probability: FastCheck.double({ min: 0, max: 1, noNaN: true }),
    times: FastCheck.integer({ min: 0, max: 5 })
  },
  { requiredKeys: ["service", "fault", "probability"] }
)
const plan = FastCheck.record({ seed: FastCheck.integer(), rules: FastCheck.array(rule, { maxLength: 4 }) })
const requests = FastCheck.array(
  FastCheck.tuple(
    FastCheck.constantFrom("dynamodb" as const, "sqs" as const, "sts" as const),
    FastCheck.constantFrom(...operations)
  ),
  { maxLength: 60 }
)

const replay = (p: FaultPlan.FaultPlan, sequence: ReadonlyArray<readonly [FaultPlan.ServiceName, string]>) => {
  const injector = makeFaultInjector(p)
  return sequence.map(([service, operation]) => injector.next(service, operation))
}

describe("FaultPlan", () => {
  it.effect("decodes a valid plan", () =>
    Effect.gen(function*() {
      const decoded = yield* FaultPlan.decode({
        seed: 7,
        rules: [{ service: "dynamodb", operation: "PutItem", fault: "lostResponse", probability: 0.25, times: 1 }]
      })
      assert.deepStrictEqual(decoded.rules[0]?.fault, "lostResponse")
    }))

  it.effect("rejects an out-of-range probability, naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        FaultPlan.decode({ seed: 1, rules: [{ service: "sqs", fault: "throttle", probability: 1.5 }] })
      )
      assert.strictEqual(error._tag, "FaultPlanError")
      assert.strictEqual(
        error.message,
        "Invalid fault plan: rules[0].probability: Expected a number between 0 and 1, actual 1.5"
      )
    }))

  it.effect("rejects an unknown service", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        FaultPlan.decode({ seed: 1, rules: [{ service: "s3", fault: "throttle", probability: 1 }] })
      )
      assert.include(error.message, "rules[0].service: Expected \"dynamodb\", actual \"s3\"")
    }))

  it.effect("rejects an unknown fault kind and a missing seed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        FaultPlan.decode({ rules: [{ service: "sts", fault: "explode", probability: 1 }] })
      )
      assert.include(error.message, "seed: is missing")
      assert.include(error.message, "rules[0].fault: Expected \"throttle\", actual \"explode\"")
    }))

  it.prop("the same seed injects the same sequence", [plan, requests], ([p, sequence]) => {
    assert.deepStrictEqual(replay(p, sequence), replay(p, sequence))
  })

  it.prop(
    "a rule never injects more than `times`, nor outside its service and operation",
    [plan, requests],
    ([p, sequence]) => {
      const injected = replay(p, sequence)
      for (const [index, r] of p.rules.entries()) {
        const hits = injected.filter((x) => x === r).length
        if (r.times !== undefined) assert.isAtMost(hits, r.times, `rule ${index}`)
        if (r.probability === 0) assert.strictEqual(hits, 0)
      }
      injected.forEach((r, i) => {
        if (r === undefined) return
        const [service, operation] = sequence[i]!
        assert.strictEqual(r.service, service)
        if (r.operation !== undefined) assert.strictEqual(r.operation, operation)
      })
    }
  )

  it("probability 1 always injects, until the budget runs out", () => {
    const injected = replay(
      { seed: 99, rules: [{ service: "sqs", fault: "throttle", probability: 1, times: 3 }] },
      Array.from({ length: 5 }, () => ["sqs", "SendMessage"] as const)
    )
    assert.deepStrictEqual(injected.map((r) => r?.fault), ["throttle", "throttle", "throttle", undefined, undefined])
  })
})
