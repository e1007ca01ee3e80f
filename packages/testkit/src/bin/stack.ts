#!/usr/bin/env node
/**
 * Starts the local AWS stack and keeps it up until Ctrl-C: `pnpm stack`.
 *
 * @since 0.1.0
 */
import { Credentials } from "@aws-resilience/core"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LocalAws from "../LocalAws.js"

const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`

const announce = Effect.gen(function*() {
  const stack = yield* LocalAws.LocalAws
  const current = yield* stack.authority.current
  yield* Console.log(`Local AWS stack (${stack.region})`)
  yield* Console.log(`  gateway (dynamodb, sqs, sts): ${stack.endpoints.dynamodb}`)
  yield* Console.log(`  credentials endpoint:         ${stack.endpoints.credentials}`)
  yield* Console.log(`  dynalite (direct):            ${stack.directEndpoints.dynamodb}`)
  yield* Console.log(`  fauxqs (direct):              ${stack.directEndpoints.sqs}`)
  yield* Console.log(`  current access key id:        ${Credentials.maskAccessKeyId(current.accessKeyId)}`)
  yield* Console.log(`  expires:                      ${current.expiration.toISOString()}`)
  yield* Console.log("\n# Paste into a shell (the token is a local development token):")
  for (const [name, value] of Object.entries(stack.env)) {
    yield* Console.log(`export ${name}=${quote(value)}`)
  }
  yield* Console.log("\nPress Ctrl-C to stop.")
})

Layer.launch(Layer.effectDiscard(announce).pipe(Layer.provideMerge(LocalAws.layer()))).pipe(NodeRuntime.runMain)
