/**
 * DNS and reachability through replaced `Dns` and `Tcp` services: private, public and NXDOMAIN answers, a resolver
 * that never answers, closed and hanging ports. Then the live services against this machine.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as Net from "node:net"
import * as Doctor from "../src/Doctor.js"
import * as Network from "../src/Network.js"
import { cleanEnv, find, withEnv } from "./utils.js"

type Answers = Readonly<Record<string, ReadonlyArray<string> | Network.DnsFailure | "hang">>
type Ports = Readonly<Record<string, "open" | Network.ConnectFailure | "hang">>

interface Fake {
  readonly layer: Layer.Layer<Network.Network>
  /** Resolves once every service was asked (lookups and connects). */
  readonly asked: Effect.Effect<void>
}

const fake = (answers: Answers, ports: Ports, expected: number): Effect.Effect<Fake> =>
  Effect.gen(function*() {
    let count = 0
    const all = yield* Deferred.make<void>()
    const seen = Effect.suspend(() => ++count === expected ? Deferred.succeed(all, undefined) : Effect.void)
    const dns: Network.Dns.Service = {
      lookup: (hostname) =>
        Effect.zipRight(
          seen,
          Effect.suspend(() => {
            const answer = answers[hostname] ?? "notFound"
            if (answer === "hang") return Effect.never
            if (typeof answer === "string") {
              return Effect.fail(
                new Network.DnsError({
                  hostname,
                  kind: answer,
                  code: answer === "notFound" ? "ENOTFOUND" : "EAI_AGAIN"
                })
              )
            }
            return Effect.succeed(
              answer.map((address) => ({ address, family: Net.isIP(address) === 6 ? 6 as const : 4 as const }))
            )
          })
        )
    }
    const tcp: Network.Tcp.Service = {
      connect: ({ host, port, tls }) =>
        Effect.zipRight(
          seen,
          Effect.suspend(() => {
            const state = ports[host] ?? "refused"
            if (state === "hang") return Effect.never
            if (state === "open") {
              return Effect.succeed({
                remoteAddress: "10.0.0.1",
                connectMs: 3,
                tlsMs: tls ? 7 : undefined,
                tlsProtocol: tls ? "TLSv1.3" : undefined
              })
            }
            return Effect.fail(new Network.ConnectError({ host, port, phase: "tcp", kind: state, code: `E_${state}` }))
          })
        )
    }
    const http: Network.Http.Service = { get: () => Effect.die("not used") }
    return {
      layer: Layer.mergeAll(
        Layer.succeed(Network.Dns, dns),
        Layer.succeed(Network.Tcp, tcp),
        Layer.succeed(Network.Http, http)
      ),
      asked: Deferred.await(all)
    }
  })

const sts = "sts.eu-west-1.amazonaws.com"
const dynamodb = "dynamodb.eu-west-1.amazonaws.com"
const sqs = "sqs.eu-west-1.amazonaws.com"

/**
 * The network checks for eu-west-1 against the fake; once it was asked `expected` times (3 lookups and 3 connects
 * unless an endpoint is an address), the clock moves past the timeout.
 */
const diagnose = (answers: Answers, ports: Ports, env: Record<string, string | undefined> = {}, expected = 6) =>
  Effect.gen(function*() {
    yield* withEnv({ ...cleanEnv, ...env })
    const network = yield* fake(answers, ports, expected)
    const fiber = yield* Doctor.run({ region: "eu-west-1", only: ["dns", "reachability"], timeout: "3 seconds" }).pipe(
      Effect.provide(network.layer),
      Effect.fork
    )
    yield* network.asked
    yield* TestClock.adjust("4 seconds")
    return yield* Fiber.join(fiber)
  }).pipe(Effect.scoped)

const open: Ports = { [sts]: "open", [dynamodb]: "open", [sqs]: "open" }

describe("DNS and reachability", () => {
  it.effect("private answers mean an interface endpoint with private DNS; DynamoDB's public ones are expected", () =>
    Effect.gen(function*() {
      const report = yield* diagnose({
        [sts]: ["10.0.12.34", "10.0.44.5"],
        [dynamodb]: ["52.119.240.10"],
        [sqs]: ["fd00:ec2::23"]
      }, open)
      const stsDns = find(report, "dns sts")
      assert.strictEqual(stsDns.status, "ok")
      assert.match(stsDns.summary, /interface VPC endpoint with private DNS/)
      assert.strictEqual(stsDns.evidence["addresses"], "10.0.12.34, 10.0.44.5")
      assert.strictEqual(find(report, "dns sqs").evidence["path"], "interface VPC endpoint")
      const ddb = find(report, "dns dynamodb")
      assert.strictEqual(ddb.status, "ok")
      assert.match(ddb.summary, /as expected: a DynamoDB gateway endpoint/)
      assert.strictEqual(find(report, "reachability sts").evidence["via"], "TCP and TLS")
      assert.strictEqual(find(report, "reachability sts").evidence["port"], 443)
      assert.strictEqual(report.status, "ok")
    }))

  it.effect("public STS addresses inside Lambda point at the interface endpoint or a NAT gateway", () =>
    Effect.gen(function*() {
      const report = yield* diagnose(
        { [sts]: ["52.94.0.1"], [dynamodb]: ["52.119.240.10"], [sqs]: ["52.46.0.1"] },
        open,
        { AWS_LAMBDA_FUNCTION_NAME: "orders" }
      )
      const stsDns = find(report, "dns sts")
      assert.strictEqual(stsDns.status, "ok")
      assert.match(
        stsDns.hints.join(" "),
        /interface endpoint for sts with private DNS enabled, or route through a NAT/
      )
      assert.deepStrictEqual(find(report, "dns dynamodb").hints.length, 1)
    }))

  it.effect("NXDOMAIN and a silent resolver fail with a hint about the VPC's DNS attributes", () =>
    Effect.gen(function*() {
      const report = yield* diagnose({ [sts]: "notFound", [dynamodb]: "hang", [sqs]: "timeout" }, open)
      const nx = find(report, "dns sts")
      assert.strictEqual(nx.status, "fail")
      assert.match(nx.summary, /NXDOMAIN/)
      assert.match(nx.hints.join(" "), /enableDnsSupport/)
      const hung = find(report, "dns dynamodb")
      assert.strictEqual(hung.status, "fail")
      assert.match(hung.summary, /no answer from the resolver/)
      assert.match(hung.hints.join(" "), /enableDnsSupport/)
      assert.strictEqual(find(report, "dns sqs").evidence["code"], "EAI_AGAIN")
      assert.strictEqual(Doctor.exitCode(report), 1)
    }))

  it.effect("a closed port is refused; a hanging one times out and points at security groups, ACLs and routes", () =>
    Effect.gen(function*() {
      const report = yield* diagnose(
        { [sts]: ["10.0.12.34"], [dynamodb]: ["52.119.240.10"], [sqs]: ["10.0.3.3"] },
        { [sts]: "hang", [dynamodb]: "hang", [sqs]: "refused" }
      )
      const hung = find(report, "reachability sts")
      assert.strictEqual(hung.status, "fail")
      assert.match(hung.summary, /no answer within 3s/)
      assert.match(hung.hints.join(" "), /security group/)
      assert.match(hung.hints.join(" "), /network ACLs/)
      assert.match(hung.hints.join(" "), /interface endpoint for sts .* NAT/)
      assert.match(find(report, "reachability dynamodb").hints.join(" "), /gateway endpoint must be associated/)
      const refused = find(report, "reachability sqs")
      assert.strictEqual(refused.status, "fail")
      assert.match(refused.summary, /connection refused/)
      assert.strictEqual(find(report, "dns sts").status, "ok")
    }))

  it.effect("overrides are what is checked: a local stack on 127.0.0.1 is healthy, over plain TCP on its port", () =>
    Effect.gen(function*() {
      const report = yield* diagnose({}, { "127.0.0.1": "open", "localstack.internal": "open" }, {
        AWS_ENDPOINT_URL: "http://127.0.0.1:4566",
        AWS_ENDPOINT_URL_SQS: "http://localstack.internal:4566"
      }, 4)
      assert.strictEqual(find(report, "dns sts").status, "ok")
      assert.match(find(report, "dns sts").summary, /local endpoint/)
      assert.strictEqual(find(report, "dns sts").evidence["source"], "AWS_ENDPOINT_URL")
      const reach = find(report, "reachability dynamodb")
      assert.strictEqual(reach.evidence["port"], 4566)
      assert.strictEqual(reach.evidence["via"], "TCP (plain http endpoint)")
      // The fake has no answer for the override's hostname: the hint names the variable to check.
      const sqsDns = find(report, "dns sqs")
      assert.strictEqual(sqsDns.status, "fail")
      assert.match(sqsDns.hints.join(" "), /AWS_ENDPOINT_URL_SQS/)
    }))
})

describe("the live network services", () => {
  it.live("a closed port is refused, a listening one answers", () =>
    Effect.gen(function*() {
      const server = Net.createServer((socket) => socket.end())
      const port = yield* Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
      })
      const reached = yield* Network.tcpLive.connect({ host: "127.0.0.1", port, tls: false, timeout: "2 seconds" })
      assert.strictEqual(reached.remoteAddress, "127.0.0.1")
      yield* Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      const refused = yield* Effect.flip(
        Network.tcpLive.connect({ host: "127.0.0.1", port, tls: false, timeout: "2 seconds" })
      )
      assert.strictEqual(refused.kind, "refused")
      assert.strictEqual(refused.phase, "tcp")
    }))

  it.live("a TLS handshake with a server that never answers it times out in the tls phase", () =>
    Effect.gen(function*() {
      const server = Net.createServer(() => {})
      const port = yield* Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
      })
      const error = yield* Effect.flip(
        Network.tcpLive.connect({ host: "127.0.0.1", port, tls: true, timeout: "300 millis" })
      )
      server.close()
      assert.strictEqual(error.kind, "timeout")
      assert.strictEqual(error.phase, "tls")
    }))

  it.live("a name under .invalid does not resolve", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Network.dnsLive.lookup("no-such-host.invalid"))
      assert.include(["notFound", "timeout"], error.kind)
    }))
})
