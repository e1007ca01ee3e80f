import type * as FaultPlan from "../FaultPlan.js"

/**
 * The failures the gateway answers itself, in the wire shape each service's protocol uses, so the
 * SDK v3 clients raise the same exception names as against AWS.
 *
 * @internal
 */
export type GatewayFailure =
  | "missingAuthentication"
  | "unrecognizedClient"
  | "expiredToken"
  | "invalidSignature"
  | "signatureExpired"
  | "throttle"
  | "status500"
  | "status503"

/** @internal */
export interface WireResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

interface ErrorSpec {
  readonly status: number
  readonly code: string
  readonly message: string
  /** DynamoDB: the namespace of `__type`; SQS/STS: the fault side. */
  readonly namespace: string
  readonly fault: "Sender" | "Receiver"
}

const CORAL = "com.amazon.coral.service"
const DYNAMODB = "com.amazonaws.dynamodb.v20120810"
const INVALID_TOKEN = "The security token included in the request is invalid."
const EXPIRED_TOKEN = "The security token included in the request is expired"
const BAD_SIGNATURE = "The request signature we calculated does not match the signature you provided. " +
  "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
const MISSING_TOKEN = "Request is missing Authentication Token"

const spec = (
  status: number,
  code: string,
  message: string,
  fault: "Sender" | "Receiver",
  namespace = CORAL
): ErrorSpec => ({ status, code, message, namespace, fault })

const specs: Record<FaultPlan.ServiceName, Record<GatewayFailure, ErrorSpec>> = {
  dynamodb: {
    missingAuthentication: spec(400, "MissingAuthenticationTokenException", MISSING_TOKEN, "Sender"),
    unrecognizedClient: spec(400, "UnrecognizedClientException", INVALID_TOKEN, "Sender"),
    expiredToken: spec(400, "ExpiredTokenException", EXPIRED_TOKEN, "Sender"),
    invalidSignature: spec(400, "InvalidSignatureException", BAD_SIGNATURE, "Sender"),
    signatureExpired: spec(400, "InvalidSignatureException", "Signature expired", "Sender"),
    throttle: spec(
      400,
      "ProvisionedThroughputExceededException",
      "The level of configured provisioned throughput for the table was exceeded. " +
        "Consider increasing your provisioning level with the UpdateTable API.",
      "Sender",
      DYNAMODB
    ),
    status500: spec(500, "InternalServerError", "Internal server error", "Receiver", DYNAMODB),
    status503: spec(503, "ServiceUnavailable", "Service Unavailable", "Receiver", CORAL)
  },
  sqs: {
    missingAuthentication: spec(403, "MissingAuthenticationToken", MISSING_TOKEN, "Sender"),
    unrecognizedClient: spec(403, "InvalidClientTokenId", INVALID_TOKEN, "Sender"),
    expiredToken: spec(403, "ExpiredToken", EXPIRED_TOKEN, "Sender"),
    invalidSignature: spec(403, "SignatureDoesNotMatch", BAD_SIGNATURE, "Sender"),
    signatureExpired: spec(403, "SignatureDoesNotMatch", "Signature expired", "Sender"),
    throttle: spec(400, "RequestThrottled", "Request is throttled.", "Sender", "com.amazonaws.sqs"),
    status500: spec(500, "InternalError", "We encountered an internal error. Please try again.", "Receiver"),
    status503: spec(503, "ServiceUnavailable", "Service Unavailable", "Receiver")
  },
  sts: {
    missingAuthentication: spec(403, "MissingAuthenticationToken", MISSING_TOKEN, "Sender"),
    unrecognizedClient: spec(403, "InvalidClientTokenId", INVALID_TOKEN, "Sender"),
    expiredToken: spec(403, "ExpiredToken", EXPIRED_TOKEN, "Sender"),
    invalidSignature: spec(403, "SignatureDoesNotMatch", BAD_SIGNATURE, "Sender"),
    signatureExpired: spec(403, "SignatureDoesNotMatch", "Signature expired", "Sender"),
    throttle: spec(400, "Throttling", "Rate exceeded", "Sender"),
    status500: spec(500, "InternalFailure", "An internal error occurred", "Receiver"),
    status503: spec(503, "ServiceUnavailable", "Service Unavailable", "Receiver")
  }
}

const escapeXml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** @internal */
export const errorResponse = (
  service: FaultPlan.ServiceName,
  failure: GatewayFailure,
  requestId: string,
  /** The service's text, when it depends on the request (a skewed signing date). */
  detail?: string
): WireResponse => {
  const { code, fault, namespace, status } = specs[service][failure]
  const message = detail ?? specs[service][failure].message
  switch (service) {
    case "dynamodb":
      return {
        status,
        headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": requestId },
        body: JSON.stringify({ __type: `${namespace}#${code}`, message })
      }
    case "sqs":
      // SQS speaks AWS JSON 1.0 in "query compatible" mode: the header carries the legacy error code.
      return {
        status,
        headers: {
          "content-type": "application/x-amz-json-1.0",
          "x-amzn-requestid": requestId,
          "x-amzn-query-error": `${code};${fault}`
        },
        body: JSON.stringify({ __type: `${namespace}#${code}`, message })
      }
    case "sts":
      return {
        status,
        headers: { "content-type": "text/xml", "x-amzn-requestid": requestId, "x-amz-request-id": requestId },
        body: `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
          `<Error><Type>${fault}</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>` +
          `<RequestId>${requestId}</RequestId></ErrorResponse>`
      }
  }
}

/** The failures a credentials event causes: the ones `malformedRejection` can answer. @internal */
export const isCredentialRejection = (
  failure: GatewayFailure
): failure is "unrecognizedClient" | "expiredToken" | "invalidSignature" =>
  failure === "unrecognizedClient" || failure === "expiredToken" || failure === "invalidSignature"

/**
 * A credentials rejection as some emulators and proxies answer it on a JSON protocol: 403, a Query-protocol XML body
 * under `content-type: text/html`, and none of the headers the SDK reads an error code from.
 *
 * @internal
 */
export const malformedRejection = (
  failure: "unrecognizedClient" | "expiredToken" | "invalidSignature",
  requestId: string
): WireResponse => {
  // The Query protocol's codes and texts, as SQS and STS name them.
  const { code, fault, message } = specs.sqs[failure]
  return {
    status: 403,
    headers: { "content-type": "text/html" },
    body: `<ErrorResponse><Error><Type>${fault}</Type><Code>${code}</Code><Message>${
      escapeXml(message)
    }</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
  }
}
