/**
 * A less kind world for credentials: a source that lags a revocation (it serves the revoked set a while longer),
 * new sets refused until they have propagated, revocations on a period, and the credential events and arbitraries
 * that carry these knobs. Everything runs against the real stack with real SDK clients.
 */
import { DynamoDBClient, GetItemCommand, ListTablesCommand } from "@aws-sdk/client-dynamodb"
import { CreateQueueCommand, SendMessageCommand } from "@aws-sdk/client-sqs"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Arbitraries from "../src/Arbitraries.js"
import * as CredentialEvent from "../src/CredentialEvent.js"
import type * as CredentialsAuthority from "../src/CredentialsAuthority.js"
import * as LocalAws from "../src/LocalAws.js"
import { call, clients, createTable, currentClients, realSleep, servedNow, unique } from "./utils.js"

/** A table and a queue, created with the current (usable) set. */
const fixtures = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const c = yield* currentClients(stack)
  const table = unique("table")
  yield* createTable(c, table)
  const { QueueUrl } = yield* call((abortSignal) =>
    c.sqs.send(new CreateQueueCommand({ QueueName: unique("queue") }), { abortSignal })
  )
  return { stack, table, queueUrl: QueueUrl! }
})

/** One DynamoDB and one SQS call with `credentials`: "ok", or the SDK error's name and status, by service. */
const outcomes = (
  stack: LocalAws.Service,
  credentials: CredentialsAuthority.StaticCredentials,
  table: string,
  queueUrl: string
) => {
  const c = clients(stack, credentials)
  const outcome = <A>(effect: Effect.Effect<A, { name: string; $metadata?: { httpStatusCode?: number } }>) =>
    Effect.map(
      Effect.either(effect),
      Either.match({
        onLeft: (error) => `${error.name} ${error.$metadata?.httpStatusCode}`,
        onRight: () => "ok"
      })
    )
  return Effect.all({
    dynamodb: outcome(
      call((abortSignal) =>
        c.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: "x" } } }), { abortSignal })
      )
    ),
    sqs: outcome(
      call((abortSignal) =>
        c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "m" }), { abortSignal })
      )
    )
  })
}

const delta = (after: CredentialsAuthority.LagStats, before: CredentialsAuthority.LagStats) => ({
  windows: after.windows - before.windows,
  lagMs: after.lagMs - before.lagMs,
  fetches: after.fetches - before.fetches
})

/**
 * Runs `trigger` (a revocation or expiry of the current set), then asks the endpoint every 50 ms until it serves
 * another set, running `duringLag` once with the first set it served. Returns the sets it served in order, the wall
 * time from just before the trigger to the new set, and the authority's counts over that time.
 */
const observeLag = <A = void>(
  stack: LocalAws.Service,
  trigger: Effect.Effect<void>,
  duringLag: (first: CredentialsAuthority.StaticCredentials) => Effect.Effect<A> = () => Effect.void as Effect.Effect<A>
) =>
  Effect.gen(function*() {
    const revoked = yield* stack.authority.currentStatic
    const fetchesBefore = yield* stack.authority.fetchCount
    const lagBefore = yield* stack.authority.lagStats
    const startedAt = Date.now()
    yield* trigger
    const served: Array<CredentialsAuthority.StaticCredentials> = [yield* servedNow(stack)]
    const during = yield* duringLag(served[0]!)
    while (served[served.length - 1]!.accessKeyId === revoked.accessKeyId) {
      if (Date.now() - startedAt > 10_000) return yield* Effect.dieMessage("the endpoint never served a new set")
      yield* realSleep(50)
      served.push(yield* servedNow(stack))
    }
    const elapsedMs = Date.now() - startedAt
    return {
      during,
      revoked,
      served,
      stale: served.slice(0, -1),
      fresh: served[served.length - 1]!,
      elapsedMs,
      fetches: (yield* stack.authority.fetchCount) - fetchesBefore,
      lag: delta(yield* stack.authority.lagStats, lagBefore)
    }
  })

/** Polls `lookup` every 25 ms until the key is no longer propagating; the wall time from `since` to then. */
const propagated = (stack: LocalAws.Service, accessKeyId: string, since: number) =>
  Effect.gen(function*() {
    while ((yield* stack.authority.lookup(accessKeyId)).status === "propagating") {
      if (Date.now() - since > 10_000) return yield* Effect.dieMessage("the key never propagated")
      yield* realSleep(25)
    }
    return Date.now() - since
  })

layer(LocalAws.layerWithEnv({ revocationLag: "400 millis" }), { excludeTestServices: true })(
  "a source that lags a revocation",
  (it) => {
    it.effect("the endpoint serves the revoked set for the lag, then a new one", () =>
      Effect.gen(function*() {
        const { queueUrl, stack, table } = yield* fixtures
        // During the lag the gateway refuses the set the endpoint serves, as AWS refuses a revoked key.
        const observed = yield* observeLag(
          stack,
          stack.authority.revoke(),
          (stale) => outcomes(stack, stale, table, queueUrl)
        )
        assert.deepStrictEqual(observed.during, {
          dynamodb: "UnrecognizedClientException 400",
          sqs: "InvalidClientTokenId 403"
        })
        const ids = observed.served.map((set) => set.accessKeyId)
        // The first fetch came right after the revocation, within the lag.
        assert.strictEqual(ids[0], observed.revoked.accessKeyId)
        assert.isTrue(observed.stale.every((set) => set.accessKeyId === observed.revoked.accessKeyId))
        assert.notStrictEqual(observed.fresh.accessKeyId, observed.revoked.accessKeyId)
        assert.isAtLeast(observed.elapsedMs, 400, "no new set before the lag has passed")
        // Every poll was one source call; all but the last were answered with the revoked set, in one window.
        assert.strictEqual(observed.fetches, observed.served.length)
        assert.deepStrictEqual(observed.lag, { windows: 1, lagMs: 400, fetches: observed.stale.length })
        assert.strictEqual((yield* stack.authority.lookup(observed.revoked.accessKeyId)).status, "revoked")
        assert.deepStrictEqual(yield* outcomes(stack, observed.fresh, table, queueUrl), { dynamodb: "ok", sqs: "ok" })
      }))

    it.effect("an expiry lags too, and the stale set is answered as expired", () =>
      Effect.gen(function*() {
        const { queueUrl, stack, table } = yield* fixtures
        const observed = yield* observeLag(
          stack,
          stack.authority.expire(),
          (stale) => outcomes(stack, stale, table, queueUrl)
        )
        assert.deepStrictEqual(observed.during, { dynamodb: "ExpiredTokenException 400", sqs: "ExpiredToken 403" })
        assert.isAbove(observed.stale.length, 0)
        assert.isAtLeast(observed.elapsedMs, 400)
        assert.deepStrictEqual(observed.lag, { windows: 1, lagMs: 400, fetches: observed.stale.length })
        // The endpoint hands out the set with its expiration (now in the past), as a stale cache would.
        assert.isAtMost(observed.stale[0]!.expiration.getTime(), Date.now())
        assert.deepStrictEqual(yield* outcomes(stack, observed.fresh, table, queueUrl), { dynamodb: "ok", sqs: "ok" })
      }))

    it.effect("a revocation's own lag overrides the authority's, down to none", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        const longer = yield* observeLag(stack, stack.authority.revoke({ lag: "700 millis" }))
        assert.isAtLeast(longer.elapsedMs, 700)
        assert.deepStrictEqual(longer.lag, { windows: 1, lagMs: 700, fetches: longer.stale.length })
        const none = yield* observeLag(
          stack,
          CredentialEvent.apply(stack.authority, { _tag: "Revoke", atMs: 0, lagMs: 0 })
        )
        assert.strictEqual(none.served.length, 1, "a new set at the first fetch")
        assert.deepStrictEqual(none.lag, { windows: 0, lagMs: 0, fetches: 0 })
      }))

    it.effect("revoking a set that is already revoked changes nothing, not even its lag", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        const observed = yield* observeLag(
          stack,
          Effect.zipRight(stack.authority.revoke(), stack.authority.revoke({ lag: 0 }))
        )
        assert.isAtLeast(observed.elapsedMs, 400)
        assert.deepStrictEqual(observed.lag, { windows: 1, lagMs: 400, fetches: observed.stale.length })
      }))

    it.effect("an SDK client on the default chain gets the revoked set during the lag, a new one after", () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        // A fresh client asks the container endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`) for its first call.
        const listTables = Effect.acquireUseRelease(
          Effect.sync(() => new DynamoDBClient({ maxAttempts: 1 })),
          (client) =>
            Effect.either(call((abortSignal) => client.send(new ListTablesCommand({}), { abortSignal }))).pipe(
              Effect.map(Either.match({ onLeft: (error) => error.name, onRight: () => "ok" }))
            ),
          (client) => Effect.sync(() => client.destroy())
        )
        assert.strictEqual(yield* listTables, "ok")
        const fetches = yield* stack.authority.fetchCount
        yield* stack.authority.revoke({ lag: "1500 millis" })
        assert.strictEqual(yield* listTables, "UnrecognizedClientException")
        assert.strictEqual((yield* stack.authority.fetchCount) - fetches, 1)
        assert.strictEqual((yield* stack.authority.lagStats).fetches > 0, true)
        yield* realSleep(1600)
        assert.strictEqual(yield* listTables, "ok")
      }))
  }
)

layer(LocalAws.layer({ propagation: "400 millis" }), { excludeTestServices: true })("new sets propagate", (it) => {
  it.effect("the initial set is usable at once: it existed before the test", () =>
    Effect.gen(function*() {
      const { queueUrl, stack, table } = yield* fixtures
      const initial = yield* stack.authority.currentStatic
      assert.strictEqual((yield* stack.authority.lookup(initial.accessKeyId)).status, "valid")
      assert.deepStrictEqual(yield* outcomes(stack, initial, table, queueUrl), { dynamodb: "ok", sqs: "ok" })
    }))

  it.effect("a rotated set is refused as an unknown key until it has propagated, then accepted", () =>
    Effect.gen(function*() {
      const { queueUrl, stack, table } = yield* fixtures
      const issuedAt = Date.now()
      const next = yield* stack.authority.rotate({ graceFor: "10 seconds" })
      const plain = yield* stack.authority.currentStatic
      assert.strictEqual(plain.accessKeyId, next.accessKeyId)
      assert.strictEqual((yield* stack.authority.lookup(next.accessKeyId)).status, "propagating")
      assert.deepStrictEqual(yield* outcomes(stack, plain, table, queueUrl), {
        dynamodb: "UnrecognizedClientException 400",
        sqs: "InvalidClientTokenId 403"
      })
      const refusals = (yield* stack.gateway.stats).byOutcome.unrecognizedClient ?? 0
      assert.isAtLeast(yield* propagated(stack, next.accessKeyId, issuedAt), 400)
      assert.deepStrictEqual(yield* outcomes(stack, plain, table, queueUrl), { dynamodb: "ok", sqs: "ok" })
      assert.strictEqual((yield* stack.gateway.stats).byOutcome.unrecognizedClient ?? 0, refusals)
    }))

  it.effect("the set the endpoint issues after a revocation propagates too", () =>
    Effect.gen(function*() {
      const { queueUrl, stack, table } = yield* fixtures
      const revoked = yield* stack.authority.currentStatic
      yield* stack.authority.revoke()
      const issuedAt = Date.now()
      const fresh = yield* servedNow(stack)
      assert.notStrictEqual(fresh.accessKeyId, revoked.accessKeyId)
      assert.strictEqual((yield* stack.authority.lookup(fresh.accessKeyId)).status, "propagating")
      assert.strictEqual((yield* outcomes(stack, fresh, table, queueUrl)).dynamodb, "UnrecognizedClientException 400")
      // The endpoint keeps serving the propagating set: it is the current one.
      assert.strictEqual((yield* servedNow(stack)).accessKeyId, fresh.accessKeyId)
      assert.isAtLeast(yield* propagated(stack, fresh.accessKeyId, issuedAt), 400)
      assert.deepStrictEqual(yield* outcomes(stack, fresh, table, queueUrl), { dynamodb: "ok", sqs: "ok" })
    }))

  it.effect("a rotation's own propagation overrides the authority's", () =>
    Effect.gen(function*() {
      const { queueUrl, stack, table } = yield* fixtures
      yield* CredentialEvent.apply(stack.authority, { _tag: "Rotate", atMs: 0, graceMs: 0, propagationMs: 0 })
      const current = yield* stack.authority.currentStatic
      assert.strictEqual((yield* stack.authority.lookup(current.accessKeyId)).status, "valid")
      assert.deepStrictEqual(yield* outcomes(stack, current, table, queueUrl), { dynamodb: "ok", sqs: "ok" })
    }))
})

layer(LocalAws.layer(), { excludeTestServices: true })("periodic revocations and generated events", (it) => {
  it.effect("revokeEvery revokes the current set on its period until the scope closes", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const first = (yield* servedNow(stack)).accessKeyId
      const startedAt = Date.now()
      const seen = yield* Effect.scoped(Effect.gen(function*() {
        yield* stack.authority.revokeEvery("300 millis")
        const seen = [first]
        while (seen.length < 3) {
          if (Date.now() - startedAt > 10_000) return yield* Effect.dieMessage("fewer revocations than expected")
          yield* realSleep(50)
          const id = (yield* servedNow(stack)).accessKeyId
          if (id !== seen[seen.length - 1]) seen.push(id)
        }
        return seen
      }))
      // Two revocations, each a period after the previous one.
      assert.isAtLeast(Date.now() - startedAt, 600)
      assert.strictEqual(new Set(seen).size, 3)
      const last = (yield* servedNow(stack)).accessKeyId
      yield* realSleep(700)
      assert.strictEqual((yield* servedNow(stack)).accessKeyId, last, "no revocation after the scope closed")
      assert.strictEqual((yield* stack.authority.lookup(last)).status, "valid")
    }))

  it.effect("revokeEvery runs on the wall clock, not the TestClock", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const first = (yield* stack.authority.current).accessKeyId
      yield* Effect.scoped(Effect.zipRight(stack.authority.revokeEvery("100 millis"), realSleep(250)))
      assert.strictEqual((yield* stack.authority.lookup(first)).status, "revoked")
    }))

  it.effect.prop(
    "each generated event does to the stack what it says",
    [Arbitraries.credentialEvent({
      kinds: ["Rotate", "Revoke", "Expire", "Malformed"],
      maxLagMs: 1000,
      maxPropagationMs: 1000,
      maxMalformedMs: 1000
    })],
    ([event]) =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        // Each event starts from a usable set and the AWS shape.
        yield* stack.authority.rotate({ propagation: 0 })
        yield* stack.gateway.setRejectionShape("aws")
        const before = (yield* stack.authority.current).accessKeyId
        yield* CredentialEvent.apply(stack.authority, event, stack.gateway)
        const current = (yield* stack.authority.current).accessKeyId
        switch (event._tag) {
          case "Rotate": {
            assert.notStrictEqual(current, before)
            const status = (yield* stack.authority.lookup(current)).status
            assert.strictEqual(status, (event.propagationMs ?? 0) > 0 ? "propagating" : "valid")
            break
          }
          case "Revoke":
          case "Expire": {
            assert.strictEqual(
              (yield* stack.authority.lookup(before)).status,
              event._tag === "Revoke" ? "revoked" : "expired"
            )
            const served = (yield* servedNow(stack)).accessKeyId
            // Lags under 200 ms may or may not have passed by the fetch.
            if ((event.lagMs ?? 0) === 0) assert.notStrictEqual(served, before)
            else if (event.lagMs! >= 200) assert.strictEqual(served, before)
            break
          }
          case "Malformed":
            // Windows under 200 ms may have closed by the read.
            if (event.forMs >= 200) assert.strictEqual(yield* stack.gateway.rejectionShape, "malformed")
        }
      }).pipe(Effect.ensuring(Effect.flatMap(LocalAws.LocalAws, (stack) => stack.gateway.setRejectionShape("aws")))),
    { fastCheck: { numRuns: 12 } }
  )
})
