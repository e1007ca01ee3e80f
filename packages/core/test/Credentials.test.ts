import { assert, describe, it } from "@effect/vitest"
import { HttpResponse } from "@smithy/protocol-http"
import { Clock, Effect, Exit, FastCheck as fc, Fiber, HashSet, Logger, Option, Redacted, Ref, TestClock } from "effect"
import { Readable } from "node:stream"
import { Credentials, CredentialsProvider, ManagedClient } from "../src/index.js"
import { misconfigurations } from "../src/internal/credentialDiagnostics.js"
import { engineOf } from "../src/internal/credentials.js"
import { countingProvider, FakeClient } from "./fixtures.js"

const captureLogs = Effect.map(Ref.make<ReadonlyArray<string>>([]), (lines) => ({
  lines: Ref.get(lines),
  logger: Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, logLevel, message }) =>
      Effect.runSync(
        Ref.update(lines, (all) => [...all, `${logLevel.label} ${String(message)} ${JSON.stringify([...annotations])}`])
      )
    )
  )
}))

// STS answering AssumeRole with a new key each time; `calls` counts the requests.
const stsHandler = () => {
  const handler = {
    calls: 0,
    handle: async (request: { body?: unknown }) => {
      const calls = ++handler.calls
      assert.include(String(request.body), "Action=AssumeRole")
      const body = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
        `<Credentials><AccessKeyId>ASIAASSUMEDROLE0000${calls}</AccessKeyId><SecretAccessKey>assumed-secret` +
        `</SecretAccessKey><SessionToken>assumed-token</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>` +
        `</Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/app/aws-resilience</Arn>` +
        `<AssumedRoleId>AROAEXAMPLE:aws-resilience</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>` +
        `<ResponseMetadata><RequestId>r-${calls}</RequestId></ResponseMetadata></AssumeRoleResponse>`
      return {
        response: new HttpResponse({
          statusCode: 200,
          headers: { "content-type": "text/xml" },
          body: Readable.from([Buffer.from(body)])
        })
      }
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({})
  }
  return handler
}

// Batches of calls run concurrently, batches one after another with a pause between them.
const batch = fc.record({
  size: fc.integer({ min: 1, max: 10 }),
  pauseMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3_000 }))
})

// Runs `total` calls as the batches say (cycling through them), and returns the time the pauses took.
const runBatches = <A, E>(
  batches: ReadonlyArray<{ readonly size: number; readonly pauseMs: number }>,
  total: number,
  call: (i: number) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const results: Array<A> = []
    for (let done = 0, b = 0; done < total; b++) {
      const { pauseMs, size } = batches[b % batches.length]!
      const n = Math.min(size, total - done)
      results.push(
        ...yield* Effect.all(Array.from({ length: n }, (_, i) => call(done + i)), { concurrency: "unbounded" })
      )
      done += n
      if (pauseMs > 0) yield* TestClock.adjust(pauseMs)
    }
    return { results, elapsedMs: (yield* Clock.currentTimeMillis) - start }
  })

/** How many polls the default backoff allows after the first, within `elapsedMs`: at 500 ms, 1.5 s, 3.5 s, 7.5 s... */
const pollSlots = (elapsedMs: number): number => {
  let slots = 0
  for (let at = 500, gap = 500; at <= elapsedMs; gap = Math.min(4_000, gap * 2), at += gap) slots++
  return slots
}

describe("Credentials", () => {
  it.scoped("calls the provider once however many fibers ask at once", () =>
    Effect.gen(function*() {
      const provider = yield* countingProvider({ latency: "1 second" })
      const credentials = yield* Credentials.make({ provider })
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 50 }, () => credentials.get), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      const all = yield* Fiber.join(fiber)
      assert.strictEqual(yield* provider.calls, 1)
      assert.deepStrictEqual(HashSet.size(HashSet.fromIterable(all.map((c) => c.generation))), 1)
      assert.strictEqual(all[0]!.generation, 1)
    }))

  it.scoped("refresh(stale) resolves once per generation, and a late caller does not refresh again", () =>
    Effect.gen(function*() {
      const provider = yield* countingProvider({ latency: "100 millis" })
      const credentials = yield* Credentials.make({ provider })
      const first = yield* Effect.fork(credentials.get)
      yield* TestClock.adjust("100 millis")
      assert.strictEqual((yield* Fiber.join(first)).generation, 1)
      const refreshes = yield* Effect.fork(
        Effect.all(Array.from({ length: 20 }, () => credentials.refresh(1)), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("100 millis")
      const refreshed = yield* Fiber.join(refreshes)
      assert.isTrue(refreshed.every((c) => c.generation === 2))
      assert.strictEqual(yield* provider.calls, 2)
      const late = yield* credentials.refresh(1)
      assert.strictEqual(late.generation, 2)
      assert.strictEqual(yield* provider.calls, 2)
      assert.strictEqual(yield* credentials.resolutions, 2)
    }))

  it.scoped("refreshes in the background in the advisory window and makes callers wait in the mandatory one", () =>
    Effect.gen(function*() {
      const provider = yield* countingProvider({ lifetime: "30 minutes", latency: "1 second" })
      const credentials = yield* Credentials.make({
        provider,
        advisoryWindow: "10 minutes",
        mandatoryWindow: "5 minutes"
      })
      const first = yield* Effect.fork(credentials.get)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(first)).generation, 1)
      // 9 minutes left: served at once, while a refresh runs in the background.
      yield* TestClock.adjust("21 minutes")
      assert.strictEqual((yield* credentials.get).generation, 1)
      assert.strictEqual((yield* credentials.get).generation, 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* credentials.get).generation, 2)
      assert.strictEqual(yield* provider.calls, 2)
      // 4 minutes left of generation 2: the caller waits for generation 3.
      yield* TestClock.adjust("26 minutes")
      const waiting = yield* Effect.fork(credentials.get)
      yield* TestClock.adjust("500 millis")
      assert.isNull(yield* Fiber.poll(waiting).pipe(Effect.map(Option.getOrNull)))
      yield* TestClock.adjust("500 millis")
      assert.strictEqual((yield* Fiber.join(waiting)).generation, 3)
    }))

  it.scoped("shares one failed resolution among every caller; then gets answer with it and refreshes wait for the poll", () =>
    Effect.gen(function*() {
      const provider = yield* countingProvider({ latency: "1 second", fail: Effect.succeed(true) })
      const credentials = yield* Credentials.make({ provider })
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 20 }, () => Effect.flip(credentials.get)), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      const errors = yield* Fiber.join(fiber)
      assert.isTrue(errors.every((e) => e._tag === "CredentialsError" && e.reason === "ProviderFailure"))
      assert.strictEqual(yield* provider.calls, 1)
      // Within the poll's spacing (500 ms after a first failure) a get answers with that failure at once...
      assert.strictEqual(yield* Effect.flip(credentials.get), errors[0])
      // ...and a refresh waits for the next poll, which every refresh meanwhile shares.
      const refreshes = yield* Effect.fork(
        Effect.all(Array.from({ length: 5 }, () => Effect.flip(credentials.refresh(0))), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("400 millis")
      assert.strictEqual(yield* provider.calls, 1)
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(yield* provider.calls, 2)
      yield* TestClock.adjust("1 second")
      const second = yield* Fiber.join(refreshes)
      assert.isTrue(second.every((e) => e === second[0]))
      // A second failure in a row doubles the spacing: 1 s.
      yield* TestClock.adjust("900 millis")
      assert.strictEqual(yield* Effect.flip(credentials.get), second[0])
      assert.strictEqual(yield* provider.calls, 2)
      yield* TestClock.adjust("100 millis")
      const again = yield* Effect.fork(Effect.flip(credentials.get))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(again)
      assert.strictEqual(yield* provider.calls, 3)
    }))

  it.scoped("keeps serving a still-valid set when a refresh in the mandatory window fails", () =>
    Effect.gen(function*() {
      let down = false
      const provider = yield* countingProvider({ lifetime: "30 minutes", fail: Effect.sync(() => down) })
      const credentials = yield* Credentials.make({ provider })
      assert.strictEqual((yield* credentials.get).generation, 1)
      down = true
      yield* TestClock.adjust("27 minutes")
      assert.strictEqual((yield* credentials.get).generation, 1, "3 minutes left: still served")
      assert.strictEqual(yield* provider.calls, 2)
      yield* TestClock.adjust("4 minutes")
      const error = yield* Effect.flip(credentials.get)
      assert.strictEqual(error._tag, "CredentialsError")
      down = false
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* credentials.get).generation, 2)
    }))

  it.scoped("does not hammer a provider whose sets arrive already inside the windows", () =>
    Effect.gen(function*() {
      const provider = yield* countingProvider({ lifetime: "2 minutes" })
      const credentials = yield* Credentials.make({ provider })
      for (let second = 0; second < 30; second++) {
        for (let call = 0; call < 20; call++) yield* credentials.get
        yield* TestClock.adjust("1 second")
      }
      // One resolution at first, then at most one every 10 seconds: never one per call.
      assert.isAtMost(yield* provider.calls, 4)
      assert.isAtLeast(yield* provider.calls, 2)
    }))

  it.effect.prop(
    "100 gets and refreshes against a provider handing out expired sets call it no more often than the poll's backoff",
    [fc.array(fc.record({ batch, refresh: fc.boolean() }), { minLength: 1, maxLength: 20 })],
    ([steps]) =>
      Effect.gen(function*() {
        const provider = yield* countingProvider({ expiredBy: "1 minute" })
        const credentials = yield* Credentials.make({ provider })
        // Refreshes wait for the poll's spacing: the clock moves on beside them.
        const batches = yield* Effect.fork(runBatches(
          steps.map((s) => s.batch),
          100,
          (i) =>
            steps[i % steps.length]!.refresh
              ? Effect.flatMap(
                credentials.current,
                Option.match({ onNone: () => credentials.refresh(0), onSome: (c) => credentials.refresh(c.generation) })
              )
              : credentials.get
        ))
        for (let step = 0; Option.isNone(yield* Fiber.poll(batches)); step++) {
          assert.isBelow(step, 2_000, "the calls end")
          yield* TestClock.adjust("500 millis")
        }
        const { elapsedMs, results } = yield* Fiber.join(batches)
        const calls = yield* provider.calls
        // The provider's latest set is served (AWS is the judge of it); gets ask again only after a 10 s pause,
        // refreshes after the poll's backoff (500 ms doubling to 4 s): never once per call.
        assert.strictEqual(results.length, 100)
        assert.isAtMost(calls, 1 + pollSlots(elapsedMs))
        assert.isAtMost(HashSet.size(HashSet.fromIterable(results.map((c) => c.generation))), calls)
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect.prop(
    "50 calls through a ManagedClient, with a provider handing out expired sets, build a client per generation",
    [fc.array(batch, { minLength: 1, maxLength: 20 })],
    ([batches]) =>
      Effect.scoped(Effect.gen(function*() {
        const provider = yield* countingProvider({ expiredBy: "1 minute" })
        const credentials = yield* Credentials.make({ provider })
        const managed = yield* ManagedClient.make({
          service: "fake",
          region: "us-east-1",
          build: (config) => new FakeClient(0, config.credentials.accessKeyId)
        }).pipe(Effect.provideService(Credentials.Credentials, credentials))
        const { elapsedMs, results } = yield* runBatches(
          batches,
          50,
          () => managed.use((client, generation) => Effect.succeed({ client, generation }))
        )
        const builds = yield* managed.builds
        assert.strictEqual(results.length, 50)
        assert.isAtMost(builds, 1 + Math.floor(elapsedMs / 10_000))
        assert.isAtMost(builds, yield* provider.calls)
        assert.strictEqual(HashSet.size(HashSet.fromIterable(results.map((r) => r.client))), builds)
      })),
    { fastCheck: { numRuns: 30 } }
  )

  it.scoped("judges expiry by AWS's clock, moved by the reported offset", () =>
    Effect.gen(function*() {
      // Local clock 26 minutes behind AWS: a 30-minute set has 4 minutes left, inside the mandatory window.
      const behind = yield* countingProvider({ lifetime: "30 minutes" })
      const late = yield* Credentials.make({ provider: behind })
      assert.strictEqual(yield* late.clockOffset, 0)
      assert.strictEqual((yield* late.get).generation, 1)
      yield* engineOf(late)!.reportClockOffset(26 * 60_000)
      assert.strictEqual(yield* late.clockOffset, 26 * 60_000)
      assert.strictEqual((yield* late.get).generation, 2)
      assert.strictEqual(yield* behind.calls, 2)
      // Local clock 10 minutes ahead of AWS: an 8-minute set has 18 minutes left, outside both windows.
      const ahead = yield* countingProvider({ lifetime: "8 minutes" })
      const early = yield* Credentials.make({ provider: ahead })
      yield* engineOf(early)!.reportClockOffset(-10 * 60_000)
      assert.strictEqual((yield* early.get).generation, 1)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* early.get).generation, 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* ahead.calls, 1)
    }))

  it.effect.prop(
    "warns once about a skewed clock however often the offset is reported, and again when it moves",
    [
      fc.integer({ min: 90_000, max: 3_600_000 }),
      fc.boolean(),
      fc.array(fc.integer({ min: -59_999, max: 59_999 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: -29_999, max: 29_999 }), { minLength: 1, maxLength: 100 })
    ],
    ([magnitude, behind, small, jitter]) =>
      Effect.gen(function*() {
        const logs = yield* captureLogs
        const credentials = yield* Credentials.make({ provider: yield* countingProvider() })
        const skew = behind ? magnitude : -magnitude
        const warnings = Effect.map(logs.lines, (lines) => lines.filter((l) => l.includes("clock skew detected")))
        yield* Effect.gen(function*() {
          for (const offset of small) yield* engineOf(credentials)!.reportClockOffset(offset)
          assert.deepStrictEqual(yield* warnings, [])
          for (const j of jitter) {
            yield* engineOf(credentials)!.reportClockOffset(skew + j)
            yield* credentials.get
          }
          const [first, ...rest] = yield* warnings
          assert.isDefined(first, "one warning")
          assert.deepStrictEqual(rest, [])
          assert.include(first, `local clock is ${Math.round(Math.abs(skew + jitter[0]!) / 1000)} s`)
          assert.include(first, behind ? "behind AWS" : "ahead of AWS")
          yield* engineOf(credentials)!.reportClockOffset(-skew)
          assert.strictEqual((yield* warnings).length, 2)
        }).pipe(Effect.provide(logs.logger))
      })
  )

  it.scoped("assumes a role through STS, with one STS client for every resolution", () =>
    Effect.gen(function*() {
      const requestHandler = stsHandler()
      const credentials = yield* Credentials.make({
        provider: CredentialsProvider.assumeRole({
          roleArn: "arn:aws:iam::123456789012:role/app",
          region: "us-east-1",
          source: CredentialsProvider.fromStatic({
            accessKeyId: "AKIASOURCEKEY0000",
            secretAccessKey: Redacted.make("s")
          }),
          clientConfig: { requestHandler }
        })
      })
      const first = yield* credentials.get
      assert.strictEqual(first.source, "assume-role")
      assert.strictEqual(first.maskedAccessKeyId, "****0001")
      assert.strictEqual(first.expiration?.toISOString(), "2030-01-01T00:00:00.000Z")
      const second = yield* credentials.refresh(first.generation)
      assert.strictEqual(second.maskedAccessKeyId, "****0002")
      assert.strictEqual(requestHandler.calls, 2)
    }))

  it.scoped("runs the role's source provider in the caller's runtime, with the caller's logger", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const source: CredentialsProvider.Provider = {
        name: "source",
        load: Effect.as(Effect.logInfo("source provider asked"), {
          accessKeyId: "AKIASOURCEKEY0000",
          secretAccessKey: "s"
        })
      }
      const credentials = yield* Credentials.make({
        provider: CredentialsProvider.assumeRole({
          roleArn: "arn:aws:iam::123456789012:role/app",
          region: "us-east-1",
          source,
          clientConfig: { requestHandler: stsHandler() }
        })
      })
      const set = yield* credentials.get.pipe(Effect.provide(logs.logger))
      assert.strictEqual(set.source, "assume-role")
      assert.include((yield* logs.lines).join("\n"), "source provider asked")
    }))

  it.scoped("serves credentials without an expiration until told otherwise", () =>
    Effect.gen(function*() {
      const provider = yield* countingProvider()
      const credentials = yield* Credentials.make({ provider })
      assert.strictEqual((yield* credentials.get).generation, 1)
      yield* TestClock.adjust("30 days")
      assert.strictEqual((yield* credentials.get).generation, 1)
      assert.strictEqual(yield* provider.calls, 1)
    }))

  it.scoped("times out a provider whose load cannot be interrupted", () =>
    Effect.gen(function*() {
      const credentials = yield* Credentials.make({
        provider: { name: "stuck", load: Effect.uninterruptible(Effect.never) },
        timeout: "2 seconds"
      })
      const fiber = yield* Effect.fork(Effect.flip(credentials.get))
      yield* TestClock.adjust("2 seconds")
      const done = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(done), "the caller is answered when the timeout fires")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "CredentialsError" && error.reason, "ProviderFailure")
      assert.include(error.message, "did not answer within 2s")
    }))

  it.scoped("bounds a hanging provider with a timeout, as a ProviderFailure", () =>
    Effect.gen(function*() {
      const credentials = yield* Credentials.make({
        provider: { name: "hangs", load: Effect.never },
        timeout: "2 seconds"
      })
      const fiber = yield* Effect.fork(Effect.flip(credentials.get))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "CredentialsError")
      assert.strictEqual(error._tag === "CredentialsError" && error.reason, "ProviderFailure")
      assert.include(error.message, "did not answer within 2s")
    }))

  it.scoped("logs the source and expiry, never a secret", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const credentials = yield* Credentials.make({
        provider: CredentialsProvider.fromStatic({
          accessKeyId: "AKIAEXAMPLEKEY12WXYZ",
          secretAccessKey: Redacted.make("very-secret-value")
        })
      })
      const set = yield* credentials.get.pipe(Effect.provide(logs.logger))
      const lines = (yield* logs.lines).join("\n")
      assert.include(lines, "credentials resolved")
      assert.include(lines, "static")
      assert.include(lines, "****WXYZ")
      assert.notInclude(lines, "AKIAEXAMPLEKEY12")
      assert.notInclude(lines, "very-secret-value")
      assert.notInclude(JSON.stringify(set), "very-secret-value")
      assert.notInclude(String(set), "AKIAEXAMPLE")
    }))

  it.scoped("warns about a temporary key without a session token", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const credentials = yield* Credentials.make({
        provider: CredentialsProvider.fromStatic({
          accessKeyId: "ASIATEMPORARYKEY9876",
          secretAccessKey: Redacted.make("s")
        })
      })
      yield* credentials.get.pipe(Effect.provide(logs.logger))
      const warning = (yield* logs.lines).find((l) => l.startsWith("WARN"))
      assert.isDefined(warning)
      assert.include(warning!, "AWS_SESSION_TOKEN")
      assert.include(warning!, "****9876")
    }))

  it("warns when AWS_PROFILE is set beside static keys", () => {
    const identity = { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "s" }
    assert.deepStrictEqual(misconfigurations(identity, {}), [])
    const [warning] = misconfigurations(identity, { AWS_PROFILE: "dev", AWS_ACCESS_KEY_ID: "AKIAEXAMPLE" })
    assert.include(warning!, "AWS_PROFILE")
    assert.include(warning!, "Unset one of them")
  })

  it.scoped("names the setting when the SDK refuses the container credentials URI", () =>
    Effect.gen(function*() {
      const saved = process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI
      process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://credentials.example/role"
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (saved === undefined) delete process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI
          else process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = saved
        })
      )
      const credentials = yield* Credentials.make({ provider: CredentialsProvider.container() })
      const exit = yield* Effect.exit(credentials.get)
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(credentials.get)
      assert.strictEqual(error._tag, "ConfigurationError")
      assert.strictEqual(error._tag === "ConfigurationError" && error.setting, "AWS_CONTAINER_CREDENTIALS_FULL_URI")
      assert.include(error.message, "URL not accepted")
    }))
})
