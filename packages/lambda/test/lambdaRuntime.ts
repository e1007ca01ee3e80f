/**
 * Runs handler modules the way Lambda does: the real runtime interface client (`aws-lambda-ric`, on Node 22) in a
 * child process, polling the testkit's `LambdaRuntimeApi` emulator, with the environment Lambda gives a function
 * (its `AWS_LAMBDA_*` variables, the role's credentials in `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
 * `AWS_SESSION_TOKEN`, `AWS_REGION`) and `AWS_ENDPOINT_URL_*` pointing at the local stack's gateway.
 *
 * - `RuntimeKit.layer(fixtures)` bundles the handler modules with esbuild (TypeScript and the workspace sources
 *   compiled in, as a Lambda bundler does) into a temporary task root, and finds a Node 22 binary (through
 *   `npx -y node@22`, once).
 * - `make(options)` is one function with one execution environment at a time (reserved concurrency 1): the first
 *   invocation starts it (a cold start), invocations queue while it is busy, and when it ends (its process exits,
 *   or it is killed after a timeout as Lambda does) the invocations it held fail with `Runtime.ExitError` and a new
 *   environment, with the credentials the role has then, starts for the ones still waiting or for the next one.
 *   Every process is killed when the scope closes.
 */
import { LambdaRuntimeApi, LocalAws } from "@aws-resilience/testkit"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { build } from "esbuild"
import * as ChildProcess from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"

/** Bundling the fixtures or finding Node 22 failed. */
export class RuntimeKitError extends Data.TaggedError("RuntimeKitError")<{
  readonly step: "node22" | "bundle"
  readonly cause: unknown
}> {
  override get message(): string {
    return `Lambda runtime kit: ${this.step} failed: ${this.cause instanceof Error ? this.cause.message : this.cause}`
  }
}

/** What every environment is started from. */
export interface RuntimeKitService {
  /** A Node 22 binary. */
  readonly node: string
  /** `aws-lambda-ric`'s entry point. */
  readonly ric: string
  /** The task root: the bundled fixtures, each as `<name>.mjs`. */
  readonly taskRoot: string
}

export class RuntimeKit extends Context.Tag("test/lambda/RuntimeKit")<RuntimeKit, RuntimeKitService>() {}

const require = createRequire(import.meta.url)

const node22: Effect.Effect<string, RuntimeKitError> = Effect.async<string, RuntimeKitError>((resume) => {
  const child = ChildProcess.execFile(
    "npx",
    ["-y", "node@22", "-p", "process.execPath"],
    { timeout: 120_000 },
    (error, stdout) =>
      resume(
        error === null && stdout.trim() !== ""
          ? Effect.succeed(stdout.trim())
          : Effect.fail(new RuntimeKitError({ step: "node22", cause: error ?? "no path printed" }))
      )
  )
  return Effect.sync(() => child.kill())
})

const bundle = (fixtures: Readonly<Record<string, string>>): Effect.Effect<string, RuntimeKitError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "lambda-task-root-"))
        await build({
          entryPoints: Object.entries(fixtures).map(([out, entry]) => ({ in: entry, out })),
          outdir: dir,
          outExtension: { ".js": ".mjs" },
          bundle: true,
          // The fixtures share one chunk of Effect and the SDK: one build, not one per fixture.
          splitting: true,
          platform: "node",
          target: "node22",
          format: "esm",
          // ESM builds first, as Lambda bundlers do for ESM output (CDK's NodejsFunction among them). With `splitting`,
          // esbuild gets a dynamic `import()` of a CommonJS build wrong (the SDK's credential providers, which core
          // loads lazily, come back without their named exports).
          mainFields: ["module", "main"],
          // CommonJS dependencies (the SDK's) `require` Node built-ins, which an ESM bundle has only through this.
          banner: {
            js:
              "import { createRequire as __createRequire } from \"node:module\";const require=__createRequire(import.meta.url);"
          },
          logLevel: "warning"
        })
        return dir
      },
      catch: (cause) => new RuntimeKitError({ step: "bundle", cause })
    }),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Bundles `fixtures` (output name to entry file) and finds Node 22; the task root is removed on close. */
export const layerKit = (fixtures: Readonly<Record<string, string>>): Layer.Layer<RuntimeKit, RuntimeKitError> =>
  Layer.scoped(
    RuntimeKit,
    Effect.map(
      Effect.all([node22, bundle(fixtures)], { concurrency: 2 }),
      ([node, taskRoot]) => ({ node, ric: require.resolve("aws-lambda-ric"), taskRoot })
    )
  )

/** The role's credentials, as Lambda puts them in a new environment's variables. */
export interface EnvironmentCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken: Redacted.Redacted<string>
}

export interface Options {
  /** `<module>.<export>` under the task root, e.g. `orders.handler`. */
  readonly handler: string
  /** More variables, read again for each new environment. */
  readonly environment?: Effect.Effect<Readonly<Record<string, string>>> | undefined
  /**
   * The credentials of each new environment. Default: the authority's current set, or a new one if it is revoked or
   * expired (Lambda gets the role's credentials anew for each execution environment).
   */
  readonly credentials?: Effect.Effect<EnvironmentCredentials> | undefined
  readonly functionName?: string | undefined
  readonly memorySize?: number | undefined
}

/** One execution environment: one process of the runtime interface client. */
export interface ExecutionEnvironment {
  /** 1 for the first environment of the function, then 2, ... */
  readonly id: number
  readonly pid: number | undefined
  readonly accessKeyId: string
  /** How its process ended; undefined while it runs. */
  readonly exit: LambdaRuntimeApi.ExitStatus | undefined
}

export interface Harness {
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
  exit: LambdaRuntimeApi.ExitStatus | undefined
  readonly exited: Deferred.Deferred<void>
}

/** The authority's current set if it is still good, else a new one. */
const roleCredentials: Effect.Effect<EnvironmentCredentials, never, LocalAws.LocalAws> = Effect.gen(function*() {
  const { authority } = yield* LocalAws.LocalAws
  const current = yield* authority.current
  const status = yield* authority.lookup(current.accessKeyId)
  return status.status === "valid" ? current : yield* authority.rotate()
})

const logStream = (): string => {
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "/")
  return `${day}/[$LATEST]${randomBytes(16).toString("hex")}`
}

/** A function on the runtime interface client; its environments are killed when the scope closes. */
export const make = (
  options: Options
): Effect.Effect<Harness, never, RuntimeKit | LocalAws.LocalAws | Scope.Scope> =>
  Effect.gen(function*() {
    const kit = yield* RuntimeKit
    const stack = yield* LocalAws.LocalAws
    const functionName = options.functionName ?? "local-function"
    const api = yield* LambdaRuntimeApi.make({
      functionArn: `arn:aws:lambda:${stack.region}:000000000000:function:${functionName}`
    }).pipe(Effect.orDie)
    const credentials = options.credentials ?? Effect.provideService(roleCredentials, LocalAws.LocalAws, stack)
    const extra = options.environment ?? Effect.succeed({})
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
        if (process.env.LAMBDA_HARNESS_VERBOSE === "1") {
          process.stderr.write(parts.map((l) => `[${id}] ${l}\n`).join(""))
        }
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
        LAMBDA_TASK_ROOT: kit.taskRoot,
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
      const child = ChildProcess.spawn(kit.node, [kit.ric, options.handler], {
        cwd: kit.taskRoot,
        env,
        stdio: ["ignore", "pipe", "pipe"]
      })
      const running: Running = { id, child, accessKeyId: set.accessKeyId, exit: undefined, exited }
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

    const snapshot = (running: Running): ExecutionEnvironment => ({
      id: running.id,
      pid: running.child.pid,
      accessKeyId: running.accessKeyId,
      exit: running.exit
    })

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
          return Effect.zipRight(previous === undefined ? Effect.void : kill(previous), Effect.map(spawn, snapshot))
        })
      ),
      environments: Effect.sync(() => started.map(snapshot)),
      output: Effect.sync(() => lines.join("\n"))
    }
  })
