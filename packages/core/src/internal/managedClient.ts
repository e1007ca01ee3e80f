/**
 * The engine of `ManagedClient`: the clients of each generation and their borrows, the rebuild, the drain on close,
 * and the recovery after a credentials rejection (withdraw the queued requests, poll for a usable set, rebuild),
 * bounded in time by the caller.
 */
import type { AwsCredentialIdentity, RequestHandler } from "@smithy/types"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as AwsConfig from "../AwsConfig.js"
import * as AwsError from "../AwsError.js"
import * as Credentials from "../Credentials.js"
import * as Generation from "../Generation.js"
import type * as ManagedClient from "../ManagedClient.js"
import * as Metrics from "../Metrics.js"
import * as RetryBudget from "../RetryBudget.js"
import * as ConnectionPool from "./connectionPool.js"
import * as credentialsEngine from "./credentials.js"
import { Verdicts } from "./generation.js"
import * as Slots from "./slots.js"
import * as Turnstile from "./turnstile.js"

/**
 * One client lent for one use.
 */
export interface Borrow<C> {
  readonly client: C
  readonly generation: number
  /** Gives the client back; `true` the first time, `false` after (so it can be called from every way out). */
  readonly release: () => boolean
  /** What `unsafeCanceler` aborts when the borrower's fiber is interrupted (after giving the client back). */
  aborter: { abort(): void } | undefined
}

/** What a recovery ended with: retry now, or the bound passed (with the provider's last failure, if any). */
export type Recovery =
  | { readonly _tag: "Retry" }
  | {
    readonly _tag: "Exhausted"
    readonly failure: AwsError.CredentialsError | AwsError.ConfigurationError | undefined
  }

/** What `Resilience`'s engine needs of a managed client beyond its public face. */
export interface Engine<C> extends ManagedClient.ManagedClient<C> {
  /**
   * The borrow of `use` without an effect: the current client when it can be lent at once (credentials fresh,
   * client of their generation, scope open, no renewal, a slot free), else `undefined`; `queued` when only a slot is
   * missing: `onLent` then gets the borrow when a slot frees (or `undefined`: use `use`). The caller must `release`
   * it exactly when its use ends, and take it where it cannot be interrupted before it has arranged that; an
   * interruption while queued is `unsafeCanceler`'s to clean up.
   */
  readonly unsafeBorrow: (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    onLent: (borrow: Borrow<C> | undefined) => void
  ) => Borrow<C> | undefined | typeof queued
  /** Run when a call that took `unsafeBorrow` is interrupted: gives back the fiber's borrows and aborts them. */
  readonly unsafeCanceler: Effect.Effect<void>
  /** `use` for an attempt of a call already under way (a retry): it waits for a free slot ahead of new calls. */
  readonly useAhead: ManagedClient.ManagedClient<C>["use"]
  /** AWS served a request signed with `generation`. In place, for the hot path. */
  readonly unsafeAccept: (generation: number) => void
  /** Hands the clock offset the current SDK client learnt from the server to the credentials service. */
  readonly syncClockOffset: Effect.Effect<void>
  /**
   * After `error` (a rejection, a withdrawn request, or the provider's failure): waits for a usable set until
   * `until` (clock ms) and has the client rebuilt for it. `Retry` when the call should try again now: a newer set,
   * or the same set again when AWS has never accepted it (a new key still propagating).
   */
  readonly recover: (error: AwsError.CredentialsError, until: number) => Effect.Effect<Recovery>
}

type Step = "usable" | "wait" | "never"

/**
 * Where the client is in its life: serving; draining after its scope began to close (calls in flight finish, nothing
 * new is built, `drained` is done when the last borrow is given back); closed (every client destroyed).
 */
type Lifecycle =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Draining"; readonly drained: Deferred.Deferred<void> }
  | { readonly _tag: "Closed" }

/** What `unsafeBorrow` answers when the call waits for a slot. */
export const queued: unique symbol = Symbol.for("@aws-resilience/core/internal/managedClient/queued")

const EngineId: unique symbol = Symbol.for("@aws-resilience/core/internal/managedClient/Engine")

/** The engine of a managed client built by `make`, or of a hand-made one: one that only has `use`. */
export const engineOf = <C>(self: ManagedClient.ManagedClient<C>): Engine<C> | undefined =>
  (self as { readonly [EngineId]?: Engine<C> })[EngineId]

interface Entry<C> {
  readonly client: C
  readonly generation: number
  readonly accessKeyId: string
  borrowers: number
  retired: boolean
  /** Set while a recovery after a rejection of this generation runs: new calls wait for it. */
  renewing: Deferred.Deferred<void> | undefined
}

const clockOffsetOf = (client: unknown): number | undefined => {
  const offset = (client as { config?: { systemClockOffset?: unknown } } | undefined)?.config?.systemClockOffset
  return typeof offset === "number" && Number.isFinite(offset) ? offset : undefined
}

// Placeholder credentials for the probe client `make` builds to check `build` and its configuration.
const probeCredentials: AwsCredentialIdentity = { accessKeyId: "probe", secretAccessKey: "probe" }

// How many calls that waited for a renewal go on in the first turn of the event loop (twice as many in the next):
// each signs its request, ~0.3 ms of CPU.
const RESUMED_PER_TURN = 16

// A credentials service made by hand (no engine): nothing to learn from, nothing fresh to lend without an effect.
const noEngine = {
  unsafeFresh: () => undefined,
  reportClockOffset: () => Effect.void,
  verdicts: new Verdicts(),
  unsafeAccept: () => {}
} as const

export const make = <C extends { destroy(): void }>(
  options: ManagedClient.Options<C>
): Effect.Effect<ManagedClient.ManagedClient<C>, AwsError.ConfigurationError, Credentials.Credentials | Scope.Scope> =>
  Effect.gen(function*() {
    const region = yield* AwsConfig.validateRegion(options.region)
    const endpoint = options.endpoint === undefined || options.endpoint === ""
      ? undefined
      : yield* AwsConfig.validateEndpoint(options.endpoint)
    const configFor = (
      credentials: AwsCredentialIdentity,
      systemClockOffset: number,
      pool: RequestHandler<any, any, any> | undefined
    ): ManagedClient.ClientConfig => ({
      region,
      credentials,
      maxAttempts: 1,
      systemClockOffset,
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(pool !== undefined ? { requestHandler: ConnectionPool.view(pool) } : {})
    })
    const build = (config: ManagedClient.ClientConfig) =>
      Effect.try({
        try: () => options.build(config),
        catch: (cause) =>
          new AwsError.ConfigurationError({
            setting: `${options.service} client`,
            detail: `building the SDK client failed: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      })
    // A `build` that throws, or an SDK client that refuses its configuration, fails here rather than on a call.
    const probe = yield* build(configFor(probeCredentials, 0, undefined))
    // Its request handler (made by the SDK from the caller's settings, or the caller's own) is the one connection
    // pool of every client built from here on; the probe has used no connection.
    const pool = ConnectionPool.handlerOf(probe)
    if (pool === undefined) probe.destroy()

    const credentials = yield* Credentials.Credentials
    const learnt = credentialsEngine.engineOf(credentials) ?? noEngine
    const budget = yield* RetryBudget.make(options.budget)
    const lock = yield* Effect.makeSemaphore(1)
    const drainTimeout = options.drainTimeout ?? "10 seconds"
    const live = new Set<Entry<C>>()
    // The borrows not yet given back, with the fiber of each: closing the scope waits for them, then interrupts.
    const borrowing = new Set<Lent>()
    let current: Entry<C> | undefined
    let builds = 0
    let state: Lifecycle = { _tag: "Open" }
    // Requests in flight are at most the pool's sockets to a host: the others wait here, unsigned, instead of in the
    // agent's queue signed with credentials that a revocation would void. Calls that were under way (retries) wait
    // ahead of new ones.
    let slotLimit: number | undefined
    const limit = (): number => {
      // While the current generation is being renewed no slot is given: the waiting calls keep their places in the
      // queue for the renewed client, instead of being woken to wait for the renewal elsewhere.
      if (current?.renewing !== undefined) return 0
      if (slotLimit !== undefined) return slotLimit
      // Looked up once calls begin to pile up, and kept once the SDK has resolved the handler's configuration.
      if (borrowing.size < 8 || pool === undefined) return Infinity
      const sockets = ConnectionPool.maxSocketsOf(pool)
      if (sockets === undefined) return Infinity
      return slotLimit = sockets
    }
    // Slots a woken waiter of the general path holds until its `Lent` takes it.
    let reserved = 0
    const slots = Slots.make(limit, () => borrowing.size + reserved)
    // Resumes with a slot reserved for the fiber, to be taken by its `Lent`.
    const waitSlot = (fiber: Fiber.RuntimeFiber<unknown, unknown>, first: boolean) =>
      Effect.async<void>((resume) => {
        let woken = false
        const waiter: Slots.Waiter = {
          fiber,
          wake: () => {
            woken = true
            reserved++
            resume(Effect.void)
          }
        }
        slots.wait(waiter, first)
        slots.release()
        return Effect.sync(() => {
          if (woken) {
            reserved--
            slots.release()
          } else {
            slots.cancel(waiter)
          }
        })
      })

    // After a renewal the calls that were under way go on first, then those that waited for it, in growing groups,
    // one per turn of the event loop; calls that start while some still wait queue behind them.
    const turnstile = Turnstile.make(RESUMED_PER_TURN)

    const destroy = (entry: Entry<C>) => {
      live.delete(entry)
      entry.client.destroy()
    }

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // Under the lock, so a rebuild in flight either finishes first or sees `draining` and builds nothing.
        const draining = { _tag: "Draining", drained: Deferred.unsafeMake<void>(FiberId.none) } as const
        yield* lock.withPermits(1)(Effect.sync(() => {
          state = draining
        }))
        if (borrowing.size > 0) {
          // Finalizers run uninterruptibly: the wait must be interruptible for the timeout to end it.
          const finished = yield* Deferred.await(draining.drained).pipe(
            Effect.interruptible,
            Effect.timeout(drainTimeout),
            Effect.option
          )
          if (Option.isNone(finished)) {
            yield* Effect.logWarning(
              `${options.service}: ${borrowing.size} call(s) still running when the scope closed; interrupting them`
            )
            yield* Fiber.interruptAll(new Set(Array.from(borrowing, (borrow) => borrow.fiber)))
          }
        }
        state = { _tag: "Closed" }
        for (const entry of live) destroy(entry)
        current = undefined
        pool?.destroy?.()
      })
    )

    const install = (next: Credentials.AwsCredentials) =>
      Effect.gen(function*() {
        const identity = next.toSdk()
        const client = yield* build(configFor(identity, yield* credentials.clockOffset, pool))
        // With the SDK's handler cache on (`cacheMiddleware: true`), calls hand the pool their signals through it.
        ConnectionPool.carryCallSignals(client)
        const entry: Entry<C> = {
          client,
          generation: next.generation,
          accessKeyId: identity.accessKeyId,
          borrowers: 0,
          retired: false,
          renewing: undefined
        }
        live.add(entry)
        const previous = current
        current = entry
        builds++
        // The old client is retired, and destroyed only once its last borrower has returned it.
        if (previous) {
          previous.retired = true
          if (previous.borrowers === 0) destroy(previous)
          yield* Metric.increment(Metrics.clientRebuilds)
          yield* Effect.logDebug(`${options.service} client rebuilt`).pipe(
            Effect.annotateLogs({ from: previous.generation, to: next.generation })
          )
        }
      })

    const rebuild = (staleGeneration: number) =>
      lock.withPermits(1)(Effect.gen(function*() {
        if (state._tag === "Closed") {
          return yield* Effect.dieMessage(`${options.service} client used after its scope closed`)
        }
        // While draining, calls in flight finish with the clients they have: nothing new is built.
        if (state._tag === "Draining") return
        if (current && Generation.isNewer(current.generation, staleGeneration)) return
        const next = yield* credentials.get
        if (current && !Generation.isNewer(next.generation, current.generation)) return
        yield* install(next)
      }))

    // Requests of `generation` still queued for a connection are withdrawn: AWS would reject them too.
    const withdraw = (generation: number, reason: AwsError.CredentialsReason) =>
      Effect.suspend(() => {
        let withdrawn = 0
        for (const entry of live) {
          if (entry.generation !== generation) continue
          const handler = ConnectionPool.handlerOf(entry.client)
          if (handler === undefined) continue
          withdrawn += ConnectionPool.withdrawQueued(
            handler,
            entry.accessKeyId,
            () => new AwsError.WithdrawnRequest(reason, generation)
          )
        }
        return withdrawn === 0 ? Effect.void : Effect.logDebug(
          `${options.service}: ${withdrawn} queued request(s) signed with rejected credentials withdrawn unsent`
        ).pipe(Effect.annotateLogs({ generation, reason }))
      })

    // The first call to see a rejection of the current generation withdraws its queued requests and marks it, so
    // that new calls wait instead of sending requests that would be rejected too; `work` runs inside the mark.
    const marked = <A>(
      staleGeneration: number,
      reason: AwsError.CredentialsReason,
      work: Effect.Effect<A>
    ): Effect.Effect<A> =>
      // Uninterruptible but for the work, so that a generation marked rejected is always unmarked.
      Effect.uninterruptibleMask((restore) => {
        const entry = current
        if (entry === undefined || entry.generation !== staleGeneration || entry.renewing !== undefined) {
          return restore(work)
        }
        const done = entry.renewing = Deferred.unsafeMake<void>(FiberId.none)
        const withdrawn = Effect.zipRight(withdraw(staleGeneration, reason), work).pipe(
          Effect.tap(() =>
            // Requests signed before the new client was installed may have been queued since (unless the new
            // client signs with the same key, when there is nothing to tell them apart by).
            current !== undefined && current.accessKeyId !== entry.accessKeyId
              ? withdraw(staleGeneration, reason)
              : Effect.void
          )
        )
        return restore(withdrawn).pipe(
          Effect.ensuring(Effect.sync(() => {
            entry.renewing = undefined
            Deferred.unsafeDone(done, Exit.void)
            slots.release()
          }))
        )
      })

    const renewal = (staleGeneration: number) =>
      Effect.zipRight(credentials.refresh(staleGeneration), rebuild(staleGeneration))

    const renew: ManagedClient.ManagedClient<C>["renew"] = (staleGeneration, reason) => {
      // A provider's failure says nothing of the requests signed before it.
      if (reason === undefined || reason === "ProviderFailure") return renewal(staleGeneration)
      return Effect.flatMap(
        marked(staleGeneration, reason, Effect.either(renewal(staleGeneration))),
        (renewed) => Effect.zipRight(turnstile.pass, renewed)
      )
    }

    const recover = (error: AwsError.CredentialsError, until: number): Effect.Effect<Recovery> =>
      Effect.gen(function*() {
        const stale = error.generation
        const rejected = error.reason !== "ProviderFailure"
        const successesBefore = learnt.verdicts.successesOf(stale)
        let failure: AwsError.CredentialsError | AwsError.ConfigurationError | undefined
        // One answer of the source (shared, spaced by its backoff) and a rebuild; then: is there something to try?
        const step: Effect.Effect<Step> = Effect.either(renewal(stale)).pipe(
          Effect.flatMap((renewed) => {
            if (renewed._tag === "Left") {
              failure = renewed.left
              return Effect.succeed("wait" as const)
            }
            const generation = current?.generation ?? Generation.none
            // The provider answered: after its failure, whatever it gave is worth a try; after a rejection, the
            // same set only if AWS had never accepted it (a new key still propagating), or has accepted it since.
            if (
              Generation.isNewer(generation, stale) || !rejected ||
              learnt.verdicts.worthRetrying(stale, successesBefore)
            ) {
              return Effect.succeed("usable" as const)
            }
            // A set AWS accepted and then rejected, from a source that cannot change while the process runs (the
            // environment a Lambda function was started with, a key in code): waiting brings nothing.
            return Effect.map(
              credentials.current,
              (set) => Option.isSome(set) && Generation.isFixedSource(set.value.source) ? "never" as const : "wait"
            )
          })
        )
        const untilUsable: Effect.Effect<boolean> = Effect.flatMap(
          step,
          (next) => next === "usable" ? Effect.succeed(true) : next === "never" ? Effect.succeed(false) : untilUsable
        )
        const bounded = Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => Effect.timeoutOption(untilUsable, Duration.millis(Math.max(0, until - now)))
        )
        const outcome = yield* rejected ? marked(stale, error.reason, bounded) : bounded
        if (Option.isNone(outcome) || !outcome.value) return { _tag: "Exhausted", failure } as const
        // Resumed in groups like the calls that waited for the renewal; its slot it then takes ahead of new calls.
        yield* turnstile.pass
        return { _tag: "Retry" } as const
      })

    class Lent implements Borrow<C> {
      readonly client: C
      readonly generation: number
      aborter: { abort(): void } | undefined = undefined
      private returned = false
      constructor(readonly entry: Entry<C>, readonly fiber: Fiber.RuntimeFiber<unknown, unknown>) {
        this.client = entry.client
        this.generation = entry.generation
        entry.borrowers++
        borrowing.add(this)
      }
      release(): boolean {
        if (this.returned) return false
        this.returned = true
        const entry = this.entry
        entry.borrowers--
        borrowing.delete(this)
        if (slots.waiting() > 0) slots.release()
        if (entry.retired && entry.borrowers === 0 && live.has(entry)) destroy(entry)
        if (state._tag === "Draining" && borrowing.size === 0) Deferred.unsafeDone(state.drained, Exit.void)
        return true
      }
    }

    // The borrow: taken and given back without a fiber switch; uninterruptible but for `f`, so that an
    // interruption can never leave a borrow counted (the client would outlive its use) or uncounted (destroyed
    // under its borrower).
    // Without a free slot it first waits for one (interruptibly), then takes it with the borrow in one step.
    const lend = <A, E, R>(
      f: (client: C, generation: number) => Effect.Effect<A, E, R>,
      first = false
    ): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.withFiberRuntime<A, E, R>((fiber) => {
          const take = (slotReserved: boolean) => {
            if (slotReserved) reserved--
            const entry = current
            if (entry === undefined) return Effect.dieMessage(`${options.service} client used after its scope closed`)
            const borrow = new Lent(entry, fiber)
            return Effect.ensuring(restore(f(entry.client, entry.generation)), Effect.sync(() => borrow.release()))
          }
          if (slots.open()) return take(false)
          return Effect.zipRight(restore(waitSlot(fiber, first)), Effect.suspend(() => take(true)))
        })
      )

    // A cached credentials read and a generation comparison, then the borrow; checked when the effect runs (a
    // retry runs the same effect again).
    const use = <A, E, R>(f: (client: C, generation: number) => Effect.Effect<A, E, R>, first: boolean) =>
      Effect.suspend(() => {
        const borrow = Effect.flatMap(
          credentials.get,
          (c) =>
            current !== undefined && Generation.covers(current.generation, c.generation)
              ? lend(f, first)
              : Effect.zipRight(rebuild(current?.generation ?? Generation.none), lend(f, first))
        )
        // The current generation has been rejected: its requests would be too, so wait for the renewal.
        const renewing = current?.renewing
        if (renewing !== undefined) {
          return Effect.zipRight(Effect.zipRight(Deferred.await(renewing), turnstile.pass), borrow)
        }
        return turnstile.waiting() > 0 ? Effect.zipRight(turnstile.pass, borrow) : borrow
      })

    const unsafeCanceler = Effect.withFiberRuntime<void>((fiber) => {
      // Only on an interruption: a scan of the borrows in flight finds the fiber's (one for `execute`'s fast path),
      // and a scan of the queue its wait for a slot.
      for (const borrow of borrowing) {
        if (borrow.fiber === fiber && borrow.aborter !== undefined && borrow.release()) borrow.aborter.abort()
      }
      if (slots.waiting() > 0) slots.cancelFiber(fiber)
      return Effect.void
    })

    // Whether `execute`'s fast path may borrow the current client now: credentials fresh, a client of their
    // generation, the scope open, no renewal.
    const lendable = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
      const entry = current
      if (entry === undefined || state._tag !== "Open" || entry.renewing !== undefined || turnstile.waiting() > 0) {
        return false
      }
      const fresh = learnt.unsafeFresh(Context.get(fiber.currentDefaultServices, Clock.Clock))
      return fresh !== undefined && Generation.covers(entry.generation, fresh.generation)
    }

    const engine: Engine<C> = {
      service: options.service,
      region,
      use: (f) => use(f, false),
      useAhead: (f) => use(f, true),
      rebuild,
      renew,
      budget,
      generation: Effect.sync(() => current?.generation ?? Generation.none),
      builds: Effect.sync(() => builds),
      syncClockOffset: Effect.suspend(() => {
        const offset = clockOffsetOf(current?.client)
        return offset === undefined ? Effect.void : learnt.reportClockOffset(offset)
      }),
      unsafeAccept: learnt.unsafeAccept,
      recover,
      unsafeBorrow: (fiber, onLent) => {
        if (!lendable(fiber)) return undefined
        if (slots.open()) return new Lent(current!, fiber)
        // Every slot taken: the call waits its turn, unsigned, and goes on from `onLent` when a slot frees (with
        // `undefined` if by then the client cannot be lent at once).
        slots.wait({ fiber, wake: () => onLent(lendable(fiber) ? new Lent(current!, fiber) : undefined) }, false)
        return queued
      },
      unsafeCanceler
    }
    const managed: ManagedClient.ManagedClient<C> = {
      service: engine.service,
      region: engine.region,
      use: engine.use,
      rebuild,
      renew,
      budget,
      generation: engine.generation,
      builds: engine.builds
    }
    Object.defineProperty(managed, EngineId, { value: engine, enumerable: false })
    return managed
  })
