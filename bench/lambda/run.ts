/**
 * The Lambda benchmark: the example's API Lambda (examples/event-ingest/src/api.ts, on aws-resilience) against a
 * bare-SDK handler doing the same work (`bare.ts`: PutItem + SendMessage with plain clients configured by the
 * environment), both bundled as the example's CDK stack bundles them (`bundleOptions` of infra/bundle.ts: esbuild,
 * minified, ESM, node22).
 *
 * - Bundle size: each `index.mjs`, and gzipped (what a deployment zip roughly holds), as a ratio to the bare one.
 * - Init: each sample starts a new execution environment of one variant, under the real runtime interface client
 *   (`aws-lambda-ric` on Node 22) against the testkit's Lambda Runtime API emulator, on the local stack, and times
 *   it from the start of its process to the first `invocation/next` request its runtime client sends (Node's
 *   start-up, the client's, the module's load and, for the API Lambda, its layer build, awaited at the top level).
 *   Its first invocation must answer 201 (the work really happens); its time, from that `next` to the answer, is
 *   shown too. The variants alternate over the rounds (the order flips each round), after one unrecorded round.
 *
 *   tsx bench/lambda/run.ts [--rounds 15] [--out dir]
 */
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs"
import * as Effect from "effect/Effect"
import { buildSync, version as esbuildVersion } from "esbuild"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { gzipSync } from "node:zlib"
import { bundleHandlers, bundleOptions } from "../../examples/event-ingest/infra/bundle.js"
import * as LambdaEnvironment from "../../packages/testkit/src/LambdaEnvironment.js"
import * as LocalAws from "../../packages/testkit/src/LocalAws.js"

const root = Path.join(import.meta.dirname, "..", "..")
const argument = (name: string): string | undefined => {
  const at = process.argv.indexOf(name)
  return at >= 0 ? process.argv[at + 1] : undefined
}
const rounds = Math.max(10, Number(argument("--rounds") ?? 15) || 15)
const out = argument("--out") ?? Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-lambda-"))
Fs.mkdirSync(out, { recursive: true })

// ---- bundles -------------------------------------------------------------------------------------------------------

interface Variant {
  readonly name: "bare" | "api"
  readonly what: string
  readonly taskRoot: string
  readonly bytes: number
  readonly gzipBytes: number
}

const sizes = (file: string) => {
  const text = Fs.readFileSync(file)
  return { bytes: text.length, gzipBytes: gzipSync(text, { level: 9 }).length }
}

bundleHandlers({ srcDir: Path.join(root, "examples", "event-ingest", "src"), outDir: out })
buildSync({
  ...bundleOptions,
  entryPoints: [Path.join(import.meta.dirname, "bare.ts")],
  outfile: Path.join(out, "bare", "index.mjs"),
  absWorkingDir: root
})
const variants: ReadonlyArray<Variant> = [
  {
    name: "bare",
    what: "bare SDK: PutItem + SendMessage, clients at module scope",
    taskRoot: Path.join(out, "bare"),
    ...sizes(Path.join(out, "bare", "index.mjs"))
  },
  {
    name: "api",
    what: "examples/event-ingest/src/api.ts: LambdaHandler.make, EventStore.put + EventQueue.enqueue",
    taskRoot: Path.join(out, "api"),
    ...sizes(Path.join(out, "api", "index.mjs"))
  }
]
const [bare, api] = variants as [Variant, Variant]

const kb = (bytes: number) => `${(bytes / 1000).toFixed(0)} KB`
console.log(
  `esbuild ${esbuildVersion}, the example's bundleOptions (minify, keepNames, ESM, node22); bundles in ${out}`
)
console.log("\nbundle size (index.mjs; gzipped)")
for (const v of variants) {
  console.log(
    `  ${v.name.padEnd(5)} ${kb(v.bytes).padStart(8)} ${(v.bytes / bare.bytes).toFixed(2)}x   ${
      kb(v.gzipBytes).padStart(7)
    } ${(v.gzipBytes / bare.gzipBytes).toFixed(2)}x   ${v.what}`
  )
}

// ---- init ----------------------------------------------------------------------------------------------------------

const ric = createRequire(Path.join(root, "packages", "lambda", "package.json")).resolve("aws-lambda-ric")

interface Sample {
  readonly initMs: number
  readonly invokeMs: number
}

const apiGatewayEvent = (id: string) => ({
  resource: "/events",
  path: "/events",
  httpMethod: "POST",
  headers: { "content-type": "application/json" },
  requestContext: { requestId: id, stage: "prod" },
  body: JSON.stringify({ id, source: "bench", payload: { n: 1 } }),
  isBase64Encoded: false
})

const program = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const node = yield* LambdaEnvironment.findNode(22)
  const nodeVersion = execFileSync(node, ["--version"]).toString().trim()
  // The table and the queue, through the gateway (so the queue's URL names the gateway, as the handlers' SDK wants).
  const credentials = yield* stack.authority.currentStatic
  const { queueUrl } = yield* Effect.promise(async () => {
    const dynamodb = new DynamoDBClient({ region: stack.region, endpoint: stack.endpoints.dynamodb, credentials })
    const sqs = new SQSClient({ region: stack.region, endpoint: stack.endpoints.sqs, credentials })
    await dynamodb.send(
      new CreateTableCommand({
        TableName: "events",
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST"
      })
    )
    const created = await sqs.send(
      new CreateQueueCommand({ QueueName: "events.fifo", Attributes: { FifoQueue: "true" } })
    )
    dynamodb.destroy()
    sqs.destroy()
    return { queueUrl: created.QueueUrl! }
  })

  let n = 0
  const sample = (variant: Variant): Effect.Effect<Sample, unknown, LocalAws.LocalAws> =>
    Effect.scoped(Effect.gen(function*() {
      const fn = yield* LambdaEnvironment.make({
        node,
        runtimeClient: ric,
        taskRoot: variant.taskRoot,
        handler: "index.handler",
        functionName: `bench-${variant.name}`,
        environment: Effect.succeed({ EVENTS_TABLE_NAME: "events", EVENTS_QUEUE_URL: queueUrl })
      })
      const outcome = yield* fn.invoke(apiGatewayEvent(`${variant.name}-${n++}`), { timeout: "10 seconds" })
      const answeredAt = performance.timeOrigin + performance.now()
      const status = outcome._tag === "Response" ? (outcome.body as { statusCode?: number }).statusCode : undefined
      if (status !== 201) {
        return yield* Effect.fail(`${variant.name}: ${JSON.stringify(outcome)}\n${yield* fn.output}`)
      }
      const [environment] = yield* fn.environments
      const initMs = environment!.initMs!
      return { initMs, invokeMs: answeredAt - environment!.startedAt - initMs }
    }))

  const samples = new Map<Variant["name"], Array<Sample>>(variants.map((v) => [v.name, []]))
  // One unrecorded round warms the file cache; then the order flips each round.
  for (let round = -1; round < rounds; round++) {
    const order = round % 2 === 0 ? [bare, api] : [api, bare]
    for (const variant of order) {
      const measured = yield* sample(variant)
      if (round >= 0) samples.get(variant.name)!.push(measured)
    }
  }
  return { samples, nodeVersion }
})

const { nodeVersion, samples } = await Effect.runPromise(
  program.pipe(Effect.provide(LocalAws.layer()))
)

const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (s.length - 1) * q
  const lo = Math.floor(at)
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo)
}
const ms = (x: number) => x.toFixed(1)
const table = (title: string, key: keyof Sample) => {
  console.log(`\n${title} (ms, ${rounds} rounds: median, p25-p75, min-max, ratio of medians)`)
  const baseline = quantile(samples.get("bare")!.map((s) => s[key]), 0.5)
  for (const v of variants) {
    const xs = samples.get(v.name)!.map((s) => s[key])
    const median = quantile(xs, 0.5)
    console.log(
      `  ${v.name.padEnd(5)} ${ms(median).padStart(7)}  ${ms(quantile(xs, 0.25))}-${ms(quantile(xs, 0.75))}` +
        `  ${ms(Math.min(...xs))}-${ms(Math.max(...xs))}  ${(median / baseline).toFixed(2)}x`
    )
  }
  // Each round's api sample over its bare one: less exposed to the machine's drift than the ratio of medians.
  const paired = samples.get("api")!.map((s, i) => s[key] / samples.get("bare")![i]![key])
  console.log(
    `  api/bare in the same round: median ${quantile(paired, 0.5).toFixed(2)}x, p25-p75 ${
      quantile(paired, 0.25).toFixed(2)
    }-${quantile(paired, 0.75).toFixed(2)}x`
  )
}
console.log(
  `\naws-lambda-ric on Node ${nodeVersion}, one new execution environment per sample, bare and api alternating`
)
table("init: process start to the runtime client's first invocation/next", "initMs")
table("first invocation: that next to the answer (201), PutItem/UpdateItem + SendMessage", "invokeMs")

const ratio = (key: keyof Sample) =>
  quantile(samples.get("api")!.map((s) => s[key]), 0.5) / quantile(samples.get("bare")!.map((s) => s[key]), 0.5)
console.log(`\napi vs bare`)
console.log(
  `  bundle size  ${(api.bytes / bare.bytes).toFixed(2)}x (gzipped ${(api.gzipBytes / bare.gzipBytes).toFixed(2)}x)`
)
console.log(`  init         ${ratio("initMs").toFixed(2)}x (medians)`)
process.exit(0)
