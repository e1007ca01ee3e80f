/**
 * The doctor against the testkit's local stack (dynalite, fauxqs and the SigV4-checking gateway, with a container
 * credentials endpoint), the process pointed at it through the endpoint overrides the SDK reads: a healthy setup,
 * then each way credentials go bad, and a skewed clock. Every scenario also checks that no rendering of the report
 * (table, JSON, logs) shows the secret key, the session token or the full key id.
 */
import { CredentialsAuthority, LocalAws } from "@aws-resilience/testkit"
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, layer } from "@effect/vitest"
import type * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFile } from "node:child_process"
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import * as Doctor from "../src/Doctor.js"
import { main } from "../src/internal/cli.js"
import * as Network from "../src/Network.js"
import { assertNoSecrets, capturingLogs, find, renderings, type Secrets, statuses, withEnv } from "./utils.js"

const Live = Layer.mergeAll(LocalAws.layerWithEnv(), Network.layer, NodeContext.layer)

/** One doctor run with its own logs, and every rendering of its report, checked for the secrets. */
const diagnose = (options: Doctor.Options, secrets: ReadonlyArray<Secrets>) =>
  Effect.gen(function*() {
    const { logs, value: report } = yield* capturingLogs(Doctor.run(options))
    const outputs = { ...(yield* renderings(report)), runLogs: logs.join("\n") }
    for (const secret of secrets) assertNoSecrets(outputs, secret)
    return report
  })

const secretsOf = (set: { accessKeyId: string; secretAccessKey: string; sessionToken: string }): Secrets => ({
  accessKeyId: set.accessKeyId,
  secretAccessKey: set.secretAccessKey,
  sessionToken: set.sessionToken
})

/** The CLI in this process, its console captured. */
const cli = (args: ReadonlyArray<string>, isTTY = false) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const base = yield* Effect.console
    const capture: Console.Console = {
      ...base,
      log: (...parts: ReadonlyArray<unknown>) => Effect.sync(() => void lines.push(parts.map(String).join(" ")))
    }
    const code = yield* main(["node", "aws-resilience", ...args], { isTTY, env: process.env }).pipe(
      Effect.withConsole(capture)
    )
    return { code, output: lines.join("\n") }
  })

const createResources = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const credentials = yield* stack.authority.currentStatic
  const config = { region: stack.region, credentials, maxAttempts: 1 }
  const dynamodb = new DynamoDBClient({ ...config, endpoint: stack.endpoints.dynamodb })
  const sqs = new SQSClient({ ...config, endpoint: stack.endpoints.sqs })
  yield* Effect.promise(() =>
    dynamodb.send(
      new CreateTableCommand({
        TableName: "orders",
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST"
      })
    )
  ).pipe(Effect.ignore)
  const queue = yield* Effect.promise(() => sqs.send(new CreateQueueCommand({ QueueName: "orders" })))
  dynamodb.destroy()
  sqs.destroy()
  return { queueUrl: queue.QueueUrl! }
})

/** A fresh set from the authority, to serve to the SDK as environment variables (as Lambda does). */
const environmentKeys = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const set = CredentialsAuthority.toStatic(yield* stack.authority.rotate())
  return { stack, set }
})

const awsOnPath = (process.env["PATH"] ?? "").split(delimiter).some((dir) => {
  try {
    accessSync(join(dir, "aws"), constants.X_OK)
    return true
  } catch {
    return false
  }
})
if (!awsOnPath) console.warn("aws (the AWS CLI) is not on PATH: the comparison with the AWS CLI is skipped")

const run = (file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    const child = execFile(file, [...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    return Effect.sync(() => child.kill())
  })

layer(Live, { excludeTestServices: true })("doctor against the local stack", (it) => {
  it.effect("a healthy setup: every check passes, probes included, and the CLI exits 0", () =>
    Effect.gen(function*() {
      const { queueUrl } = yield* createResources
      const stack = yield* LocalAws.LocalAws
      const set = yield* stack.authority.currentStatic
      const report = yield* diagnose({ table: "orders", queue: "orders" }, [secretsOf(set)])
      assert.deepStrictEqual(statuses(report), {
        region: "ok",
        credentials: "ok",
        identity: "ok",
        clock: "ok",
        "dns sts": "ok",
        "dns dynamodb": "ok",
        "dns sqs": "ok",
        "reachability sts": "ok",
        "reachability dynamodb": "ok",
        "reachability sqs": "ok",
        "probe DescribeTable orders": "ok",
        "probe GetQueueAttributes orders": "ok"
      })
      assert.strictEqual(report.status, "ok")
      assert.strictEqual(report.region, stack.region)
      assert.strictEqual(report.identity?.account, "000000000000")
      const credentials = find(report, "credentials")
      assert.strictEqual(credentials.evidence["source"], "container")
      assert.strictEqual(credentials.evidence["accessKeyId"], `****${set.accessKeyId.slice(-4)}`)
      assert.strictEqual(credentials.evidence["keyKind"], "temporary (ASIA)")
      assert.strictEqual(find(report, "region").evidence["stsEndpointSource"], "AWS_ENDPOINT_URL_STS")
      assert.strictEqual(find(report, "region").evidence["AWS_ENDPOINT_URL_DYNAMODB"], stack.endpoints.dynamodb)

      const byUrl = yield* diagnose({ queue: queueUrl, only: ["probe"] }, [secretsOf(set)])
      assert.strictEqual(find(byUrl, `probe GetQueueAttributes ${queueUrl}`).status, "ok")

      const json = yield* cli(["doctor", "--json", "--table", "orders"])
      assert.strictEqual(json.code, 0, json.output)
      const parsed = JSON.parse(json.output) as Doctor.Report
      assert.strictEqual(parsed.status, "ok")
      assert.strictEqual(parsed.checks.length, 11)
      const failing = yield* cli(["doctor", "--table", "no-such-table", "--only", "probe"])
      assert.strictEqual(failing.code, 1, failing.output)
      assert.include(failing.output, "ResourceNotFoundException")
      assertNoSecrets({ json: json.output, table: failing.output }, secretsOf(set))
    }))

  it.effect("revoked credentials: identity fails with InvalidClientTokenId and names its likely causes", () =>
    Effect.gen(function*() {
      const { set, stack } = yield* environmentKeys
      yield* withEnv({
        AWS_ACCESS_KEY_ID: set.accessKeyId,
        AWS_SECRET_ACCESS_KEY: set.secretAccessKey,
        AWS_SESSION_TOKEN: set.sessionToken
      })
      yield* stack.authority.revoke(set.accessKeyId)
      const report = yield* diagnose({}, [secretsOf(set)])
      assert.strictEqual(find(report, "credentials").status, "ok")
      assert.strictEqual(find(report, "credentials").evidence["source"], "environment")
      const identity = find(report, "identity")
      assert.strictEqual(identity.status, "fail")
      assert.strictEqual(identity.evidence["code"], "InvalidClientTokenId")
      assert.strictEqual(identity.evidence["reason"], "InvalidClientTokenId")
      assert.match(identity.hints.join(" "), /revoked role session/)
      assert.strictEqual(report.status, "fail")
      assert.strictEqual(Doctor.exitCode(report), 1)
    }).pipe(Effect.scoped))

  it.effect("expired credentials: the credentials check and identity (ExpiredToken) both fail", () =>
    Effect.gen(function*() {
      const { set, stack } = yield* environmentKeys
      yield* stack.authority.expire(set.accessKeyId)
      yield* withEnv({
        AWS_ACCESS_KEY_ID: set.accessKeyId,
        AWS_SECRET_ACCESS_KEY: set.secretAccessKey,
        AWS_SESSION_TOKEN: set.sessionToken,
        AWS_CREDENTIAL_EXPIRATION: new Date(Date.now() - 1_000).toISOString()
      })
      const report = yield* diagnose({}, [secretsOf(set)])
      const credentials = find(report, "credentials")
      assert.strictEqual(credentials.status, "fail")
      assert.match(credentials.summary, /expired .* ago/)
      const identity = find(report, "identity")
      assert.strictEqual(identity.status, "fail")
      assert.strictEqual(identity.evidence["reason"], "ExpiredToken")
    }).pipe(Effect.scoped))

  it.effect("an ASIA key whose session token was dropped: fails before any call, and STS agrees", () =>
    Effect.gen(function*() {
      const { set } = yield* environmentKeys
      yield* withEnv({
        AWS_ACCESS_KEY_ID: set.accessKeyId,
        AWS_SECRET_ACCESS_KEY: set.secretAccessKey,
        AWS_SESSION_TOKEN: undefined
      })
      const report = yield* diagnose({}, [secretsOf(set)])
      const credentials = find(report, "credentials")
      assert.strictEqual(credentials.status, "fail")
      assert.strictEqual(credentials.evidence["sessionToken"], "absent")
      assert.match(credentials.summary, /has no session token/)
      assert.strictEqual(find(report, "identity").evidence["code"], "InvalidClientTokenId")
    }).pipe(Effect.scoped))

  it.effect("AWS_PROFILE beside environment keys: the JS SDK signs with the profile, and the doctor says so", () =>
    Effect.gen(function*() {
      const { set } = yield* environmentKeys
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "doctor-profile-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const profileKey = {
        accessKeyId: "AKIASTALEPROFILE0042",
        secretAccessKey: "stale/profile/secret/key/0123456789abcdefgh"
      }
      writeFileSync(
        join(dir, "credentials"),
        `[stale]\naws_access_key_id = ${profileKey.accessKeyId}\naws_secret_access_key = ${profileKey.secretAccessKey}\n`
      )
      writeFileSync(join(dir, "config"), "")
      yield* withEnv({
        AWS_ACCESS_KEY_ID: set.accessKeyId,
        AWS_SECRET_ACCESS_KEY: set.secretAccessKey,
        AWS_SESSION_TOKEN: set.sessionToken,
        AWS_PROFILE: "stale",
        AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials"),
        AWS_CONFIG_FILE: join(dir, "config")
      })
      const report = yield* diagnose({}, [secretsOf(set), profileKey])
      const credentials = find(report, "credentials")
      assert.strictEqual(credentials.status, "warn")
      assert.strictEqual(credentials.evidence["source"], "profile")
      assert.strictEqual(credentials.evidence["accessKeyId"], "****0042")
      assert.match(credentials.summary, /AWS_PROFILE \(stale\) is set beside AWS_ACCESS_KEY_ID/)
      assert.strictEqual(find(report, "identity").evidence["code"], "InvalidClientTokenId")
    }).pipe(Effect.scoped))

  it.effect("a skewed clock: past a minute warns, past five fails (and STS refuses the signature)", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const set = yield* stack.authority.currentStatic
      yield* Effect.addFinalizer(() => stack.gateway.setClockOffset(0))

      yield* stack.gateway.setClockOffset(10 * 60_000)
      const far = yield* diagnose({ only: ["clock", "identity"] }, [secretsOf(set)])
      const farClock = find(far, "clock")
      assert.strictEqual(farClock.status, "fail")
      assert.match(farClock.summary, /10 min behind AWS's/)
      const identity = find(far, "identity")
      assert.strictEqual(identity.status, "fail")
      assert.strictEqual(identity.evidence["error"], "TransientError")
      assert.match(identity.summary, /Signature expired/)
      assert.match(identity.hints.join(" "), /see clock/)

      yield* stack.gateway.setClockOffset(-2 * 60_000)
      const near = yield* diagnose({ only: ["clock", "identity"] }, [secretsOf(set)])
      assert.strictEqual(find(near, "clock").status, "warn")
      assert.match(find(near, "clock").summary, /2 min ahead of AWS's/)
      assert.strictEqual(find(near, "identity").status, "ok")
      assert.strictEqual(near.status, "warn")
      assert.strictEqual(Doctor.exitCode(near), 0)
    }).pipe(Effect.scoped))

  it.effect("the command line: a table without colour when piped, with colour on a TTY, secrets masked", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const set = yield* stack.authority.currentStatic
      const piped = yield* cli(["doctor", "--verbose"])
      assert.strictEqual(piped.code, 0, piped.output)
      assert.notInclude(piped.output, "\u001b[")
      assert.match(piped.output, /^aws-resilience doctor: ok/)
      assert.include(piped.output, `****${set.accessKeyId.slice(-4)}`)
      const tty = yield* cli(["doctor"], true)
      assert.include(tty.output, "\u001b[")
      const noColour = yield* withEnv({ NO_COLOR: "1" }).pipe(Effect.zipRight(cli(["doctor"], true)), Effect.scoped)
      assert.notInclude(noColour.output, "\u001b[")
      assertNoSecrets({ piped: piped.output, tty: tty.output }, secretsOf(set))
    }))

  it.effect("the bin as a process: exit 0 when healthy, 1 when a check fails, no colour when piped", () =>
    Effect.gen(function*() {
      const stack = yield* LocalAws.LocalAws
      const set = yield* stack.authority.currentStatic
      const bin = join(import.meta.dirname, "..", "src", "bin", "aws-resilience.ts")
      const node = (args: ReadonlyArray<string>) =>
        run(process.execPath, ["--import", "tsx", bin, "doctor", ...args], { ...process.env, FORCE_COLOR: undefined })
      const [healthy, failing] = yield* Effect.all([
        node(["--only", "region", "--only", "identity"]),
        node(["--only", "probe", "--queue", "no-such-queue"])
      ], { concurrency: 2 })
      assert.strictEqual(healthy.code, 0, healthy.stderr)
      assert.match(healthy.stdout, /^aws-resilience doctor: ok/)
      assert.notInclude(healthy.stdout, "\u001b[")
      assert.strictEqual(failing.code, 1, failing.stderr)
      assert.include(failing.stdout, "QueueDoesNotExist")
      assertNoSecrets(
        { healthy: healthy.stdout + healthy.stderr, failing: failing.stdout + failing.stderr },
        secretsOf(set)
      )
    }))

  it.effect.skipIf(!awsOnPath)(
    `identity and region agree with the AWS CLI on the same configuration${
      awsOnPath ? "" : " (skipped: aws is not on PATH)"
    }`,
    () =>
      Effect.gen(function*() {
        const stack = yield* LocalAws.LocalAws
        // The AWS CLI reads AWS_DEFAULT_REGION, the JS SDK AWS_REGION: the same configuration sets both.
        yield* withEnv({ AWS_DEFAULT_REGION: stack.region })
        const report = yield* Doctor.run({ only: ["region", "credentials", "identity"] })
        const env = { ...process.env }
        const [identity, list] = yield* Effect.all([
          run("aws", ["sts", "get-caller-identity", "--output", "json"], env),
          run("aws", ["configure", "list"], env)
        ], { concurrency: 2 })
        assert.strictEqual(identity.code, 0, "aws sts get-caller-identity failed")
        const cli = JSON.parse(identity.stdout) as { Account: string; Arn: string }
        assert.deepStrictEqual(report.identity, { account: cli.Account, arn: cli.Arn })
        assert.strictEqual(list.code, 0, "aws configure list failed")
        const row = (name: string) => list.stdout.split("\n").find((line) => line.trim().startsWith(`${name} `))
        const region = row("region")?.trim().split(/\s+/)[1]
        assert.strictEqual(region, report.region)
        const keyTail = row("access_key")?.trim().split(/\s+/)[1]?.slice(-4)
        assert.strictEqual(`****${keyTail}`, find(report, "credentials").evidence["accessKeyId"])
      }).pipe(Effect.scoped)
  )
})
