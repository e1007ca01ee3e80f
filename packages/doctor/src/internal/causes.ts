/**
 * What each class of the taxonomy means when AWS refuses a call, and what to fix: the runbook of
 * docs/troubleshooting.md, as hints.
 */
import type * as AwsError from "@aws-resilience/core/AwsError"

const credentials: Record<AwsError.CredentialsReason, ReadonlyArray<string>> = {
  InvalidClientTokenId: [
    "AWS does not know the key id, or the session token does not belong to it: a deleted or deactivated key, " +
    "a temporary (ASIA) key without its token or with another set's token, a revoked role session",
    "a session token from the global STS endpoint used in an opt-in region (see region)",
    "keys of another partition (China, GovCloud) or a typo; in Lambda, code that overwrote the runtime's keys"
  ],
  UnrecognizedClient: [
    "DynamoDB's and SQS's name for InvalidClientTokenId: the key id is unknown or its session token does not " +
    "belong to it (a temporary key without its token, a revoked or rotated-out set)",
    "resolve a fresh set from the provider instead of reusing a copied one; in Lambda use the runtime's " +
    "environment variables, which it refreshes"
  ],
  ExpiredToken: [
    "the session token has expired: the process kept a set past its expiration (a cached client or a copy in " +
    "configuration); let the provider refresh it",
    "a local clock far ahead of AWS's makes a valid set look expired to the SDK (see clock)"
  ],
  InvalidSignature: [
    "the secret does not belong to the key id (parts of two sets mixed), or a value carries whitespace or a " +
    "newline",
    "a clock more than 5 minutes off AWS's (the message then says 'Signature expired'; see clock)",
    "a proxy that rewrites the request (headers, path or body) after signing"
  ],
  MissingAuthenticationToken: [
    "the request was not signed: no credentials reached the client, or the endpoint is not the service's (a " +
    "wrong override or path)"
  ],
  ProviderFailure: [
    "no provider of the chain produced a set (see credentials); in a VPC, a provider that calls STS " +
    "(AssumeRole, web identity) needs the STS endpoint reachable (see dns sts and reachability sts)"
  ]
}

/** The likely causes of a classified failure, for hints. */
export const likelyCauses = (error: AwsError.AwsError, service: string): ReadonlyArray<string> => {
  switch (error._tag) {
    case "CredentialsError":
      return credentials[error.reason]
    case "AccessDeniedError":
      return service === "sts"
        ? [
          "GetCallerIdentity needs no IAM permission: an AccessDenied here comes from the STS VPC endpoint's " +
          "policy (or an SCP-like guardrail of the network path); allow sts:GetCallerIdentity in the endpoint policy"
        ]
        : [
          `the identity lacks the ${service} permission on this resource: grant it in the role's IAM policy`,
          `or a VPC endpoint policy for ${service} denies it (a DynamoDB gateway endpoint's policy applies to every ` +
          "call from the subnets whose route tables it is associated with), or a resource policy or KMS key " +
          "policy does"
        ]
    case "TransientError":
      switch (error.kind) {
        case "clockSkew":
          return ["the local clock is more than 5 minutes off AWS's: see clock"]
        case "timeout":
        case "network":
          return [
            `the ${service} endpoint did not answer: see dns ${service} and reachability ${service}`,
            "inside a VPC: no interface endpoint (or its private DNS off) and no NAT gateway, or a security group or " +
            "network ACL dropping 443"
          ]
        case "server":
          return ["AWS answered with a server error: retry later; it is not a configuration problem"]
      }
      return []
    case "ThrottlingError":
      return ["the account is being throttled: retry with backoff"]
    case "ConfigurationError":
      return [`fix the setting ${error.setting}`]
    case "ServiceError":
      return []
  }
}
