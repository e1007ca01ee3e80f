/**
 * The local stack in a process of its own, for the benchmarks (`bench/lib/stackProcess.mjs` spawns it): the client
 * under test then shares no event loop with dynalite, fauxqs and the gateway. It prints one line
 * `@stack {"ready": ...}` with its region, endpoints and environment, then takes commands on stdin, one JSON line
 * each (`{"id": 1, "cmd": "revoke"}`), and answers `@stack {"id": 1, "at": <epoch ms>, "result": ...}`. `at` is
 * when the command took effect, on the clock both processes share (`performance.timeOrigin + performance.now()`).
 * It stops when stdin closes (its parent is gone) or on SIGTERM.
 *
 * Commands: `credentials` (the current set, plain), `revoke`, `expire`, `rotate`, `fetchCount` (how many times the
 * credentials endpoint was asked), `lagStats` (the authority's), `stats` and `resetStats` (the gateway's), `ping`.
 * A command may take a JSON argument after a space: `revoke {"lagMs": 1000}` and `expire {"lagMs": 1000}` lag the
 * source by that much (the endpoint serves the revoked set that long before it issues a new one).
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

interface Argument {
  readonly lagMs?: number
}

const lagOf = (argument: Argument): CredentialsAuthority.RevokeOptions =>
  typeof argument.lagMs === "number" ? { lag: argument.lagMs } : {}

const commands = (stack: LocalAws.Service): Record<string, (argument: Argument) => Effect.Effect<unknown>> => ({
  ping: () => Effect.void,
  credentials: () => Effect.map(stack.authority.current, CredentialsAuthority.toStatic),
  revoke: (argument) => stack.authority.revoke(lagOf(argument)),
  expire: (argument) => stack.authority.expire(lagOf(argument)),
  rotate: () => Effect.map(stack.authority.rotate(), (set) => ({ accessKeyId: set.accessKeyId })),
  fetchCount: () => stack.authority.fetchCount,
  lagStats: () => stack.authority.lagStats,
  stats: () => stack.gateway.stats,
  resetStats: () => stack.gateway.resetStats
})

// `name` or `name {json}`.
const parseCommand = (cmd: string): { readonly name: string; readonly argument: Argument } | undefined => {
  const space = cmd.indexOf(" ")
  if (space < 0) return { name: cmd, argument: {} }
  try {
    const argument: unknown = JSON.parse(cmd.slice(space + 1))
    return typeof argument === "object" && argument !== null
      ? { name: cmd.slice(0, space), argument: argument as Argument }
      : undefined
  } catch {
    return undefined
  }
}

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
    const parsed = parseCommand(request.cmd)
    const command = parsed === undefined ? undefined : table[parsed.name]
    if (command === undefined) return emit({ id: request.id, error: `unknown command ${request.cmd}` })
    runFork(Effect.map(command(parsed!.argument), (result) => emit({ id: request.id, at: now(), result })))
  }
  yield* Effect.async<void>((resume) => {
    const lines = createInterface({ input: process.stdin })
    lines.on("line", handle)
    lines.once("close", () => resume(Effect.void))
  })
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

NodeRuntime.runMain(program)
