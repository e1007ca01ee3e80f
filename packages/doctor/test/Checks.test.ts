/**
 * The region and credential checks on configurations the local stack cannot produce: opt-in regions, the legacy
 * STS setting, Lambda's environment, keys with whitespace, a provider that fails. None of them calls the network.
 */
import * as CredentialsProvider from "@aws-resilience/core/CredentialsProvider"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Doctor from "../src/Doctor.js"
import * as Network from "../src/Network.js"
import { assertNoSecrets, cleanEnv, find, renderings, withEnv } from "./utils.js"

const key = "ASIAEXAMPLEKEY123456"
const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
const globalToken = `FwoGZXIvYXdzEBAaDExampleGlobalTokenValue${"x".repeat(120)}`
const regionalToken = `IQoJb3JpZ2luX2VjEExampleRegionalTokenValue${"y".repeat(120)}`

const fromStatic = (accessKeyId: string, sessionToken?: string, expiration?: Date) =>
  CredentialsProvider.fromStatic({
    accessKeyId,
    secretAccessKey: Redacted.make(secret),
    ...(sessionToken !== undefined ? { sessionToken: Redacted.make(sessionToken) } : {}),
    ...(expiration !== undefined ? { expiration } : {})
  })

const diagnose = (
  env: Readonly<Record<string, string | undefined>>,
  options: Doctor.Options
) =>
  Effect.gen(function*() {
    yield* withEnv({ ...cleanEnv, ...env })
    const report = yield* Doctor.run(options).pipe(Effect.provide(Network.layer))
    for (const token of [globalToken, regionalToken]) {
      assertNoSecrets(yield* renderings(report), { accessKeyId: key, secretAccessKey: secret, sessionToken: token })
    }
    return report
  }).pipe(Effect.scoped)

describe("region", () => {
  it.live("a global-endpoint session token in an opt-in region is flagged; a regional one is not", () =>
    Effect.gen(function*() {
      const global = yield* diagnose({ AWS_REGION: "af-south-1" }, {
        provider: fromStatic(key, globalToken),
        only: ["region"]
      })
      const region = find(global, "region")
      assert.strictEqual(region.status, "warn")
      assert.match(region.summary, /global STS endpoint \(v1\), and af-south-1 is an opt-in region/)
      assert.match(region.hints.join(" "), /v2Token/)
      assert.strictEqual(region.evidence["optInRegion"], true)

      const regional = yield* diagnose({ AWS_REGION: "af-south-1" }, {
        provider: fromStatic(key, regionalToken),
        only: ["region"]
      })
      assert.strictEqual(find(regional, "region").status, "ok")
      const enabled = yield* diagnose({ AWS_REGION: "eu-west-1" }, {
        provider: fromStatic(key, globalToken),
        only: ["region"]
      })
      assert.strictEqual(find(enabled, "region").status, "ok")
    }))

  it.live("AWS_STS_REGIONAL_ENDPOINTS=legacy is flagged where the AWS CLI and boto3 would call the global endpoint", () =>
    Effect.gen(function*() {
      const report = yield* diagnose({ AWS_REGION: "us-east-1", AWS_STS_REGIONAL_ENDPOINTS: "legacy" }, {
        provider: fromStatic(key, regionalToken),
        only: ["region"]
      })
      const region = find(report, "region")
      assert.strictEqual(region.status, "warn")
      assert.strictEqual(region.evidence["AWS_STS_REGIONAL_ENDPOINTS"], "legacy")
      // The JS SDK itself stays regional: the endpoint shown is the one it will call.
      assert.strictEqual(region.evidence["stsEndpoint"], "https://sts.us-east-1.amazonaws.com")
      assert.match(region.hints.join(" "), /sts\.amazonaws\.com, which an STS interface endpoint/)
    }))

  it.live("the region's source, a conflicting AWS_DEFAULT_REGION, and no region at all", () =>
    Effect.gen(function*() {
      const both = yield* diagnose({ AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "us-east-1" }, {
        only: ["region"],
        provider: fromStatic(key, regionalToken)
      })
      assert.strictEqual(find(both, "region").status, "warn")
      assert.strictEqual(find(both, "region").evidence["regionSource"], "AWS_REGION")
      assert.match(find(both, "region").summary, /differ/)

      const fallback = yield* diagnose({ AWS_DEFAULT_REGION: "eu-west-1" }, {
        only: ["region"],
        provider: fromStatic(key, regionalToken)
      })
      assert.strictEqual(find(fallback, "region").evidence["regionSource"], "AWS_DEFAULT_REGION")
      assert.strictEqual(find(fallback, "region").status, "warn")

      const option = yield* diagnose({ AWS_REGION: "eu-west-1" }, {
        region: "eu-north-1",
        only: ["region"],
        provider: fromStatic(key, regionalToken)
      })
      assert.strictEqual(find(option, "region").status, "ok")
      assert.strictEqual(find(option, "region").evidence["stsEndpoint"], "https://sts.eu-north-1.amazonaws.com")

      const none = yield* diagnose({ AWS_CONFIG_FILE: "/nonexistent/config" }, {
        only: ["region", "dns"],
        provider: fromStatic(key, regionalToken)
      })
      assert.strictEqual(find(none, "region").status, "fail")
      assert.strictEqual(find(none, "dns sts").status, "fail")
      assert.strictEqual(none.region, undefined)
    }))
})

describe("credentials", () => {
  it.live("inside Lambda, credentials the code supplied are flagged; the runtime's are not", () =>
    Effect.gen(function*() {
      const lambda = { AWS_LAMBDA_FUNCTION_NAME: "orders", AWS_REGION: "eu-west-1" }
      const fromCode = yield* diagnose(lambda, { provider: fromStatic(key, regionalToken), only: ["credentials"] })
      const check = find(fromCode, "credentials")
      assert.strictEqual(check.status, "warn")
      assert.match(check.summary, /inside Lambda the set came from static/)

      const longTerm = yield* diagnose({
        ...lambda,
        AWS_ACCESS_KEY_ID: "AKIAEXAMPLEKEY123456",
        AWS_SECRET_ACCESS_KEY: secret
      }, { only: ["credentials"] })
      assert.strictEqual(find(longTerm, "credentials").status, "warn")
      assert.match(find(longTerm, "credentials").summary, /long-term key \*\*\*\*3456 \(AKIA\)/)

      const runtime = yield* diagnose({
        ...lambda,
        AWS_ACCESS_KEY_ID: key,
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_SESSION_TOKEN: regionalToken
      }, { only: ["credentials"] })
      assert.strictEqual(find(runtime, "credentials").status, "ok")
      assert.strictEqual(find(runtime, "credentials").evidence["source"], "environment")
    }))

  it.live("a key with trailing whitespace fails; a set close to expiry warns", () =>
    Effect.gen(function*() {
      const spaced = yield* diagnose({
        AWS_REGION: "eu-west-1",
        AWS_ACCESS_KEY_ID: key,
        AWS_SECRET_ACCESS_KEY: `${secret}\n`,
        AWS_SESSION_TOKEN: regionalToken
      }, { only: ["credentials"] })
      assert.strictEqual(find(spaced, "credentials").status, "fail")
      assert.match(find(spaced, "credentials").summary, /AWS_SECRET_ACCESS_KEY has leading or trailing whitespace/)

      const soon = yield* diagnose({ AWS_REGION: "eu-west-1" }, {
        provider: fromStatic(key, regionalToken, new Date(Date.now() + 90_000)),
        only: ["credentials"]
      })
      assert.strictEqual(find(soon, "credentials").status, "warn")
      assert.match(find(soon, "credentials").summary, /expires in/)
    }))

  it.live("a provider that fails: credentials fail, and identity and probes are not attempted", () =>
    Effect.gen(function*() {
      const broken: CredentialsProvider.Provider = {
        name: "broken",
        load: Effect.fail(new Error(`refused ${key} with ${secret}`))
      }
      const report = yield* diagnose({ AWS_REGION: "eu-west-1" }, {
        provider: broken,
        table: "orders",
        only: ["credentials", "identity", "probe"]
      })
      assert.strictEqual(find(report, "credentials").status, "fail")
      assert.match(find(report, "credentials").summary, /no credentials from provider broken/)
      assert.match(find(report, "identity").summary, /not attempted/)
      assert.match(find(report, "probe DescribeTable orders").summary, /not attempted/)
      assert.strictEqual(Doctor.exitCode(report), 1)
    }))
})

describe("statuses", () => {
  it("the worst status wins, and only a failure makes a non-zero exit", () => {
    assert.strictEqual(Doctor.worst([]), "ok")
    assert.strictEqual(Doctor.worst(["ok", "warn", "ok"]), "warn")
    assert.strictEqual(Doctor.worst(["warn", "fail", "ok"]), "fail")
    const report = (status: Doctor.Status): Doctor.Report => ({
      status,
      region: undefined,
      identity: undefined,
      checks: [],
      startedAt: new Date(0).toISOString(),
      durationMs: 0
    })
    assert.strictEqual(Doctor.exitCode(report("warn")), 0)
    assert.strictEqual(Doctor.exitCode(report("fail")), 1)
  })
})
