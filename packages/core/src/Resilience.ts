/**
 * Runs SDK calls through a `ManagedClient` with a retry policy: an abort signal per attempt, a span per call,
 * a budget per client, and credential recovery after a `CredentialsError`: the call waits, bounded in time, for
 * usable credentials (polled from the source once for every waiting call) and the client rebuilt for them. The
 * engine is `internal/resilience.ts`.
 *
 * @since 0.1.0
 */
import type { StaticSchemaIdOperation } from "@smithy/types"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Tracer from "effect/Tracer"
import type * as AwsError from "./AwsError.js"
import * as ConnectionPool from "./internal/connectionPool.js"
import * as internal from "./internal/resilience.js"
import type * as ManagedClient from "./ManagedClient.js"

/**
 * One operation on a client: its name, and how to run it given an abort signal. Hand the signal to the SDK with
 * `Resilience.sendCommand(client, command, signal)` (or `client.send(command, Resilience.sendOptions(signal))`):
 * through a managed client's connection pool only the request handler sees it, which is what interrupting the call
 * needs and costs the SDK nothing per call, and `sendCommand` also keeps the SDK's handler cache in use.
 *
 * @since 0.1.0
 * @category models
 */
export interface Operation<C, A> {
  readonly name: string
  readonly run: (client: C, signal: AbortSignal) => Promise<A>
}

/**
 * The shape of an SDK v3 command: what `client.send` takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Command<Input, Output> {
  readonly input: Input
  /** Phantom: the SDK's commands carry their output type here. */
  readonly resolveMiddleware: (...args: Array<any>) => (...args: Array<any>) => Promise<{ output: Output }>
}

/**
 * What `send` needs of an SDK v3 client.
 *
 * @since 0.1.0
 * @category models
 */
export interface SdkClient {
  send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any>
  destroy(): void
}

const operationSchemaId: StaticSchemaIdOperation = 9

/**
 * The operation a command is for, e.g. `PutItem`, as the SDK's command builder recorded it in the command's
 * operation schema (`command.schema`: `[9, namespace, name, ...]`, or an object with a `name`). The class name is
 * only a fallback, for commands built without a schema: a minifier renames classes (`PutItemCommand` becomes `NB`).
 *
 * @since 0.1.0
 * @category utils
 */
export const operationName = (command: object): string => {
  const schema: unknown = (command as { readonly schema?: unknown }).schema
  if (Array.isArray(schema)) {
    if (schema[0] === operationSchemaId && typeof schema[2] === "string") return schema[2]
  } else if (Predicate.hasProperty(schema, "name") && typeof schema.name === "string") {
    return schema.name
  }
  return command.constructor.name.replace(/Command$/, "")
}

/**
 * `Effect.withSpan`, but only when a tracer other than Effect's default one is installed: the default tracer keeps
 * its spans nowhere, yet making one (two random ids, a map, a copy of the fiber's context) costs about as much as
 * the rest of a call's overhead. With a real tracer (e.g. `@effect/opentelemetry`'s) the span is made as usual.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withSpanWhenTraced: {
  (
    name: string,
    options?: Tracer.SpanOptions
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string, options?: Tracer.SpanOptions): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string, options?: Tracer.SpanOptions): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime<A, E, R>((fiber) =>
      fiber.currentTracer === internal.nativeTracer ? self : Effect.withSpan(self, name, options)
    )
)

/**
 * The options for `client.send` that hand it `signal`: under the connection pool's own key when the client sends
 * through the pool (only its request handler sees the signal: the SDK's retry middleware would race the call
 * against it, a cost on every call), as `abortSignal` otherwise.
 *
 * @since 0.1.0
 * @category utils
 */
export const sendOptions = (signal: AbortSignal): { readonly abortSignal?: AbortSignal } =>
  signal instanceof internal.OnabortSignal && signal.viaPool
    ? { [ConnectionPool.callSignal]: signal } as { readonly abortSignal?: AbortSignal }
    : { abortSignal: signal }

/**
 * Sends `command` through `client` with `signal` the cheapest way the client allows: with the SDK's handler cache on
 * (`cacheMiddleware: true` in the managed client's `clientConfig`) and the client sending through its managed
 * client's connection pool, as arguments that carry the signal, with no options (the SDK uses its cache only for a
 * call without options); otherwise with `sendOptions(signal)`. What `send` does; for an `Operation` of your own.
 *
 * @since 0.1.0
 * @category utils
 */
export const sendCommand = <O>(client: SdkClient, command: Command<any, O>, signal: AbortSignal): Promise<O> =>
  signal instanceof internal.OnabortSignal && signal.viaArguments
    ? client.send(ConnectionPool.callArguments(command, signal))
    : client.send(command, sendOptions(signal))

/**
 * Runs one operation through the client with the policy in context (or the standard mode, honouring
 * `AWS_MAX_ATTEMPTS`). The call's duration is recorded (however it ended, unless interrupted), and with a tracer
 * installed it is one client span with the region and the request id.
 *
 * @since 0.1.0
 * @category combinators
 */
export const execute: {
  <C, A>(operation: Operation<C, A>): (self: ManagedClient.ManagedClient<C>) => Effect.Effect<A, AwsError.AwsError>
  <C, A>(self: ManagedClient.ManagedClient<C>, operation: Operation<C, A>): Effect.Effect<A, AwsError.AwsError>
} = dual(2, internal.execute)

/**
 * Sends one SDK command through a managed client with the policy in context; the output type is the command's.
 *
 * @example
 * ```ts
 * import { type ManagedClient, Resilience } from "@aws-resilience/core"
 * import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts"
 * import { Context, Effect } from "effect"
 *
 * class STS extends Context.Tag("app/STS")<STS, ManagedClient.ManagedClient<STSClient>>() {}
 *
 * export const whoAmI = Effect.gen(function*() {
 *   const sts = yield* STS
 *   const identity = yield* Resilience.send(sts, new GetCallerIdentityCommand({}))
 *   return identity.Arn
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const send: {
  <I, O>(
    command: Command<I, O>
  ): <C extends SdkClient>(self: ManagedClient.ManagedClient<C>) => Effect.Effect<O, AwsError.AwsError>
  <C extends SdkClient, I, O>(
    self: ManagedClient.ManagedClient<C>,
    command: Command<I, O>
  ): Effect.Effect<O, AwsError.AwsError>
} = dual(2, <C extends SdkClient, I, O>(self: ManagedClient.ManagedClient<C>, command: Command<I, O>) =>
  execute(self, {
    name: operationName(command),
    run: (client, signal) => sendCommand(client, command, signal)
  }))

/**
 * Retries what is left of a partly successful call (unprocessed items, failed batch entries) with the policy's
 * backoff, charged to the client's budget like any retry. `step(pending)` sends and returns what is still
 * pending together with the error to back off from, or `None` when nothing is left. When the policy or the
 * budget gives up, the result is what is still pending, with its error.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retryRemaining: <C, W, E, R>(
  self: ManagedClient.ManagedClient<C>,
  operation: string,
  initial: W,
  step: (pending: W) => Effect.Effect<Option.Option<readonly [W, AwsError.AwsError]>, E, R>
) => Effect.Effect<Option.Option<readonly [W, AwsError.AwsError]>, E, R> = internal.retryRemaining
