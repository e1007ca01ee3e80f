/**
 * The region and STS endpoint check: the region and where it came from, the STS endpoint the SDK will call, the
 * endpoint overrides in force, `AWS_STS_REGIONAL_ENDPOINTS=legacy`, and a global-endpoint session token in a region
 * that only accepts regional ones.
 */
import type { Check } from "../Doctor.js"
import type { Endpoint, Resolved } from "./endpoints.js"
import { type Env, type Finding, fromFindings, type Region, set } from "./environment.js"
import type { Identity } from "./sdk.js"

/** Regions that are not enabled by default: a session token from the global STS endpoint (v1) is refused there. */
export const optInRegions: ReadonlySet<string> = new Set([
  "af-south-1",
  "ap-east-1",
  "ap-east-2",
  "ap-south-2",
  "ap-southeast-3",
  "ap-southeast-4",
  "ap-southeast-5",
  "ap-southeast-6",
  "ap-southeast-7",
  "ca-west-1",
  "eu-central-2",
  "eu-south-1",
  "eu-south-2",
  "il-central-1",
  "me-central-1",
  "me-south-1",
  "mx-central-1"
])

/** Where `legacy` sends STS calls of the AWS CLI and boto3 to the global endpoint, `sts.amazonaws.com`. */
export const legacyGlobalRegions: ReadonlySet<string> = new Set([
  "ap-northeast-1",
  "ap-south-1",
  "ap-southeast-1",
  "ap-southeast-2",
  "aws-global",
  "ca-central-1",
  "eu-central-1",
  "eu-north-1",
  "eu-west-1",
  "eu-west-2",
  "eu-west-3",
  "sa-east-1",
  "us-east-1",
  "us-east-2",
  "us-west-1",
  "us-west-2"
])

// Session tokens from the global endpoint (v1) start with a protobuf field holding `er/aws...`, base64-encoded;
// regional (v2) tokens with `!\n\torigin_ec`. An observed, undocumented layout: only ever a warning.
const globalTokenPrefixes = ["FwoGZXIvYXdz", "FQoGZXIvYXdz"]

export const looksGlobalToken = (token: string | undefined): boolean =>
  token !== undefined && globalTokenPrefixes.some((prefix) => token.startsWith(prefix))

const regionName = /^[a-z]{2}(-[a-z]+)+-\d+$/

export const regionCheck = (
  region: Region,
  sts: Resolved,
  env: Env,
  credentials: Identity | undefined
): Check => {
  const findings: Array<Finding> = []
  const name = region.region
  const stsEndpoint: Endpoint | undefined = sts._tag === "Resolved" ? sts.endpoint : undefined
  const stsLegacy = set(env, "AWS_STS_REGIONAL_ENDPOINTS")?.toLowerCase() === "legacy"
  const fromAwsRegion = set(env, "AWS_REGION")
  const fromDefault = set(env, "AWS_DEFAULT_REGION")

  if (name === undefined) {
    findings.push({
      status: "fail",
      text: "no region is configured",
      fix: "set AWS_REGION (the JS SDK's variable; Lambda sets it), or AWS_DEFAULT_REGION for the AWS CLI and " +
        "boto3, or `region` in the shared config file's profile"
    })
  } else if (!regionName.test(name) && !(stsEndpoint?.override ?? false)) {
    findings.push({
      status: "fail",
      text: `${JSON.stringify(name)} is not an AWS region name`,
      fix: "use a region code such as us-east-1 (not an availability zone such as us-east-1a, nor a display name)"
    })
  }
  if (region.source === "AWS_DEFAULT_REGION") {
    findings.push({
      status: "warn",
      text: "the region comes from AWS_DEFAULT_REGION only",
      fix: "this project's AwsConfig, the AWS CLI and boto3 read it, but a bare JS SDK client does not (it reads " +
        "AWS_REGION and the shared config file): set AWS_REGION too"
    })
  } else if (fromAwsRegion !== undefined && fromDefault !== undefined && fromAwsRegion !== fromDefault) {
    findings.push({
      status: "warn",
      text: `AWS_REGION (${fromAwsRegion}) and AWS_DEFAULT_REGION (${fromDefault}) differ`,
      fix: "the JS SDK uses AWS_REGION, the AWS CLI and boto3 AWS_DEFAULT_REGION: the two call different regions. " +
        "Make them equal"
    })
  }
  if (stsLegacy && name !== undefined && legacyGlobalRegions.has(name)) {
    findings.push({
      status: "warn",
      text: "AWS_STS_REGIONAL_ENDPOINTS=legacy",
      fix: `the JS SDK v3 ignores it and calls sts.${name}.amazonaws.com, but the AWS CLI and boto3 then call the ` +
        "global sts.amazonaws.com, which an STS interface endpoint's private DNS does not answer for: from a VPC " +
        "without a NAT gateway those calls time out. Unset it (regional is the default)"
    })
  }
  if (stsEndpoint !== undefined && stsEndpoint.host === "sts.amazonaws.com") {
    findings.push({
      status: "warn",
      text: "STS calls go to the global endpoint sts.amazonaws.com",
      fix: "use the regional endpoint (unset the override): the global one is served from us-east-1, is not " +
        "reachable through an interface VPC endpoint, and issues tokens that opt-in regions refuse"
    })
  }
  if (name !== undefined && optInRegions.has(name) && looksGlobalToken(credentials?.sessionToken)) {
    findings.push({
      status: "warn",
      text: `the session token looks like one from the global STS endpoint (v1), and ${name} is an opt-in region`,
      fix: "v1 tokens are valid only in regions enabled by default: AWS refuses them here with " +
        "InvalidClientTokenId. Get the set from the regional endpoint (sts." + name + ".amazonaws.com), or make " +
        "the global endpoint issue v2 tokens: aws iam set-security-token-service-preferences " +
        "--global-endpoint-token-version v2Token"
    })
  }
  if (sts._tag === "Unresolved" && name !== undefined) {
    findings.push({ status: "fail", text: `the SDK has no STS endpoint: ${sts.problem}`, fix: "fix the setting named" })
  }

  const overrides: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith("AWS_ENDPOINT_URL") && value !== undefined && value !== "") overrides[key] = value
  }
  return fromFindings({
    kind: "region",
    name: "region",
    facts: `${name} (from ${region.source}); STS at ${stsEndpoint?.url ?? "?"}${
      stsEndpoint?.override ? ` (${stsEndpoint.source})` : ""
    }`,
    findings,
    evidence: {
      region: name ?? "none",
      regionSource: region.source,
      stsEndpoint: stsEndpoint?.url,
      stsEndpointSource: stsEndpoint?.source,
      optInRegion: name !== undefined && optInRegions.has(name) ? true : undefined,
      AWS_STS_REGIONAL_ENDPOINTS: set(env, "AWS_STS_REGIONAL_ENDPOINTS"),
      AWS_DEFAULT_REGION: fromDefault !== undefined && fromDefault !== name ? fromDefault : undefined,
      ...overrides
    }
  })
}
