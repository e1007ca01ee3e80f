/**
 * Runs a function's already-built code the way Lambda does: a runtime interface client (such as `aws-lambda-ric`)
 * in a child process, polling a `LambdaRuntimeApi` emulator, with the environment Lambda gives a function (its
 * `AWS_LAMBDA_*` variables, the role's credentials in `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
 * `AWS_SESSION_TOKEN`, `AWS_REGION`) and `AWS_ENDPOINT_URL_*` pointing at the local stack's gateway.
 *
 * The caller brings the pieces Lambda would: a Node binary (`findNode` finds one of a given major version), the
 * runtime interface client's entry point, and a task root holding the bundled handler. Nothing is built here, so
 * the testkit depends on neither a bundler nor a runtime interface client.
 *
 * `make(options)` is one function with one execution environment at a time (reserved concurrency 1): the first
 * invocation starts it (a cold start), invocations queue while it is busy, and when it ends (its process exits, or
 * it is killed after a timeout as Lambda does) the invocations it held fail with `Runtime.ExitError` and a new
 * environment, with the credentials the role has then, starts for the ones still waiting or for the next one.
 * Every process is killed when the scope closes.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as LambdaRuntimeApi from "./LambdaRuntimeApi.js"
import { LocalAws } from "./LocalAws.js"
import type * as StackError from "./StackError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/testkit/LambdaEnvironmentError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why an environment cannot be set up: no Node binary of the version asked for, or a runtime interface client or
 * task root that is not there.
 *
 * @since 0.1.0
 * @category models
 */
export type LambdaEnvironmentErrorReason = "NodeNotFound" | "RuntimeClientNotFound" | "TaskRootNotFound"

/**
 * @since 0.1.0
 * @category errors
 */
export class LambdaEnvironmentError extends Data.TaggedError("LambdaEnvironmentError")<{
  readonly reason: LambdaEnvironmentErrorReason
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `Lambda environment (${this.reason}): ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isLambdaEnvironmentError = (u: unknown): u is LambdaEnvironmentError => Predicate.hasProperty(u, TypeId)

/**
 * A Node binary of the major version given (Lambda's `nodejs22.x` runs Node 22): this process's own if it is that
 * version, else the one `npx -y node@<major>` installs (it may download it once; the path is cached by npx).
 *
 * @since 0.1.0
 * @category constructors
 */
export const findNode = (major = 22): Effect.Effect<string, LambdaEnvironmentError> =>
  process.versions.node.split(".")[0] === String(major)
    ? Effect.succeed(process.execPath)
    : Effect.async<string, LambdaEnvironmentError>((resume) => {
      const child = ChildProcess.execFile(
        "npx",
        ["-y", `node@${major}`, "-p", "process.execPath"],
        { timeout: 120_000 },
        (error, stdout) =>
          resume(
            error === null && stdout.trim() !== ""
              ? Effect.succeed(stdout.trim())
              : Effect.fail(
                new LambdaEnvironmentError({
                  reason: "NodeNotFound",
                  detail: `npx -y node@${major} printed no path`,
                  cause: error ?? undefined
                })
              )
          )
      )
      return Effect.sync(() => child.kill())
    })

/**
 * The role's credentials, as Lambda puts them in a new environment's variables.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnvironmentCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken: Redacted.Redacted<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The Node binary that runs the runtime interface client (see `findNode`). */
  readonly node: string
  /** The runtime interface client's entry point, run as `<node> <runtimeClient> <handler>` (`aws-lambda-ric`'s). */
  readonly runtimeClient: string
  /** The function's code, built: what Lambda unpacks the deployment package into (`LAMBDA_TASK_ROOT`). */
  readonly taskRoot: string
  /** `<module>.<export>` under the task root, e.g. `index.handler`. */
  readonly handler: string
  /** More variables, read again for each new environment. */
  readonly environment?: Effect.Effect<Readonly<Record<string, string>>> | undefined
  /**
   * The credentials of each new environment. Default `roleCredentials`: the authority's current set, or a new one
   * if it is revoked or expired (Lambda gets the role's credentials anew for each execution environment).
   */
  readonly credentials?: Effect.Effect<EnvironmentCredentials> | undefined
  /** Default "local-function". */
  readonly functionName?: string | undefined
  /** `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; default 512. */
  readonly memorySize?: number | undefined
  /** Also write the environments' output to this process's stderr. Default: `LAMBDA_HARNESS_VERBOSE` is "1". */
  readonly echo?: boolean | undefined
}

/**
 * One execution environment: one process of the runtime interface client.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExecutionEnvironment {
  /** 1 for the first environment of the function, then 2, ... */
  readonly id: number
  readonly pid: number | undefined
  readonly accessKeyId: string
  /** When its process was started, in epoch milliseconds (`performance.timeOrigin + performance.now()`). */
  readonly startedAt: number
  /**
   * From the start of its process to its runtime's first `invocation/next` request, in milliseconds: the init phase
   * (Node's start-up, the runtime interface client's, the handler module's load). Undefined until that request
   * arrives, and for an environment whose init failed.
   */
  readonly initMs: number | undefined
  /** How its process ended; undefined while it runs. */
  readonly exit: LambdaRuntimeApi.ExitStatus | undefined
}

/**
 * A function on the runtime interface client.
 *
 * @since 0.1.0
 * @category models
 */
export interface LambdaFunction {
  readonly api: LambdaRuntimeApi.Service
  /**
   * Invokes the function, starting an environment if none runs. A timeout ends the environment that held the
   * invocation, as Lambda does.
   */
  readonly invoke: (
    event: unknown,
    options?: LambdaRuntimeApi.InvokeOptions
  ) => Effect.Effect<LambdaRuntimeApi.Outcome, LambdaRuntimeApi.LambdaRuntimeApiError>
  /** Ends the running environment, if any, and starts a new one. */
  readonly restart: Effect.Effect<ExecutionEnvironment>
  /** Every environment started so far, oldest first. */
  readonly environments: Effect.Effect<ReadonlyArray<ExecutionEnvironment>>
  /** What the environments wrote to stdout and stderr, each line prefixed with its environment's id. */
  readonly output: Effect.Effect<string>
}

interface Running {
  readonly id: number
  readonly child: ChildProcess.ChildProcess
  readonly accessKeyId: string
  readonly startedAt: number
  exit: LambdaRuntimeApi.ExitStatus | undefined
  readonly exited: Deferred.Deferred<void>
}

/**
 * The authority's current set if it is still good, else a new one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const roleCredentials: Effect.Effect<EnvironmentCredentials, never, LocalAws> = Effect.gen(function*() {
  const { authority } = yield* LocalAws
  const current = yield* authority.current
  const status = yield* authority.lookup(current.accessKeyId)
  return status.status === "valid" ? current : yield* authority.rotate()
})

const logStream = (): string => {
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "/")
  return `${day}/[$LATEST]${randomBytes(16).toString("hex")}`
}

const now = (): number => performance.timeOrigin + performance.now()

/**
 * Starts the function's Runtime API emulator; environments start on demand and are killed when the scope closes.
 * Fails if the runtime interface client or the task root is not there.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<LambdaFunction, LambdaEnvironmentError | StackError.StackError, LocalAws | Scope.Scope> =>
  Effect.gen(function*() {
    if (!Fs.existsSync(options.runtimeClient)) {
      return yield* new LambdaEnvironmentError({ reason: "RuntimeClientNotFound", detail: options.runtimeClient })
    }
    if (!Fs.existsSync(options.taskRoot)) {
      return yield* new LambdaEnvironmentError({ reason: "TaskRootNotFound", detail: options.taskRoot })
    }
    const stack = yield* LocalAws
    const functionName = options.functionName ?? "local-function"
    const api = yield* LambdaRuntimeApi.make({
      functionArn: `arn:aws:lambda:${stack.region}:000000000000:function:${functionName}`
    })
    const credentials = options.credentials ?? Effect.provideService(roleCredentials, LocalAws, stack)
    const extra = options.environment ?? Effect.succeed({})
    const echo = options.echo ?? process.env.LAMBDA_HARNESS_VERBOSE === "1"
    const run = yield* FiberSet.makeRuntime<never>()
    const lock = yield* Effect.makeSemaphore(1)
    const started: Array<Running> = []
    const lines: Array<string> = []
    let closing = false

    const current = (): Running | undefined => {
      const last = started.at(-1)
      return last !== undefined && last.exit === undefined ? last : undefined
    }

    const capture = (id: number, stream: NodeJS.ReadableStream | null) => {
      let partial = ""
      stream?.setEncoding("utf8")
      stream?.on("data", (chunk: string) => {
        const parts = (partial + chunk).split("\n")
        partial = parts.pop() ?? ""
        for (const line of parts) lines.push(`[${id}] ${line}`)
        if (echo) process.stderr.write(parts.map((l) => `[${functionName} ${id}] ${l}\n`).join(""))
      })
    }

    const spawn = Effect.gen(function*() {
      const set = yield* credentials
      const more = yield* extra
      const id = started.length + 1
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        LANG: "en_US.UTF-8",
        TZ: ":UTC",
        AWS_LAMBDA_RUNTIME_API: api.runtimeApi,
        LAMBDA_TASK_ROOT: options.taskRoot,
        _HANDLER: options.handler,
        AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
        AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
        AWS_LAMBDA_FUNCTION_NAME: functionName,
        AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memorySize ?? 512),
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
        AWS_LAMBDA_LOG_STREAM_NAME: logStream(),
        AWS_REGION: stack.region,
        AWS_DEFAULT_REGION: stack.region,
        AWS_ACCESS_KEY_ID: set.accessKeyId,
        AWS_SECRET_ACCESS_KEY: Redacted.value(set.secretAccessKey),
        AWS_SESSION_TOKEN: Redacted.value(set.sessionToken),
        AWS_ENDPOINT_URL_DYNAMODB: stack.endpoints.dynamodb,
        AWS_ENDPOINT_URL_SQS: stack.endpoints.sqs,
        AWS_ENDPOINT_URL_STS: stack.endpoints.sts,
        // There is no instance metadata service in Lambda, nor here.
        AWS_EC2_METADATA_DISABLED: "true",
        ...more
      }
      const exited = yield* Deferred.make<void>()
      const startedAt = now()
      const child = ChildProcess.spawn(options.node, [options.runtimeClient, options.handler], {
        cwd: options.taskRoot,
        env,
        stdio: ["ignore", "pipe", "pipe"]
      })
      const running: Running = { id, child, accessKeyId: set.accessKeyId, startedAt, exit: undefined, exited }
      started.push(running)
      capture(id, child.stdout)
      capture(id, child.stderr)
      const ended = (status: LambdaRuntimeApi.ExitStatus) => {
        if (running.exit !== undefined) return
        running.exit = status
        run(onExit(running))
      }
      child.once("exit", (code, signal) => ended({ code, signal }))
      child.once("error", (error) => {
        lines.push(`[${id}] spawn error: ${error.message}`)
        ended({ code: null, signal: null })
      })
      return running
    })

    // Lambda starts a new environment when invocations wait for one; otherwise the next invocation starts it.
    const onExit = (running: Running): Effect.Effect<void> =>
      Effect.gen(function*() {
        yield* api.reportExit(running.exit)
        yield* Deferred.succeed(running.exited, undefined)
        if (closing) return
        const { waiting } = yield* api.stats
        if (waiting > 0) yield* ensure
      })

    const ensure: Effect.Effect<void> = lock.withPermits(1)(
      Effect.suspend(() => current() === undefined && !closing ? Effect.asVoid(spawn) : Effect.void)
    )

    const kill = (running: Running): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (running.exit === undefined) running.child.kill("SIGKILL")
        return Deferred.await(running.exited)
      })

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        return Effect.forEach(started, kill, { discard: true })
      })
    )

    // Environments run one after another, so an environment's first `next` is the first one after its start and
    // before the next environment's.
    const snapshots = Effect.map(api.nextRequests, (polls) =>
      started.map((running, i): ExecutionEnvironment => {
        const until = started[i + 1]?.startedAt ?? Number.POSITIVE_INFINITY
        const first = polls.find((at) => at >= running.startedAt && at < until)
        return {
          id: running.id,
          pid: running.child.pid,
          accessKeyId: running.accessKeyId,
          startedAt: running.startedAt,
          initMs: first === undefined ? undefined : first - running.startedAt,
          exit: running.exit
        }
      }))

    return {
      api,
      invoke: (event, invokeOptions) =>
        Effect.zipRight(
          ensure,
          Effect.tap(api.invoke(event, invokeOptions), (outcome) => {
            if (outcome._tag !== "Timeout") return Effect.void
            const holder = current()
            return holder === undefined ? Effect.void : kill(holder)
          })
        ),
      restart: lock.withPermits(1)(
        Effect.suspend(() => {
          const previous = current()
          return Effect.zipRight(
            previous === undefined ? Effect.void : kill(previous),
            Effect.flatMap(spawn, (running) => Effect.map(snapshots, (all) => all[running.id - 1]!))
          )
        })
      ),
      environments: snapshots,
      output: Effect.sync(() => lines.join("\n"))
    }
  })
