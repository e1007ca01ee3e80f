#!/usr/bin/env node
/**
 * The `aws-resilience` command: `aws-resilience doctor [--json] [--region R] [--table T] [--queue Q]`.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { main } from "../internal/cli.js"
import * as Network from "../Network.js"

const program: Effect.Effect<number> = main(process.argv, { isTTY: process.stdout.isTTY === true, env: process.env })
  .pipe(Effect.provide(NodeContext.layer), Effect.provide(Network.layer))

NodeRuntime.runMain(program, {
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) && typeof exit.value === "number" ? exit.value : 1)
})
