/** The report as a terminal table, with or without ANSI colours. */
import * as Ansi from "@effect/printer-ansi/Ansi"
import * as AnsiDoc from "@effect/printer-ansi/AnsiDoc"
import * as Doc from "@effect/printer/Doc"
import type { Check, Report, Status } from "../Doctor.js"
import { formatDuration } from "./environment.js"

// Text from servers and the environment must not drive the terminal.
const clean = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ")

const label: Record<Status, string> = { ok: "ok", warn: "warn", fail: "FAIL" }
const tone: Record<Status, Ansi.Ansi> = {
  ok: Ansi.green,
  warn: Ansi.yellow,
  fail: Ansi.combine(Ansi.red, Ansi.bold)
}

const text = (value: string): Doc.Doc<Ansi.Ansi> => Doc.text(clean(value))
const styled = (value: string, ansi: Ansi.Ansi): Doc.Doc<Ansi.Ansi> => Doc.annotate(text(value), ansi)
const pad = (value: string, width: number): string => value.padEnd(width)

const nameWidth = (checks: ReadonlyArray<Check>): number => Math.max(12, ...checks.map((c) => c.name.length)) + 2

const rows = (check: Check, width: number, verbose: boolean): ReadonlyArray<Doc.Doc<Ansi.Ansi>> => {
  const head = Doc.hcat([
    styled(pad(label[check.status], 6), tone[check.status]),
    styled(pad(check.name, width), Ansi.bold),
    text(check.summary)
  ])
  const indent = " ".repeat(6 + width)
  const details = check.status === "ok" && !verbose
    ? []
    : Object.entries(check.evidence).map(([key, value]) =>
      Doc.hcat([text(indent), styled(`${key}: `, Ansi.blackBright), text(String(value))])
    )
  const hints = check.hints.map((hint) => Doc.hcat([text(indent), styled("→ ", Ansi.cyan), text(hint)]))
  return [head, ...details, ...hints]
}

const counts = (report: Report): string => {
  const failed = report.checks.filter((c) => c.status === "fail").length
  const warned = report.checks.filter((c) => c.status === "warn").length
  const parts = [
    `${report.checks.length} checks`,
    ...(failed > 0 ? [`${failed} failed`] : []),
    ...(warned > 0 ? [`${warned} warning${warned === 1 ? "" : "s"}`] : [])
  ]
  return parts.join(", ")
}

export const table = (report: Report, colour: boolean, verbose: boolean): string => {
  const width = nameWidth(report.checks)
  const title = Doc.hcat([
    styled("aws-resilience doctor: ", Ansi.bold),
    styled(label[report.status], tone[report.status]),
    text(
      ` (${counts(report)}) · region ${report.region ?? "none"}` +
        (report.identity ? ` · ${report.identity.arn}` : "") + ` · ${formatDuration(report.durationMs)}`
    )
  ])
  const doc = Doc.vsep([title, Doc.empty, ...report.checks.flatMap((check) => rows(check, width, verbose))])
  const config = { style: "pretty", options: { lineWidth: 10_000 } } as const
  return colour ? AnsiDoc.render(doc, config) : Doc.render(Doc.unAnnotate(doc), config)
}
