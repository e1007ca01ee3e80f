/**
 * The endpoint the SDK will really call for each service. Rather than re-deriving the SDK's rules (endpoint
 * variables, the shared config file's `endpoint_url`, FIPS and dual-stack settings, DynamoDB's account-based
 * endpoints), the doctor asks the SDK: it builds the request of a harmless command and stops it before signing.
 */
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb"
import { ListQueuesCommand, SQSClient } from "@aws-sdk/client-sqs"
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import * as Effect from "effect/Effect"
import { type Env, set } from "./environment.js"
import type { Identity } from "./sdk.js"

export type ServiceName = "sts" | "dynamodb" | "sqs"

export const services: ReadonlyArray<ServiceName> = ["sts", "dynamodb", "sqs"]

export interface Endpoint {
  readonly service: ServiceName
  /** Origin only, e.g. `https://sts.us-east-1.amazonaws.com`. */
  readonly url: string
  readonly host: string
  readonly port: number
  readonly tls: boolean
  /** `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, `shared config file` or `SDK rules for <region>`. */
  readonly source: string
  /** Set in configuration rather than derived from the region. */
  readonly override: boolean
}

export type Resolved = { readonly _tag: "Resolved"; readonly endpoint: Endpoint } | {
  readonly _tag: "Unresolved"
  readonly problem: string
}

const serviceIds: Record<ServiceName, string> = { sts: "STS", dynamodb: "DYNAMODB", sqs: "SQS" }

class Captured {
  constructor(readonly url: string) {}
}

interface Capturable {
  readonly middlewareStack: { add: (middleware: any, options: any) => void }
  send(command: any): Promise<unknown>
  destroy(): void
}

const build = (service: ServiceName, region: string, credentials: Identity): [Capturable, unknown] => {
  const config = { region, credentials, maxAttempts: 1 }
  switch (service) {
    case "sts":
      return [new STSClient(config), new GetCallerIdentityCommand({})]
    case "dynamodb":
      return [new DynamoDBClient(config), new ListTablesCommand({})]
    case "sqs":
      return [new SQSClient(config), new ListQueuesCommand({})]
  }
}

// Only for building a request: DynamoDB's account-based endpoint needs the real set's account id, when it has one.
const placeholder: Identity = { accessKeyId: "AKIAPLACEHOLDER0000", secretAccessKey: "placeholder" }

const capture = (service: ServiceName, region: string, credentials: Identity): Effect.Effect<string, string> =>
  Effect.acquireUseRelease(
    Effect.sync(() => build(service, region, credentials)),
    ([client, command]) =>
      Effect.tryPromise({
        try: () => {
          client.middlewareStack.add(
            () => (args: { request: { protocol: string; hostname: string; port?: number } }) => {
              const { hostname, port, protocol } = args.request
              throw new Captured(`${protocol}//${hostname}${port ? `:${port}` : ""}`)
            },
            { step: "build", name: "awsResilienceDoctorCapture", priority: "low" }
          )
          return client.send(command)
        },
        catch: (e) => e
      }).pipe(
        Effect.flatMap(() => Effect.fail("the SDK sent a request instead of stopping it")),
        Effect.catchAll((e) =>
          e instanceof Captured
            ? Effect.succeed(e.url)
            : Effect.fail(typeof e === "string" ? e : e instanceof Error ? e.message : String(e))
        )
      ),
    ([client]) => Effect.sync(() => client.destroy())
  )

const origin = (url: string): string | undefined => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}`
  } catch {
    return undefined
  }
}

/** The variable that set this endpoint, if one did, as the SDK reads them. */
const overrideVariable = (service: ServiceName, env: Env, url: string): string | undefined => {
  if (set(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")?.toLowerCase() === "true") return undefined
  const own = `AWS_ENDPOINT_URL_${serviceIds[service]}`
  for (const name of [own, "AWS_ENDPOINT_URL"]) {
    const value = set(env, name)
    if (value !== undefined) return origin(value.trim()) === origin(url) ? name : undefined
  }
  return undefined
}

const endpointOf = (service: ServiceName, env: Env, url: string, region: string | undefined): Endpoint => {
  const parsed = new URL(url)
  const tls = parsed.protocol === "https:"
  const variable = overrideVariable(service, env, url)
  const amazon = /\.amazonaws\.com(\.cn)?$/.test(parsed.hostname)
  return {
    service,
    url: `${parsed.protocol}//${parsed.host}`,
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: Number(parsed.port) || (tls ? 443 : 80),
    tls,
    source: variable ?? (amazon ? `SDK rules for ${region ?? "?"}` : "shared config file (endpoint_url)"),
    override: variable !== undefined || !amazon
  }
}

/** Every service's endpoint; a missing region leaves only overrides resolvable. */
export const resolveAll = (
  region: string | undefined,
  env: Env,
  credentials: Identity | undefined
): Effect.Effect<Record<ServiceName, Resolved>> =>
  Effect.map(
    Effect.forEach(services, (service) =>
      capture(service, region ?? "us-east-1", credentials ?? placeholder).pipe(
        Effect.map((url): Resolved => {
          const endpoint = endpointOf(service, env, url, region)
          return region === undefined && !endpoint.override
            ? { _tag: "Unresolved", problem: "no region is configured, so the SDK has no endpoint" }
            : { _tag: "Resolved", endpoint }
        }),
        Effect.catchAll((problem) => Effect.succeed<Resolved>({ _tag: "Unresolved", problem }))
      ), { concurrency: "unbounded" }),
    ([sts, dynamodb, sqs]) => ({ sts: sts!, dynamodb: dynamodb!, sqs: sqs! })
  )
