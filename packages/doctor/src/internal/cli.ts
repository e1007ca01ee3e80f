/**
 * `aws-resilience doctor`: the checks of `Doctor.run` from a shell. A table on a terminal (coloured on a TTY unless
 * `NO_COLOR` is set), `--json` for machines; exit code 1 when any check fails, 2 for a usage error.
 */
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Doctor from "../Doctor.js"
import type * as Network from "../Network.js"

export const version = "0.1.0"

class ChecksFailed extends Data.TaggedError("ChecksFailed") {}

export interface Terminal {
  /** Whether standard output is a terminal. */
  readonly isTTY: boolean
  readonly env: Readonly<Record<string, string | undefined>>
}

const colourOf = (choice: "auto" | "always" | "never", terminal: Terminal): boolean =>
  choice === "always" ||
  (choice === "auto" && terminal.isTTY && (terminal.env["NO_COLOR"] ?? "") === "" && terminal.env["TERM"] !== "dumb")

const options = {
  json: Options.boolean("json").pipe(Options.withDescription("Print the report as JSON.")),
  region: Options.text("region").pipe(
    Options.withDescription("The region to check (default: AWS_REGION, AWS_DEFAULT_REGION, the shared config file)."),
    Options.optional
  ),
  table: Options.text("table").pipe(
    Options.withDescription("A DynamoDB table to probe with DescribeTable."),
    Options.optional
  ),
  queue: Options.text("queue").pipe(
    Options.withDescription("An SQS queue (URL or name) to probe with GetQueueAttributes."),
    Options.optional
  ),
  timeout: Options.float("timeout").pipe(
    Options.withDescription("Seconds to wait for each lookup, connect and request."),
    Options.withDefault(5)
  ),
  only: Options.choice("only", Doctor.kinds).pipe(
    Options.withDescription("Run only this kind of check (repeatable)."),
    Options.repeated
  ),
  color: Options.choice("color", ["auto", "always", "never"]).pipe(
    Options.withDescription("Colour the table: auto (on a terminal), always or never."),
    Options.withDefault("auto" as const)
  ),
  verbose: Options.boolean("verbose").pipe(Options.withDescription("Show the evidence of passing checks too."))
}

const doctor = (terminal: Terminal) =>
  Command.make("doctor", options, (args) =>
    Effect.gen(function*() {
      const report = yield* Doctor.run({
        region: Option.getOrUndefined(args.region),
        table: Option.getOrUndefined(args.table),
        queue: Option.getOrUndefined(args.queue),
        timeout: `${Math.max(0.1, args.timeout) * 1000} millis`,
        only: args.only.length > 0 ? args.only : undefined
      })
      yield* Console.log(
        args.json
          ? Doctor.formatJson(report)
          : Doctor.formatTable(report, { colour: colourOf(args.color, terminal), verbose: args.verbose })
      )
      if (Doctor.exitCode(report) !== 0) return yield* new ChecksFailed()
    })).pipe(
      Command.withDescription(
        "Say why AWS calls are rejected: region, credentials, identity, clock, DNS, reachability."
      )
    )

const root = Command.make("aws-resilience")

/** The command line's result as an exit code: 0 healthy (warnings allowed), 1 a check failed, 2 bad usage. */
export const main = (
  argv: ReadonlyArray<string>,
  terminal: Terminal
): Effect.Effect<0 | 1 | 2, never, CliApp.CliApp.Environment | Network.Network> =>
  Command.run(root.pipe(Command.withSubcommands([doctor(terminal)])), {
    name: "aws-resilience",
    version
  })(argv).pipe(
    Effect.as(0 as const),
    Effect.catchAll((error) =>
      Effect.succeed(
        ValidationError.isValidationError(error)
          ? ValidationError.isHelpRequested(error) ? 0 as const : 2 as const
          : 1 as const
      )
    )
  )
