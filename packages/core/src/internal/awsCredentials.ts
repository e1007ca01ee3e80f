/**
 * One resolved set of credentials, the model `Credentials` serves. Printing or logging it shows only the masked
 * access key id.
 */
import type { AwsCredentialIdentity } from "@smithy/types"
import { NodeInspectSymbol } from "effect/Inspectable"
import * as Redacted from "effect/Redacted"
import { maskAccessKeyId } from "./redact.js"

/** One resolved set of credentials. */
export class AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken: Redacted.Redacted<string> | undefined
  readonly expiration: Date | undefined
  /** Which provider produced the set, e.g. `environment`, `container`, `imds`, `profile`. */
  readonly source: string
  /** Increases with each new set this service resolves. */
  readonly generation: number
  constructor(fields: {
    readonly accessKeyId: string
    readonly secretAccessKey: Redacted.Redacted<string>
    readonly sessionToken?: Redacted.Redacted<string> | undefined
    readonly expiration?: Date | undefined
    readonly source: string
    readonly generation: number
  }) {
    this.accessKeyId = fields.accessKeyId
    this.secretAccessKey = fields.secretAccessKey
    this.sessionToken = fields.sessionToken
    this.expiration = fields.expiration
    this.source = fields.source
    this.generation = fields.generation
  }
  /** The access key id with all but its last 4 characters hidden. */
  get maskedAccessKeyId(): string {
    return maskAccessKeyId(this.accessKeyId)
  }
  /** The plain identity the SDK signs with. */
  toSdk(): AwsCredentialIdentity {
    return {
      accessKeyId: this.accessKeyId,
      secretAccessKey: Redacted.value(this.secretAccessKey),
      ...(this.sessionToken ? { sessionToken: Redacted.value(this.sessionToken) } : {}),
      ...(this.expiration ? { expiration: this.expiration } : {})
    }
  }
  toJSON(): unknown {
    return {
      _id: "AwsCredentials",
      accessKeyId: this.maskedAccessKeyId,
      source: this.source,
      generation: this.generation,
      expiration: this.expiration?.toISOString()
    }
  }
  toString(): string {
    return `AwsCredentials(${this.maskedAccessKeyId}, ${this.source}, generation ${this.generation})`
  }
  [NodeInspectSymbol](): unknown {
    return this.toJSON()
  }
}
