/**
 * DNS and reachability of the endpoints the SDK will really use: the overrides when set (a local stack on
 * 127.0.0.1 is then healthy), else the regional hostnames.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import type { Check } from "../Doctor.js"
import * as Network from "../Network.js"
import { type AddressClass, classify } from "./addresses.js"
import type { Endpoint, Resolved, ServiceName } from "./endpoints.js"
import { check, type Env, inLambda } from "./environment.js"

const vpcDnsHint = "inside a VPC, enableDnsSupport must be on (and enableDnsHostnames, for an interface endpoint's " +
  "private DNS); a custom DHCP option set must name resolvers that answer for amazonaws.com (AmazonProvidedDNS, or " +
  "a Route 53 Resolver rule that forwards to it)"

const unresolved = (kind: "dns" | "reachability", service: ServiceName, problem: string): Check =>
  check({
    kind,
    name: `${kind} ${service}`,
    status: "fail",
    summary: `not checked: ${problem}`,
    hints: ["see region"]
  })

const counts = (classes: ReadonlyArray<AddressClass>): Record<AddressClass, number> => {
  const result: Record<AddressClass, number> = { loopback: 0, private: 0, linkLocal: 0, public: 0 }
  for (const c of classes) result[c]++
  return result
}

const answerCheck = (endpoint: Endpoint, addresses: ReadonlyArray<Network.Address>, env: Env): Check => {
  const service = endpoint.service
  const name = `dns ${service}`
  const list = addresses.map((a) => a.address).join(", ")
  const evidence = { host: endpoint.host, source: endpoint.source, addresses: list }
  const classes = counts(addresses.map((a) => classify(a.address)))
  const total = addresses.length
  if (total === 0) {
    return check({
      kind: "dns",
      name,
      status: "fail",
      summary: `${endpoint.host} resolved to no address`,
      evidence,
      hints: [vpcDnsHint]
    })
  }
  if (classes.loopback === total) {
    return endpoint.override
      ? check({ kind: "dns", name, status: "ok", summary: `${endpoint.host}: loopback (a local endpoint)`, evidence })
      : check({
        kind: "dns",
        name,
        status: "warn",
        summary: `${endpoint.host} resolves to loopback (${list})`,
        evidence,
        hints: ["an AWS hostname pointed at this machine: look for an /etc/hosts entry or a local DNS override"]
      })
  }
  if (classes.private + classes.linkLocal === total) {
    return check({
      kind: "dns",
      name,
      status: "ok",
      summary: endpoint.override
        ? `${endpoint.host}: private addresses (${list})`
        : `${endpoint.host}: private addresses (${list}): an interface VPC endpoint with private DNS`,
      evidence: { ...evidence, path: endpoint.override ? "private network" : "interface VPC endpoint" }
    })
  }
  if (classes.public === total) {
    if (endpoint.override) {
      return check({ kind: "dns", name, status: "ok", summary: `${endpoint.host}: ${list}`, evidence })
    }
    const dynamodb = service === "dynamodb"
    return check({
      kind: "dns",
      name,
      status: "ok",
      summary: dynamodb
        ? `${endpoint.host}: public addresses (${list}), as expected: a DynamoDB gateway endpoint routes them`
        : `${endpoint.host}: public addresses (${list}): no interface endpoint answers for it`,
      evidence: {
        ...evidence,
        path: dynamodb ? "public (gateway endpoint or NAT)" : "public (NAT or internet gateway)"
      },
      hints: dynamodb
        ? ["a gateway endpoint works through the route tables of the subnets (its prefix list), not through DNS"]
        : inLambda(env)
        ? [
          `if this function is in a VPC: without a NAT gateway these addresses are unreachable. Create an interface ` +
          `endpoint for ${service} with private DNS enabled, or route through a NAT gateway`
        ]
        : []
    })
  }
  return check({
    kind: "dns",
    name,
    status: "warn",
    summary: `${endpoint.host}: both private and public addresses (${list})`,
    evidence,
    hints: ["a resolver mixes answers: two DNS views (a private hosted zone and public DNS) overlap"]
  })
}

export const dnsCheck = (
  resolved: Resolved,
  service: ServiceName,
  env: Env,
  timeout: Duration.Duration
): Effect.Effect<Check, never, Network.Dns> => {
  if (resolved._tag === "Unresolved") return Effect.succeed(unresolved("dns", service, resolved.problem))
  const endpoint = resolved.endpoint
  const name = `dns ${service}`
  if (Net.isIP(endpoint.host) !== 0) {
    const local = classify(endpoint.host) === "loopback"
    return Effect.succeed(check({
      kind: "dns",
      name,
      status: "ok",
      summary: `${endpoint.host} is an address, no lookup${local ? " (a local endpoint)" : ""}`,
      evidence: { host: endpoint.host, source: endpoint.source }
    }))
  }
  return Effect.flatMap(Network.Dns, (dns) =>
    dns.lookup(endpoint.host).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new Network.DnsError({ hostname: endpoint.host, kind: "timeout", code: "ETIMEOUT" })
      }),
      Effect.map((addresses) => answerCheck(endpoint, addresses, env)),
      Effect.catchAll((error) =>
        Effect.succeed(check({
          kind: "dns",
          name,
          status: "fail",
          summary: error.message,
          evidence: { host: endpoint.host, source: endpoint.source, code: error.code },
          hints: error.kind === "notFound"
            ? endpoint.override
              ? [`the override's hostname does not exist: check ${endpoint.source}`]
              : [vpcDnsHint, "check the region's spelling (see region)"]
            : [
              "the resolver did not answer: " + vpcDnsHint,
              "network ACLs and security groups must let DNS (UDP and TCP 53) reach a custom resolver"
            ]
        }))
      )
    ))
}

const hangHint = (endpoint: Endpoint): ReadonlyArray<string> =>
  endpoint.override
    ? [`nothing answers at ${endpoint.host}:${endpoint.port}: check ${endpoint.source} and that the service runs`]
    : [
      "packets are dropped: the function's security group must allow egress on 443, and an interface endpoint's " +
      "security group ingress on 443 from it",
      "network ACLs must allow 443 out and the ephemeral ports (1024-65535) back, in both subnets",
      endpoint.service === "dynamodb"
        ? "for DynamoDB: the gateway endpoint must be associated with the route table of the function's subnets " +
          "(or a NAT gateway must route public addresses)"
        : `no route: create an interface endpoint for ${endpoint.service} (private DNS on) or route through a NAT ` +
          "gateway; a Lambda function in a VPC has no internet access of its own"
    ]

const failureHints = (error: Network.ConnectError, endpoint: Endpoint): ReadonlyArray<string> => {
  switch (error.kind) {
    case "timeout":
      return hangHint(endpoint)
    case "refused":
      return endpoint.override
        ? [`nothing listens at ${endpoint.host}:${endpoint.port}: start the service or fix ${endpoint.source}`]
        : ["something between here and AWS refused the connection: a proxy or a firewall"]
    case "unreachable":
      return ["no route to the address: " + hangHint(endpoint).join("; ")]
    case "notFound":
      return [`the hostname does not resolve: see dns ${endpoint.service}`]
    case "tls":
      return [
        "the TLS handshake failed: a TLS-intercepting proxy (set NODE_EXTRA_CA_CERTS to its CA), an override whose " +
        "hostname does not match the certificate, or a clock so far off that certificates look invalid"
      ]
    case "reset":
      return ["the connection was reset: a proxy or firewall closed it"]
    case "other":
      return []
  }
}

export const reachabilityCheck = (
  resolved: Resolved,
  service: ServiceName,
  timeout: Duration.Duration
): Effect.Effect<Check, never, Network.Tcp> => {
  if (resolved._tag === "Unresolved") return Effect.succeed(unresolved("reachability", service, resolved.problem))
  const endpoint = resolved.endpoint
  const name = `reachability ${service}`
  const how = endpoint.tls ? "TCP and TLS" : "TCP (plain http endpoint)"
  return Effect.flatMap(
    Network.Tcp,
    (tcp) =>
      tcp.connect({ host: endpoint.host, port: endpoint.port, tls: endpoint.tls, timeout }).pipe(
        // The service bounds itself; this bounds a replacement that never answers.
        Effect.timeoutFail({
          duration: Duration.sum(timeout, Duration.millis(250)),
          onTimeout: () =>
            new Network.ConnectError({
              host: endpoint.host,
              port: endpoint.port,
              phase: "tcp",
              kind: "timeout",
              code: "ETIMEDOUT"
            })
        }),
        Effect.map((connection) =>
          check({
            kind: "reachability",
            name,
            status: "ok",
            summary: `${endpoint.host}:${endpoint.port} answered: TCP ${connection.connectMs} ms` +
              (connection.tlsMs !== undefined ? `, TLS ${connection.tlsMs} ms (${connection.tlsProtocol ?? "?"})` : ""),
            evidence: {
              host: endpoint.host,
              port: endpoint.port,
              via: how,
              address: connection.remoteAddress,
              connectMs: connection.connectMs,
              tlsMs: connection.tlsMs,
              tlsProtocol: connection.tlsProtocol
            }
          })
        ),
        Effect.catchAll((error) =>
          Effect.succeed(check({
            kind: "reachability",
            name,
            status: "fail",
            summary: error.kind === "timeout"
              ? `${endpoint.host}:${endpoint.port}: no answer within ${Duration.format(timeout)} (${error.phase})`
              : error.message,
            evidence: {
              host: endpoint.host,
              port: endpoint.port,
              via: how,
              phase: error.phase,
              code: error.code
            },
            hints: failureHints(error, endpoint)
          }))
        )
      )
  )
}
