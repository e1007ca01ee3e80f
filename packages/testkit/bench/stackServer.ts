/**
 * The local stack in a process of its own, for the benchmarks (`bench/lib/stackProcess.mjs` spawns it): the client
 * under test then shares no event loop with dynalite, fauxqs and the gateway. It prints one line
 * `@stack {"ready": ...}` with its region, endpoints and environment, then takes commands on stdin, one JSON line
 * each (`{"id": 1, "cmd": "revoke"}`), and answers `@stack {"id": 1, "at": <epoch ms>, "result": ...}`. `at` is
 * when the command took effect, on the clock both processes share (`performance.timeOrigin + performance.now()`).
 * It stops when stdin closes (its parent is gone) or on SIGTERM.
 *
 * Commands: `credentials` (the current set, plain), `revoke`, `expire`, `rotate`, `fetchCount` (how many times the
 * credentials endpoint was asked), `stats` and `resetStats` (the gateway's), `ping`.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Runtime from "effect/Runtime"
import { createInterface } from "node:readline"
import * as CredentialsAuthority from "../src/CredentialsAuthority.js"
import * as LocalAws from "../src/LocalAws.js"

const emit = (message: unknown) => process.stdout.write(`@stack ${JSON.stringify(message)}\n`)
const now = () => performance.timeOrigin + performance.now()

const commands = (stack: LocalAws.Service): Record<string, Effect.Effect<unknown>> => ({
  ping: Effect.void,
  credentials: Effect.map(stack.authority.current, CredentialsAuthority.toStatic),
  revoke: stack.authority.revoke(),
  expire: stack.authority.expire(),
  rotate: Effect.map(stack.authority.rotate(), (set) => ({ accessKeyId: set.accessKeyId })),
  fetchCount: stack.authority.fetchCount,
  stats: stack.gateway.stats,
  resetStats: stack.gateway.resetStats
})

const program = Effect.gen(function*() {
  const stack = yield* LocalAws.make()
  const table = commands(stack)
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  emit({
    ready: {
      pid: process.pid,
      region: stack.region,
      endpoints: stack.endpoints,
      directEndpoints: stack.directEndpoints,
      env: stack.env
    }
  })
  const handle = (line: string) => {
    let request: { readonly id: number; readonly cmd: string }
    try {
      request = JSON.parse(line)
    } catch {
      return
    }
    const command = table[request.cmd]
    if (command === undefined) return emit({ id: request.id, error: `unknown command ${request.cmd}` })
    runFork(Effect.map(command, (result) => emit({ id: request.id, at: now(), result })))
  }
  yield* Effect.async<void>((resume) => {
    const lines = createInterface({ input: process.stdin })
    lines.on("line", handle)
    lines.once("close", () => resume(Effect.void))
  })
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

NodeRuntime.runMain(program)
