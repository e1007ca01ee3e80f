/**
 * The identity check: STS `GetCallerIdentity`, which needs no permission, on the endpoint the SDK uses, signed with
 * the resolved set: the account and ARN, or the classified failure with its likely causes.
 */
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Check, Identity as StsIdentity } from "../Doctor.js"
import { likelyCauses } from "./causes.js"
import type { Loaded } from "./credentialsCheck.js"
import type { Resolved } from "./endpoints.js"
import { check, type Env, inLambda, set } from "./environment.js"
import * as Sdk from "./sdk.js"

export interface Outcome {
  readonly check: Check
  readonly identity: StsIdentity | undefined
}

const failed = (summary: string, hints: ReadonlyArray<string>, evidence: Record<string, string | undefined> = {}) => ({
  check: check({ kind: "identity", name: "identity", status: "fail", summary, evidence, hints }),
  identity: undefined
})

export const identityCheck = (
  region: string | undefined,
  sts: Resolved,
  loaded: Loaded,
  env: Env,
  timeout: Duration.Duration
): Effect.Effect<Outcome> => {
  if (loaded._tag === "Failed") {
    return Effect.succeed(failed("not attempted: no credentials to sign with (see credentials)", []))
  }
  if (region === undefined || sts._tag === "Unresolved") {
    return Effect.succeed(failed("not attempted: the SDK has no STS endpoint (see region)", []))
  }
  const endpoint = sts.endpoint.url
  return Effect.scoped(
    Effect.flatMap(
      Sdk.scoped(() => new STSClient({ region, credentials: loaded.identity, maxAttempts: 1 })),
      (client) =>
        Sdk.call(
          "sts",
          "GetCallerIdentity",
          timeout,
          (signal) => client.send(new GetCallerIdentityCommand({}), { abortSignal: signal })
        )
    )
  ).pipe(
    Effect.map((answer): Outcome => {
      const account = answer.Account ?? "?"
      const arn = answer.Arn ?? "?"
      const functionName = set(env, "AWS_LAMBDA_FUNCTION_NAME")
      // The runtime's set is a session of the execution role named after the function.
      const foreign = inLambda(env) && !(arn.includes(":assumed-role/") && arn.endsWith(`/${functionName}`))
      return {
        identity: { account, arn },
        check: check({
          kind: "identity",
          name: "identity",
          status: foreign ? "warn" : "ok",
          summary: foreign
            ? `${arn} is not a session of this function's execution role`
            : `account ${account}, ${arn}`,
          evidence: { account, arn, endpoint },
          hints: foreign
            ? [
              `inside Lambda the runtime's credentials are the execution role's session named ${functionName}: ` +
              "the code signed with other credentials"
            ]
            : []
        })
      }
    }),
    Effect.catchAll((error) =>
      Effect.succeed(
        failed(Sdk.describe(error), likelyCauses(error, "sts"), {
          error: error._tag,
          reason: error._tag === "CredentialsError" ? error.reason : undefined,
          code: Sdk.codeOf(error),
          httpStatus: error._tag === "ConfigurationError" ? undefined : error.httpStatus?.toString(),
          requestId: error._tag === "ConfigurationError" ? undefined : error.requestId,
          endpoint
        })
      )
    )
  )
}
