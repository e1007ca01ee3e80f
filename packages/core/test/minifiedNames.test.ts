/**
 * Operation names must survive minification: a Lambda bundle is minified, and a minifier renames the SDK's command
 * classes. `bundled/operationNames.ts` is bundled with esbuild `--minify` (as `esbuild --bundle --platform=node
 * --minify --format=esm` would) and run in a fresh `node`; what its errors, spans and metrics call the operations is
 * checked against the names AWS uses.
 */
import { assert, describe, it } from "@effect/vitest"
import * as esbuild from "esbuild"
import { execFile } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { Resilience } from "../src/index.js"

const run = promisify(execFile)

const bundleAndRun = async (): Promise<{
  readonly classNames: ReadonlyArray<string>
  readonly errors: ReadonlyArray<{ readonly tag: string; readonly operation?: string; readonly message: string }>
  readonly spans: ReadonlyArray<string>
  readonly metricOperations: ReadonlyArray<string>
}> => {
  const dir = await mkdtemp(join(tmpdir(), "minified-names-"))
  try {
    const outfile = join(dir, "program.mjs")
    await esbuild.build({
      entryPoints: [join(import.meta.dirname, "bundled", "operationNames.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      minify: true,
      outfile,
      logLevel: "silent",
      // The SDK's CommonJS builds `require` Node built-ins, which an ESM bundle can only do through this.
      banner: { js: "import{createRequire}from\"node:module\";const require=createRequire(import.meta.url);" }
    })
    const { stdout } = await run(process.execPath, [outfile], {
      env: { PATH: process.env.PATH, AWS_EC2_METADATA_DISABLED: "true" }
    })
    return JSON.parse(stdout)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe("operation names", () => {
  it(
    "come from the command's operation schema, so a minified bundle still reports PutItem and SendMessage",
    async () => {
      const report = await bundleAndRun()
      // The minifier did rename the classes: names read from `constructor.name` would be these.
      assert.notDeepEqual(report.classNames, ["PutItemCommand", "SendMessageCommand"])
      const calls = report.spans.filter((name) => name.startsWith("dynamodb.") || name.startsWith("sqs."))
      assert.deepStrictEqual(calls, ["dynamodb.PutItem", "sqs.SendMessage"])
      assert.deepStrictEqual(report.errors.map((e) => [e.tag, e.operation]), [
        ["AccessDeniedError", "PutItem"],
        ["AccessDeniedError", "SendMessage"]
      ])
      assert.match(report.errors[0]!.message, /^dynamodb\.PutItem: access denied/)
      assert.match(report.errors[1]!.message, /^sqs\.SendMessage: access denied/)
      assert.deepStrictEqual(report.metricOperations, ["PutItem", "SendMessage"])
    },
    120_000
  )

  it("fall back to the class name for a command built without a schema", () => {
    class DescribeThingsCommand {
      readonly input = {}
    }
    assert.strictEqual(Resilience.operationName(new DescribeThingsCommand()), "DescribeThings")
    assert.strictEqual(Resilience.operationName({ schema: { name: "ListThings" } }), "ListThings")
  })
})
