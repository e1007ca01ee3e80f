import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Doctor from "../src/Doctor.js"

/** Sets (or, with `undefined`, unsets) variables for the scope; the previous values come back when it closes. */
export const withEnv = (vars: Readonly<Record<string, string | undefined>>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const saved: Record<string, string | undefined> = {}
      for (const [key, value] of Object.entries(vars)) {
        saved[key] = process.env[key]
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
      return saved
    }),
    (saved) =>
      Effect.sync(() => {
        for (const [key, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[key]
          else process.env[key] = value
        }
      })
  )

/** Every variable that can change what the SDK or the doctor sees, unset. */
export const cleanEnv: Readonly<Record<string, undefined>> = Object.fromEntries(
  Object.keys(process.env)
    .filter((key) => key.startsWith("AWS_") && key !== "AWS_EC2_METADATA_DISABLED")
    .map((key) => [key, undefined])
)

export interface Captured<A> {
  readonly value: A
  /** Every log line, with its annotations. */
  readonly logs: ReadonlyArray<string>
}

/** Runs `effect` with every log line (debug included) captured. */
export const capturingLogs = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Captured<A>, E, R> =>
  Effect.suspend(() => {
    const logs: Array<string> = []
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      logs.push(`${logLevel.label} ${JSON.stringify(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
    })
    return effect.pipe(
      Effect.map((value) => ({ value, logs })),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  })

export interface Secrets {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string | undefined
}

/** Fails naming the output, never quoting the secret, when any text holds one of the secrets. */
export const assertNoSecrets = (outputs: Readonly<Record<string, string>>, secrets: Secrets): void => {
  for (const [name, text] of Object.entries(outputs)) {
    assert.isFalse(text.includes(secrets.accessKeyId), `${name} shows the full access key id`)
    assert.isFalse(text.includes(secrets.secretAccessKey), `${name} shows the secret access key`)
    if (secrets.sessionToken !== undefined) {
      assert.isFalse(text.includes(secrets.sessionToken), `${name} shows the session token`)
    }
  }
}

/** The report rendered every way it can be shown: table with and without colour, JSON, and `Doctor.log`. */
export const renderings = (report: Doctor.Report): Effect.Effect<Record<string, string>> =>
  Effect.map(capturingLogs(Doctor.log(report)), ({ logs }) => ({
    table: Doctor.formatTable(report, { colour: false, verbose: true }),
    colourTable: Doctor.formatTable(report, { colour: true, verbose: true }),
    json: Doctor.formatJson(report),
    logs: logs.join("\n")
  }))

export const find = (report: Doctor.Report, name: string): Doctor.Check => {
  const check = report.checks.find((c) => c.name === name)
  assert.isDefined(check, `the report has a check ${name}: ${report.checks.map((c) => c.name).join(", ")}`)
  return check!
}

export const statuses = (report: Doctor.Report): Record<string, Doctor.Status> =>
  Object.fromEntries(report.checks.map((c) => [c.name, c.status]))
