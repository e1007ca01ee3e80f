import { Credentials } from "@aws-resilience/core"
import { Effect, Option } from "effect"

// Which provider of the chain supplied the credentials (`environment`, `container`, `web-identity`, `profile`,
// `imds`, ...), the key id's last 4 characters, the generation and the expiry. Never the secret.
export const describeCredentials = Effect.gen(function*() {
  const credentials = yield* Credentials.Credentials
  const set = yield* credentials.get
  yield* Effect.log("credentials in use").pipe(Effect.annotateLogs({
    source: set.source,
    accessKeyId: set.maskedAccessKeyId,
    generation: set.generation,
    expires: Option.match(Option.fromNullable(set.expiration), {
      onNone: () => "never",
      onSome: (date) => date.toISOString()
    })
  }))
  return set.source
})
