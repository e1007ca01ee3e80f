/**
 * Recovery from a revocation under load. `--concurrency` callers (default 1,000) put items in a closed loop through
 * one DynamoDB `ManagedClient`, built by the production layers (`Credentials.layer()` on the SDK's chain, which
 * finds the stack's container endpoint), against the local stack running in a process of its own
 * (`bench/lib/stackProcess.mjs`). Each round, once the load has run `--warmup` seconds, the stack's credentials
 * authority revokes the current key (a command to the stack process, which reports when it took effect); the
 * callers go on until one call has succeeded on a client of the new generation, until every call that had started
 * by then has ended (a call can wait seconds in the SDK's socket queue, holding a request signed with the revoked
 * key), and `--settle` seconds more; only then comes the next revocation.
 * Measured per round:
 * - recovery: from the revocation taking effect to the end of the first call that succeeded on the new client;
 * - the same in provider round trips: recovery / how long the provider's load took in that refresh (target < 2);
 * - the calls that failed in the round (target 0 in every round);
 * - how many times the credentials endpoint was asked and how many clients were built (1 and 1 expected).
 * Then `--lag-rounds` rounds (default 3) against a lagging source: each revocation is lagged by `--lag` seconds
 * (default 1), so the endpoint keeps serving the revoked set that long before it issues a new one, as IAM's eventual
 * consistency or a late container endpoint do. Measured per round: the source calls made while it lagged, per second
 * of lag (target <= 2, printed, not judged by the exit code): a caller that cannot get a good set yet should not
 * hammer the source.
 * The provider is timed by wrapping the chain's `load`; nothing else differs from production.
 *
 *   node ../../bench/lib/run.mjs bench/recovery.bench.ts [--rounds 5] [--concurrency 1000] [--warmup 1] [--settle 1]
 *     [--lag-rounds 3] [--lag 1] [--log warning|debug]
 */
import { Credentials, CredentialsProvider, Resilience, RetryPolicy } from "@aws-resilience/core"
import { type DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { Effect, Fiber, Layer, Logger, LogLevel } from "effect"
import { now, startStack } from "../../../bench/lib/stackProcess.mjs"
import { option, printVerdicts, reportInfo, reportValue, stringOption } from "../../../bench/lib/stats.mjs"
import { DynamoDB } from "../src/index.js"
import { ensureTable } from "./benchStack.js"

const concurrency = option("concurrency", 1000)
const rounds = option("rounds", 5)
const warmup = option("warmup", 1) * 1000
const settle = option("settle", 1) * 1000
const lagRounds = option("lag-rounds", 3)
const lagMs = option("lag", 1) * 1000
// `--log warning` (or debug) shows what the library logs during the run.
const logLevel = LogLevel.fromLiteral(
  stringOption("log", "error") === "debug" ? "Debug" : stringOption("log", "error") === "warning" ? "Warning" : "Error"
)

const table = "bench"
let counter = 0
const command = () =>
  new PutItemCommand({
    TableName: table,
    Item: { id: { S: `k-${counter++ % concurrency}` }, kind: { S: "created" }, payload: { S: "x".repeat(200) } }
  })

// The production provider, timed.
const chain = CredentialsProvider.chain()
const loads: Array<{ readonly start: number; readonly end: number }> = []
const provider: CredentialsProvider.Provider = {
  name: chain.name,
  load: Effect.suspend(() => {
    const start = now()
    return Effect.ensuring(chain.load, Effect.sync(() => loads.push({ start, end: now() })))
  })
}

interface LagStats {
  readonly windows: number
  readonly lagMs: number
  readonly fetches: number
}

interface Round {
  readonly recoveryMs: number
  readonly providerMs: number
  readonly detectMs: number
  readonly drainedMs: number
  readonly sentMs: number
  readonly failed: number
  readonly fetches: number
  readonly builds: number
  readonly errors: Record<string, number>
  /** The source's lag in the round: its windows, their length, and the fetches answered with the revoked set. */
  readonly lag: LagStats
}

const stack = await startStack()
stack.useEnv()

const program = Effect.gen(function*() {
  yield* ensureTable(table)
  const managed = yield* DynamoDB.DynamoDB
  const fetchCount = Effect.promise(() => stack.command<number>("fetchCount").then((reply) => reply.result))
  const lagStats = Effect.promise(() => stack.command<LagStats>("lagStats").then((reply) => reply.result))
  // The client that served each call tells its generation apart: clients are numbered in the order they first
  // serve, so that a call still finishing on an older client than the stale one is not taken for recovery.
  const order = new WeakMap<DynamoDBClient, number>()
  const orderOf = (client: DynamoDBClient) => {
    let n = order.get(client)
    if (n === undefined) order.set(client, n = clients++)
    return n
  }
  let clients = 0
  const newer = (client: DynamoDBClient) => stale !== undefined && orderOf(client) > orderOf(stale)
  let stale: DynamoDBClient | undefined
  let firstNew: number | undefined
  let firstSent: number | undefined
  const put = Resilience.execute(managed, {
    name: "PutItem",
    run: (client: DynamoDBClient, signal) => {
      if (firstSent === undefined && newer(client)) firstSent = now()
      return client.send(command(), { abortSignal: signal }).then(() => client)
    }
  })
  // Every call belongs to the epoch in which it started; a round opens an epoch at the revocation and another at the
  // recovery, and the next round waits until every call of the round's epochs has ended, so that a failure always
  // belongs to one revocation (however long a call waits in the client's socket queue).
  let epoch = 0
  const inFlight: Array<number> = [0]
  const failedIn: Array<number> = [0]
  const errorsIn: Array<Record<string, number>> = [{}]
  const samples: Array<string> = []
  const nextEpoch = () => {
    inFlight.push(0)
    failedIn.push(0)
    errorsIn.push({})
    return ++epoch
  }
  let running = true
  const caller = Effect.gen(function*() {
    while (running) {
      const mine = epoch
      inFlight[mine]!++
      const served = yield* Effect.either(put)
      inFlight[mine]!--
      if (served._tag === "Left") {
        failedIn[mine]!++
        const error = served.left
        const key = error._tag === "CredentialsError"
          ? `${error._tag} (${error.reason}, generation ${error.generation})`
          : error._tag
        errorsIn[mine]![key] = (errorsIn[mine]![key] ?? 0) + 1
        if (samples.length < 3) samples.push(error.message)
      } else if (firstNew === undefined && newer(served.right)) {
        firstNew = now()
      }
    }
  })
  const load = yield* Effect.fork(
    Effect.all(Array.from({ length: concurrency }, () => caller), { concurrency: "unbounded" })
  )
  const drained = (below: number) =>
    Effect.gen(function*() {
      while (inFlight.slice(0, below).some((n) => n > 0)) yield* Effect.sleep(10)
    })

  let firstEpoch = 0
  // One revocation (`revoke`, or `revoke {"lagMs": ...}` for a lagging source) and the recovery from it.
  const runRound = (revoke: string) =>
    Effect.gen(function*() {
      yield* Effect.sleep(warmup)
      // The current client first (its borrow may wait behind the callers for a slot), then the marks: a call that
      // ends meanwhile on the previous round's new client is no recovery from this round's revocation.
      stale = yield* managed.use((client) => Effect.succeed(client))
      orderOf(stale)
      firstNew = undefined
      firstSent = undefined
      const fetchesBefore = yield* fetchCount
      const buildsBefore = yield* managed.builds
      const loadsBefore = loads.length
      const lagBefore = yield* lagStats
      const { at } = yield* Effect.promise(() => stack.command(revoke))
      nextEpoch()
      const deadline = now() + 30_000 + lagMs
      while (firstNew === undefined && now() < deadline) yield* Effect.sleep(5)
      const after = nextEpoch()
      yield* drained(after)
      const drainedMs = now() - at
      yield* Effect.sleep(settle)
      const refresh = loads.slice(loadsBefore)[0]
      const epochs = { from: firstEpoch, to: after }
      firstEpoch = after
      const lagAfter = yield* lagStats
      return {
        recoveryMs: (firstNew ?? Number.POSITIVE_INFINITY) - at,
        providerMs: refresh === undefined ? Number.NaN : refresh.end - refresh.start,
        detectMs: refresh === undefined ? Number.NaN : refresh.start - at,
        sentMs: refresh === undefined || firstSent === undefined ? Number.NaN : firstSent - refresh.end,
        drainedMs,
        failed: failedIn.slice(epochs.from, epochs.to).reduce((a, b) => a + b, 0),
        fetches: (yield* fetchCount) - fetchesBefore,
        builds: (yield* managed.builds) - buildsBefore,
        errors: Object.assign({}, ...errorsIn.slice(epochs.from, epochs.to)),
        lag: {
          windows: lagAfter.windows - lagBefore.windows,
          lagMs: lagAfter.lagMs - lagBefore.lagMs,
          fetches: lagAfter.fetches - lagBefore.fetches
        }
      } satisfies Round
    })
  const results: Array<Round> = []
  for (let round = 0; round < rounds; round++) results.push(yield* runRound("revoke"))
  const lagged: Array<Round> = []
  for (let round = 0; round < lagRounds; round++) {
    lagged.push(yield* runRound(`revoke ${JSON.stringify({ lagMs })}`))
  }
  running = false
  yield* Fiber.join(load)
  // Calls that started after the last recovery, which no revocation touched: they should not fail either.
  const after = failedIn.slice(firstEpoch).reduce((a, b) => a + b, 0)
  return { results, lagged, samples, after }
})

try {
  const { after, lagged, results, samples } = await Effect.runPromise(
    program.pipe(
      Effect.scoped,
      Effect.provide(
        DynamoDB.layerConfig().pipe(
          Layer.provideMerge(Layer.merge(Credentials.layer({ provider }), RetryPolicy.layer()))
        )
      ),
      Logger.withMinimumLogLevel(logLevel)
    )
  )
  console.log(
    `Revocation under ${concurrency} concurrent PutItem callers on one client, against the stack in its own ` +
      `process; ${rounds} revocations (median, spread over rounds):`
  )
  reportInfo({ label: "recovery: revoked to first new success (ms)", values: results.map((r) => r.recoveryMs) })
  reportInfo({ label: "  revoked to provider asked (ms)", values: results.map((r) => r.detectMs) })
  reportInfo({ label: "  provider round trip (ms)", values: results.map((r) => r.providerMs) })
  reportInfo({ label: "  then to first request on new client (ms)", values: results.map((r) => r.sentMs) })
  reportInfo({
    label: "  then to its success (ms)",
    values: results.map((r) => r.recoveryMs - r.providerMs - r.detectMs - r.sentMs)
  })
  reportInfo({ label: "revoked to last stale-era call ended (ms)", values: results.map((r) => r.drainedMs) })
  reportInfo({ label: "credentials endpoint fetches per revocation", values: results.map((r) => r.fetches), digits: 0 })
  reportInfo({ label: "clients built per revocation", values: results.map((r) => r.builds), digits: 0 })
  const errors = results.flatMap((r) => Object.entries(r.errors).map(([tag, n]) => `${tag} ${n}`))
  if (errors.length > 0) console.log(`  failures by error: ${errors.join(", ")}`)
  for (const sample of samples) console.log(`  e.g. ${sample}`)
  if (after > 0) console.log(`  ${after} calls failed after the last recovery`)
  reportValue({
    label: "recovery in provider round trips",
    values: results.map((r) => r.recoveryMs / r.providerMs),
    target: 2,
    unit: " RTT"
  })
  reportValue({
    label: "failed calls per revocation",
    // Failures of calls that started after the last recovery count too, in the last round.
    values: results.map((r, i) => r.failed + (i === results.length - 1 && lagged.length === 0 ? after : 0)),
    target: 0,
    digits: 0,
    every: true
  })
  if (lagged.length > 0) {
    console.log(
      `A source that lags each revocation by ${lagMs} ms (it serves the revoked set that long), ` +
        `${lagged.length} revocations:`
    )
    reportInfo({ label: "recovery: revoked to first new success (ms)", values: lagged.map((r) => r.recoveryMs) })
    reportInfo({
      label: "credentials endpoint fetches per revocation",
      values: lagged.map((r) => r.fetches),
      digits: 0
    })
    reportInfo({ label: "  of which during the lag", values: lagged.map((r) => r.lag.fetches), digits: 0 })
    reportInfo({ label: "clients built per revocation", values: lagged.map((r) => r.builds), digits: 0 })
    reportInfo({
      label: "failed calls per revocation",
      // Failures of calls that started after the last recovery count too, in the last round.
      values: lagged.map((r, i) => r.failed + (i === lagged.length - 1 ? after : 0)),
      digits: 0
    })
    const lagErrors = lagged.flatMap((r) => Object.entries(r.errors).map(([tag, n]) => `${tag} ${n}`))
    if (lagErrors.length > 0) console.log(`  failures by error: ${lagErrors.join(", ")}`)
    // Source calls during the lag windows / total lag seconds, per round (printed, not asserted).
    reportValue({
      label: "source calls per second of lag",
      values: lagged.map((r) => r.lag.lagMs > 0 ? r.lag.fetches / (r.lag.lagMs / 1000) : Number.NaN),
      target: 2,
      unit: "/s"
    })
  }
  printVerdicts("dynamodb recovery bench")
} finally {
  await stack.close()
}
