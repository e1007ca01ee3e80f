/**
 * The incident, replayed on the local stack: events are stored and enqueued while credentials are revoked,
 * re-issued and expired, and the gateway throttles, fails and loses responses after writes. The report checks
 * what the caller was told against what the store and the queue really hold, read straight from dynalite and
 * drained from the queue: an event reported done but missing is lost, one reported failed is counted by cause.
 * The stack can make the world less kind (a source that lags revocations, new sets that propagate, malformed
 * rejections: see `LocalAws.Options`), and the replay can add a revocation on a period (`revokeEveryMs`).
 *
 * @since 0.1.0
 */
import { AwsError } from "@aws-resilience/core"
import { type DynamoDB, EventStore } from "@aws-resilience/dynamodb"
import { EventQueue, SQS } from "@aws-resilience/sqs"
import { CredentialEvent, type FaultPlan, GroundTruth, type LocalAws, Scenario } from "@aws-resilience/testkit"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/**
 * An event of the incident's application.
 *
 * @since 0.1.0
 * @category models
 */
export const Event = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("order.created", "order.paid", "order.shipped"),
  customer: Schema.String,
  amount: Schema.Number,
  at: Schema.DateFromString
})

/**
 * @since 0.1.0
 * @category models
 */
export type Event = typeof Event.Type

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly events: number
  readonly concurrency: number
  readonly seed: number
  /** Probability of each gateway fault per request, e.g. `{ throttle: 0.02 }`. */
  readonly faults: Partial<Record<FaultPlan.FaultKind, number>>
  /** Revoke the current set every this many milliseconds while the replay runs (default: never). */
  readonly revokeEveryMs?: number | undefined
  /** Called as events complete, with the count done so far. */
  readonly onProgress?: ((done: number, total: number) => Effect.Effect<void>) | undefined
}

/**
 * What a lagging credentials source did during the replay. A lag window runs from a revocation or expiry of the set
 * the source serves until the source serves a new one (at most the lag); `sourceCalls` are the calls to the source
 * in those windows, all answered with the revoked set.
 *
 * @since 0.1.0
 * @category models
 */
export interface LagReport {
  readonly windows: number
  /** Total length of the lag windows, in seconds. */
  readonly seconds: number
  readonly sourceCalls: number
  /** `sourceCalls / seconds` (0 without lag): how hard the caller pressed a source that could not help yet. */
  readonly sourceCallsPerSecond: number
}

/**
 * What the replay did. The caller's view (`succeeded`, `failed`) is checked against the backends' (`stored`,
 * `enqueued`): an event is `lost` when the caller was told it was stored and enqueued but a backend lacks it, and
 * `failed` when the caller was told it failed (and could retry it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly events: number
  /** Events reported stored and enqueued to the caller. */
  readonly succeeded: number
  /** Distinct events in the table. */
  readonly stored: number
  readonly storedTwice: number
  readonly alreadyStored: number
  /** Distinct events received from the queue. */
  readonly enqueued: number
  readonly deliveredTwice: number
  /** Events reported failed to the caller, after the retry policy gave up. */
  readonly failed: number
  /**
   * `failed` by cause: the error's tag, with the reason for a `CredentialsError` (`CredentialsError (ExpiredToken)`)
   * and the status for a 403 (`ServiceError (HTTP 403)`).
   */
  readonly failedByCause: Readonly<Record<string, number>>
  /**
   * Failures caused by credentials: the credential events were not absorbed. The error was a `CredentialsError`, or
   * the last answer was HTTP 403, which the gateway gives on DynamoDB and SQS only to reject credentials (in the
   * malformed shape the SDK cannot read which rejection it was).
   */
  readonly failedByCredentials: number
  /** Events reported stored and enqueued to the caller, but missing from the table or the queue. */
  readonly lost: number
  /** Calls to the credentials source (the container endpoint) during the replay. */
  readonly credentialFetches: number
  readonly lag: LagReport
  /** Revocations made by `revokeEveryMs`. */
  readonly periodicRevocations: number
  readonly clientRebuilds: number
  readonly retries: Readonly<Record<string, number>>
  readonly gateway: Readonly<Record<string, number>>
  readonly p50: number
  readonly p99: number
  readonly seconds: number
}

const makeEvent = (i: number): Event => ({
  id: `evt-${String(i).padStart(6, "0")}`,
  type: (["order.created", "order.paid", "order.shipped"] as const)[i % 3]!,
  customer: `customer-${i % 37}`,
  amount: (i * 7919) % 10_000 / 100,
  at: new Date(Date.UTC(2026, 0, 1) + i * 1000)
})

/** Credential trouble at fixed points of progress: two revocations (re-issued on the next fetch) and an expiry. */
const credentialTrouble: ReadonlyArray<readonly [number, CredentialEvent.CredentialEvent]> = [
  [0.2, { _tag: "Revoke", atMs: 0 }],
  [0.45, { _tag: "Revoke", atMs: 0 }],
  [0.7, { _tag: "Expire", atMs: 0 }]
]

const httpStatusOf = (error: unknown): unknown =>
  Predicate.hasProperty(error, "httpStatus") ? error.httpStatus : undefined

/** A failure caused by credentials: a `CredentialsError`, or a 403 (the gateway's credentials rejections). */
const isCredentialsFailure = (error: unknown): boolean =>
  AwsError.isCredentialsError(error) || httpStatusOf(error) === 403

/** The cause a failure is counted under: its tag, and for a `CredentialsError` its reason, for a 403 its status. */
const causeOf = (error: unknown): string =>
  AwsError.isCredentialsError(error)
    ? `CredentialsError (${error.reason})`
    : Predicate.hasProperty(error, "_tag") && typeof error._tag === "string"
    ? error._tag + (httpStatusOf(error) === 403 ? " (HTTP 403)" : "")
    : "unknown"

/**
 * Why a run fails, empty when it passes: an event lost, stored twice or delivered twice, or a failure caused by a
 * credentials event. Other failures (the policy gave up on throttling or a transient fault) were reported to the
 * caller, who can retry them, so they do not fail the run.
 *
 * @since 0.1.0
 * @category models
 */
export const problems = (report: Report): ReadonlyArray<string> => [
  ...(report.lost > 0 ? [`${report.lost} events lost`] : []),
  ...(report.storedTwice > 0 ? [`${report.storedTwice} stored twice`] : []),
  ...(report.deliveredTwice > 0 ? [`${report.deliveredTwice} delivered twice`] : []),
  ...(report.failedByCredentials > 0 ? [`${report.failedByCredentials} failed on credentials`] : [])
]

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

// One rule a fault kind and service, from the flags' mix.
const faultPlan = (options: Options): FaultPlan.FaultPlan => ({
  seed: options.seed,
  rules: Object.entries(options.faults).flatMap(([fault, probability]) =>
    (["dynamodb", "sqs"] as const).map((service) => ({
      service,
      fault: fault as FaultPlan.FaultKind,
      probability: probability ?? 0
    }))
  )
})

/**
 * Runs the replay on an already started stack (with the process pointed at it), as a `Scenario` of the testkit:
 * the scenario installs the fault plan, applies the credential trouble and counts requests, credential fetches,
 * client rebuilds and retries.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  options: Options
): Effect.Effect<Report, AwsError.AwsError, LocalAws.LocalAws | DynamoDB.DynamoDB | SQS.SQS> =>
  Effect.gen(function*() {
    const tableName = "incident-events"
    const store = yield* EventStore.make({ tableName, schema: Event })
    yield* store.ensureTable
    const { QueueUrl } = yield* SQS.createQueue({
      QueueName: "incident-events.fifo",
      Attributes: { FifoQueue: "true", ContentBasedDeduplication: "false" }
    })
    const queue = yield* EventQueue.make({ queueUrl: QueueUrl!, schema: Event, groupId: (e: Event) => e.customer })

    const done = yield* Ref.make(0)
    const latencies: Array<number> = []
    let alreadyStored = 0
    // What the caller was told, per event id.
    const succeeded = new Set<string>()
    const failedByCause: Record<string, number> = {}
    let failedByCredentials = 0

    // The event that reaches a point of trouble hands it to the scenario and waits until it is applied, so the
    // trouble lands at exactly that point of progress.
    const trouble = yield* Queue.unbounded<CredentialEvent.CredentialEvent>()
    const applied = yield* Queue.unbounded<void>()
    let nextTrouble = 0
    const applyTrouble = (n: number) =>
      Effect.suspend(() => {
        const next = credentialTrouble[nextTrouble]
        if (next === undefined || n < next[0] * options.events) return Effect.void
        nextTrouble++
        return Queue.offer(trouble, next[1]).pipe(
          Effect.zipRight(Queue.take(applied)),
          Effect.zipRight(Console.log(`  credentials: ${next[1]._tag.toLowerCase()} at ${n} events`))
        )
      })

    const ingest = (i: number) =>
      Effect.gen(function*() {
        const event = makeEvent(i)
        const t0 = performance.now()
        const put = yield* store.put(event)
        if (put._tag === "AlreadyStored") alreadyStored++
        yield* queue.enqueue(event)
        succeeded.add(event.id)
        latencies.push(performance.now() - t0)
      }).pipe(
        Effect.catchAll((error) =>
          Effect.sync(() => {
            const cause = causeOf(error)
            failedByCause[cause] = (failedByCause[cause] ?? 0) + 1
            if (isCredentialsFailure(error)) failedByCredentials++
          }).pipe(
            Effect.zipRight(Effect.logWarning(`event ${i} failed: ${error.message}`))
          )
        ),
        Effect.zipRight(Ref.updateAndGet(done, (n) => n + 1)),
        Effect.tap((n) => applyTrouble(n)),
        Effect.tap((n) => (options.onProgress ? options.onProgress(n, options.events) : Effect.void))
      )

    // Every failure is caught and counted, so the program itself never fails; it returns its wall time.
    const replay = Effect.suspend(() => {
      const started = performance.now()
      return Effect.forEach(Array.from({ length: options.events }, (_, i) => i), ingest, {
        concurrency: options.concurrency,
        discard: true
      }).pipe(Effect.map(() => (performance.now() - started) / 1000))
    })
    // Periodic revocations come on their own stream; only the trouble's events are waited for.
    const troubleEvents = new Set(credentialTrouble.map(([, event]) => event))
    let periodicRevocations = 0
    const periodic = options.revokeEveryMs === undefined
      ? Stream.empty
      : CredentialEvent.every(options.revokeEveryMs, { _tag: "Revoke", atMs: 0 })
    const scenario = yield* Scenario.run(replay, {
      plan: faultPlan(options),
      events: Stream.merge(Stream.fromQueue(trouble), periodic),
      onEvent: (event) =>
        troubleEvents.has(event) ? Queue.offer(applied, undefined) : Effect.sync(() => void periodicRevocations++)
    }).pipe(
      // The plan is built here from validated flags: a rejected plan is a bug.
      Effect.orDie
    )
    // Only a defect or an interruption can come out of the replay.
    const seconds = yield* scenario.exit

    // Ground truth: the table as dynalite holds it, and the queue drained to empty.
    const items = yield* GroundTruth.scanTable(tableName)
    const storedIds = items.map((item) => item.id?.S as string)
    const receivedIds = (yield* GroundTruth.drainQueue(QueueUrl!)).map((m) =>
      (JSON.parse(m.Body ?? "{}") as { id: string }).id
    )
    const storedSet = new Set(storedIds)
    const receivedSet = new Set(receivedIds)
    // Only what the caller was told succeeded can be lost; a reported failure is the caller's to retry.
    const lost = [...succeeded].filter((id) => !storedSet.has(id) || !receivedSet.has(id)).length
    const failed = Object.values(failedByCause).reduce((n, k) => n + k, 0)
    latencies.sort((a, b) => a - b)
    return {
      events: options.events,
      succeeded: succeeded.size,
      stored: storedSet.size,
      // Each item counts the writes that landed on it: more than one is a second copy.
      storedTwice: items.filter((item) => Number(item.writes?.N ?? "1") > 1).length + storedIds.length - storedSet.size,
      alreadyStored,
      enqueued: receivedSet.size,
      deliveredTwice: receivedIds.length - receivedSet.size,
      failed,
      failedByCause,
      failedByCredentials,
      lost,
      credentialFetches: scenario.credentialFetches,
      lag: {
        windows: scenario.lag.windows,
        seconds: scenario.lag.lagMs / 1000,
        sourceCalls: scenario.lag.fetches,
        sourceCallsPerSecond: scenario.lag.lagMs > 0 ? scenario.lag.fetches / (scenario.lag.lagMs / 1000) : 0
      },
      periodicRevocations,
      clientRebuilds: scenario.clientRebuilds,
      retries: scenario.retries,
      gateway: scenario.requests.byOutcome as Record<string, number>,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      seconds
    } satisfies Report
  })
