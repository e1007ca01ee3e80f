/**
 * Runs handler modules the way Lambda does, with the testkit's `LambdaEnvironment`: the real runtime interface client
 * (`aws-lambda-ric`, on Node 22) in a child process, polling the testkit's `LambdaRuntimeApi` emulator, with the
 * environment Lambda gives a function and `AWS_ENDPOINT_URL_*` pointing at the local stack's gateway.
 *
 * - `layerKit(fixtures)` bundles the handler modules with esbuild (TypeScript and the workspace sources compiled in,
 *   as a Lambda bundler does) into a temporary task root, finds a Node 22 binary (`LambdaEnvironment.findNode`) and
 *   `aws-lambda-ric` (a dev dependency of this package).
 * - `make(options)` is `LambdaEnvironment.make` on that task root: one function with one execution environment at a
 *   time, replaced when it ends; every process is killed when the scope closes.
 */
import { LambdaEnvironment, type LocalAws } from "@aws-resilience/testkit"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { build } from "esbuild"
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

const node22: Effect.Effect<string, RuntimeKitError> = LambdaEnvironment.findNode(22).pipe(
  Effect.mapError((cause) => new RuntimeKitError({ step: "node22", cause }))
)

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

export type EnvironmentCredentials = LambdaEnvironment.EnvironmentCredentials
export type ExecutionEnvironment = LambdaEnvironment.ExecutionEnvironment
export type Harness = LambdaEnvironment.LambdaFunction

/** `LambdaEnvironment.Options` without what the kit provides. */
export type Options = Omit<LambdaEnvironment.Options, "node" | "runtimeClient" | "taskRoot">

/** A function on the runtime interface client, on the kit's task root; its environments are killed on close. */
export const make = (
  options: Options
): Effect.Effect<Harness, never, RuntimeKit | LocalAws.LocalAws | Scope.Scope> =>
  Effect.flatMap(
    RuntimeKit,
    (kit) =>
      LambdaEnvironment.make({ ...options, node: kit.node, runtimeClient: kit.ric, taskRoot: kit.taskRoot }).pipe(
        Effect.orDie
      )
  )
