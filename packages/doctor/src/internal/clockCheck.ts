/**
 * The clock check: AWS's clock, from the `Date` header of an unsigned request to the STS endpoint, against the
 * local one. AWS refuses a signature more than 5 minutes off its clock; past a minute is worth a warning.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Check } from "../Doctor.js"
import * as Network from "../Network.js"
import type { Resolved } from "./endpoints.js"
import { check, formatDuration, isoOf } from "./environment.js"

const warnAfter = 60_000
const failAfter = 5 * 60_000

export const clockCheck = (sts: Resolved, timeout: Duration.Duration): Effect.Effect<Check, never, Network.Http> => {
  if (sts._tag === "Unresolved") {
    return Effect.succeed(check({
      kind: "clock",
      name: "clock",
      status: "warn",
      summary: "not checked: there is no STS endpoint to read AWS's clock from (see region)"
    }))
  }
  const url = sts.endpoint.url
  return Effect.gen(function*() {
    const http = yield* Network.Http
    const sent = yield* Clock.currentTimeMillis
    const answer = yield* http.get(`${url}/`, timeout).pipe(
      Effect.timeoutFail({
        duration: Duration.sum(timeout, Duration.millis(500)),
        onTimeout: () =>
          new Network.ConnectError({
            host: sts.endpoint.host,
            port: sts.endpoint.port,
            phase: "http",
            kind: "timeout",
            code: "ETIMEDOUT"
          })
      }),
      Effect.either
    )
    const received = yield* Clock.currentTimeMillis
    if (answer._tag === "Left") {
      return check({
        kind: "clock",
        name: "clock",
        status: "warn",
        summary: `not checked: ${answer.left.message}`,
        evidence: { endpoint: url },
        hints: ["the STS endpoint did not answer: see reachability sts"]
      })
    }
    const date = answer.right.date === undefined ? Number.NaN : Date.parse(answer.right.date)
    if (Number.isNaN(date)) {
      return check({
        kind: "clock",
        name: "clock",
        status: "warn",
        summary: "not checked: the answer had no Date header",
        evidence: { endpoint: url, httpStatus: answer.right.status },
        hints: ["a proxy between here and AWS may strip it"]
      })
    }
    // `Date` has whole seconds: the server's clock was somewhere in [date, date + 1 s) while we waited.
    const local = (sent + received) / 2
    const offset = date + 500 - local
    const uncertainty = Math.round((received - sent) / 2 + 500)
    const abs = Math.abs(offset)
    const direction = offset > 0 ? "behind" : "ahead of"
    const evidence = {
      endpoint: url,
      serverDate: answer.right.date,
      localTime: isoOf(local),
      offsetMs: Math.round(offset),
      uncertaintyMs: uncertainty
    }
    if (abs - uncertainty > failAfter) {
      return check({
        kind: "clock",
        name: "clock",
        status: "fail",
        summary: `the local clock is ${
          formatDuration(abs)
        } ${direction} AWS's: AWS refuses signatures more than 5 min off`,
        evidence,
        hints: [
          "synchronise the clock (chrony or systemd-timesyncd against 169.254.169.123, the Amazon Time Sync Service, " +
          "on EC2; the host's clock for a container)",
          "the JS SDK v3 corrects its offset from the refusal and retries (one refused call per new client); " +
          "other tools and presigned URLs may not"
        ]
      })
    }
    if (abs - uncertainty > warnAfter) {
      return check({
        kind: "clock",
        name: "clock",
        status: "warn",
        summary: `the local clock is ${formatDuration(abs)} ${direction} AWS's`,
        evidence,
        hints: [
          "past 5 minutes AWS refuses signatures (SignatureDoesNotMatch 'Signature expired', InvalidSignatureException), " +
          "and expiry of temporary credentials is judged early or late: synchronise the clock"
        ]
      })
    }
    return check({
      kind: "clock",
      name: "clock",
      status: "ok",
      summary: `within ${formatDuration(Math.max(abs, uncertainty))} of AWS's clock`,
      evidence
    })
  })
}
