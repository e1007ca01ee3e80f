import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { SQSClient } from "@aws-sdk/client-sqs"
import { STSClient } from "@aws-sdk/client-sts"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import * as Effect from "effect/Effect"
import type * as CredentialsAuthority from "../src/CredentialsAuthority.js"
import type * as LocalAws from "../src/LocalAws.js"

export interface SdkError {
  readonly name: string
  readonly message: string
  readonly code?: string
  readonly $metadata?: { readonly httpStatusCode?: number }
}

export interface Clients {
  readonly dynamodb: DynamoDBClient
  readonly sqs: SQSClient
  readonly sts: STSClient
}

/** SDK clients against the gateway with the given static credentials and a single attempt. */
export const clients = (
  stack: LocalAws.Service,
  credentials: CredentialsAuthority.StaticCredentials
): Clients => {
  const config = { region: stack.region, credentials, maxAttempts: 1 }
  return {
    dynamodb: new DynamoDBClient({ ...config, endpoint: stack.endpoints.dynamodb }),
    // fauxqs answers queue URLs on `sqs.<region>.localhost`, which does not resolve here.
    sqs: new SQSClient({ ...config, endpoint: stack.endpoints.sqs, useQueueUrlAsEndpoint: false }),
    sts: new STSClient({ ...config, endpoint: stack.endpoints.sts })
  }
}

/** Clients with the authority's current credentials. */
export const currentClients = (stack: LocalAws.Service) =>
  Effect.map(stack.authority.currentStatic, (c) => clients(stack, c))

/** A DynamoDB client straight to dynalite, bypassing the gateway. */
export const directDynamoDB = (stack: LocalAws.Service) =>
  new DynamoDBClient({
    region: stack.region,
    endpoint: stack.directEndpoints.dynamodb,
    credentials: { accessKeyId: "direct", secretAccessKey: "direct" },
    maxAttempts: 1
  })

/** Runs an SDK call, cancelling it if the fiber is interrupted. */
export const call = <A>(f: (abortSignal: AbortSignal) => Promise<A>): Effect.Effect<A, SdkError> =>
  Effect.tryPromise({ try: f, catch: (error) => error as SdkError })

/** Runs an SDK call that must fail and returns its error; a success is a test defect. */
export const failure = <A>(f: (abortSignal: AbortSignal) => Promise<A>): Effect.Effect<SdkError> =>
  call(f).pipe(Effect.flip, Effect.orDieWith(() => new Error("expected the call to fail")))

/** Wall-clock sleep, independent of any TestClock. */
export const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

let counter = 0
/** A name unique in this process, for tables and queues. */
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`

/** GET on the stack's container-credentials endpoint through @effect/platform's HttpClient: status and JSON body. */
export const fetchCredentials = (
  stack: LocalAws.Service,
  headers: Record<string, string> = { authorization: stack.env.AWS_CONTAINER_AUTHORIZATION_TOKEN! }
) =>
  HttpClient.get(stack.endpoints.credentials, { headers }).pipe(
    Effect.flatMap((response) =>
      Effect.map(
        Effect.orElseSucceed(response.json, () => ({})),
        (body) => ({ status: response.status, body: body as Record<string, string> })
      )
    ),
    Effect.scoped,
    Effect.provide(FetchHttpClient.layer)
  )

/** The plain credentials of a body the container endpoint served. */
export const servedCredentials = (body: Record<string, string>): CredentialsAuthority.StaticCredentials => ({
  accessKeyId: body.AccessKeyId!,
  secretAccessKey: body.SecretAccessKey!,
  sessionToken: body.Token!,
  expiration: new Date(body.Expiration!)
})

/** One fetch from the container endpoint: the set it serves now. */
export const servedNow = (stack: LocalAws.Service) =>
  Effect.map(fetchCredentials(stack), (response) => servedCredentials(response.body))

/** Creates an on-demand table with a string hash key `pk`. */
export const createTable = (c: Clients, table: string) =>
  call((abortSignal) =>
    c.dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST"
      }),
      { abortSignal }
    )
  )
