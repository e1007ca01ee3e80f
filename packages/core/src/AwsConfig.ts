/**
 * The AWS settings the SDK reads from the environment, as Effect `Config` values parsed and checked in one place:
 * the region, the endpoint per service, `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE`. Every `layerConfig` of this
 * project takes its options as `Config`s and defaults them to these, and reports a bad or missing value as a
 * `ConfigurationError` naming the setting, when the layer is built.
 *
 * @since 0.1.0
 */
import { DEFAULT_MAX_ATTEMPTS, ENV_MAX_ATTEMPTS } from "@smithy/core/retry"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as AwsError from "./AwsError.js"

// What AWS accepts as a region: a DNS label of lower-case letters, digits and hyphens (e.g. `us-east-1`, or
// `local` for a local stack).
const regionName = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

const regionProblem = (region: string): string | undefined =>
  region.trim() === ""
    ? "is empty: set it to a region, e.g. us-east-1"
    : regionName.test(region)
    ? undefined
    : `${JSON.stringify(region)} is not a region name (lower-case letters, digits and hyphens, e.g. us-east-1)`

const endpointProblem = (endpoint: string): string | undefined => {
  let url: URL | undefined
  try {
    url = new URL(endpoint)
  } catch {
    url = undefined
  }
  return url !== undefined && (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== ""
    ? undefined
    : `${JSON.stringify(endpoint)} is not an http(s) URL, e.g. https://dynamodb.us-east-1.amazonaws.com`
}

const checked = (problem: (value: string) => string | undefined) => (self: Config.Config<string>) =>
  Config.mapOrFail(self, (value) => {
    const detail = problem(value)
    return detail === undefined ? Either.right(value) : Either.left(ConfigError.InvalidData([], detail))
  })

const validate = (problem: (value: string) => string | undefined, defaultSetting: string) =>
(
  value: string,
  setting = defaultSetting
): Effect.Effect<string, AwsError.ConfigurationError> => {
  const detail = problem(value)
  return detail === undefined
    ? Effect.succeed(value)
    : Effect.fail(new AwsError.ConfigurationError({ setting, detail }))
}

/**
 * Checks a duration given in code: a `Duration.DurationInput` that decodes, is not `NaN`, is not negative and, with
 * `positive`, not zero. The error names `setting`.
 *
 * @since 0.2.0
 * @category validation
 */
export const validateDuration = (
  value: Duration.DurationInput,
  setting: string,
  options: { readonly positive?: boolean } = {}
): Effect.Effect<Duration.Duration, AwsError.ConfigurationError> => {
  const fail = (detail: string) => Effect.fail(new AwsError.ConfigurationError({ setting, detail }))
  if (typeof value === "number" && !Number.isFinite(value) && value !== Infinity) {
    return fail(`must be a duration, got ${String(value)}`)
  }
  let duration: Duration.Duration
  try {
    duration = Duration.decode(value)
  } catch {
    return fail(`must be a duration (e.g. "500 millis" or a number of ms), got ${JSON.stringify(String(value))}`)
  }
  const millis = Duration.toMillis(duration)
  if (Number.isNaN(millis) || millis < 0) return fail(`must not be negative, got ${String(value)}`)
  if (options.positive === true && millis === 0) return fail("must be longer than zero")
  return Effect.succeed(duration)
}

/**
 * Checks a region name given in code; the error names `setting` (default `region`).
 *
 * @since 0.1.0
 * @category validation
 */
export const validateRegion: (
  region: string,
  setting?: string
) => Effect.Effect<string, AwsError.ConfigurationError> = validate(regionProblem, "region")

/**
 * Checks an endpoint URL given in code; the error names `setting` (default `endpoint`).
 *
 * @since 0.1.0
 * @category validation
 */
export const validateEndpoint: (
  endpoint: string,
  setting?: string
) => Effect.Effect<string, AwsError.ConfigurationError> = validate(endpointProblem, "endpoint")

/**
 * The region as the SDK reads it: `AWS_REGION`, then `AWS_DEFAULT_REGION`, checked to be a region name.
 *
 * @since 0.1.0
 * @category config
 */
export const region: Config.Config<string> = Config.string("AWS_REGION").pipe(
  checked(regionProblem),
  Config.orElse(() => Config.string("AWS_DEFAULT_REGION").pipe(checked(regionProblem)))
)

const nonEmpty = (name: string): Config.Config<Option.Option<string>> =>
  Config.option(Config.string(name)).pipe(
    Config.map((value) => Option.filter(Option.map(value, (e) => e.trim()), (e) => e !== ""))
  )

/**
 * The endpoint the SDK would use for a service (`serviceId` as in `AWS_ENDPOINT_URL_<SERVICE_ID>`, e.g.
 * `DYNAMODB`, `SQS`): that variable, then `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is
 * true; `None` when neither is set. A value that is not an http(s) URL is refused, naming its variable.
 *
 * @since 0.1.0
 * @category config
 */
export const endpoint = (serviceId: string): Config.Config<Option.Option<string>> => {
  const own = `AWS_ENDPOINT_URL_${serviceId.toUpperCase()}`
  return Config.all({
    // A malformed AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is the SDK's to refuse; here it only means "not ignored".
    ignore: Config.boolean("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").pipe(Config.orElse(() => Config.succeed(false))),
    own: nonEmpty(own),
    general: nonEmpty("AWS_ENDPOINT_URL")
  }).pipe(
    // Only the variable the SDK would use is checked: an ignored or shadowed one is never read by it.
    Config.mapOrFail(({ general, ignore, own: ownValue }) => {
      if (ignore) return Either.right(Option.none())
      const [name, chosen] = Option.isSome(ownValue) ? [own, ownValue] : ["AWS_ENDPOINT_URL", general]
      const detail = Option.isSome(chosen) ? endpointProblem(chosen.value) : undefined
      return detail === undefined ? Either.right(chosen) : Either.left(ConfigError.InvalidData([name], detail))
    })
  )
}

/**
 * `AWS_MAX_ATTEMPTS` as the SDK reads it: a whole number of attempts, at least 1; default 3.
 *
 * @since 0.1.0
 * @category config
 */
export const maxAttempts: Config.Config<number> = Config.integer(ENV_MAX_ATTEMPTS).pipe(
  Config.validate({ message: "must be a whole number of attempts, at least 1", validation: (n) => n >= 1 }),
  Config.withDefault(DEFAULT_MAX_ATTEMPTS)
)

/**
 * The SDK's retry modes.
 *
 * @since 0.1.0
 * @category models
 */
export type RetryMode = "standard" | "adaptive" | "legacy"

/**
 * `AWS_RETRY_MODE`: `standard` (the default), `adaptive` or `legacy`.
 *
 * @since 0.1.0
 * @category config
 */
export const retryMode: Config.Config<RetryMode> = Config.literal("standard", "adaptive", "legacy")("AWS_RETRY_MODE")
  .pipe(Config.withDefault("standard" as const))

/**
 * `AWS_RESILIENCE_VERIFY_CREDENTIALS`: call STS `GetCallerIdentity` on the first resolution; default false.
 *
 * @since 0.1.0
 * @category config
 */
export const verifyCredentials: Config.Config<boolean> = Config.boolean("AWS_RESILIENCE_VERIFY_CREDENTIALS").pipe(
  Config.withDefault(false)
)

const settingOf = (error: ConfigError.ConfigError): string => {
  switch (error._op) {
    case "And":
    case "Or":
      return settingOf(error.left)
    default:
      return error.path.join(".") || "configuration"
  }
}

/**
 * A `ConfigError` as this project reports bad configuration: a `ConfigurationError` naming the setting.
 *
 * @since 0.1.0
 * @category errors
 */
export const toConfigurationError = (error: ConfigError.ConfigError): AwsError.ConfigurationError =>
  new AwsError.ConfigurationError({
    setting: settingOf(error),
    detail: ConfigError.isMissingDataOnly(error) ? `is not set (${String(error)})` : String(error),
    cause: error
  })

/**
 * Reads options given as `Config`s (`Config.Config.Wrap<A>`), reporting a failure as a `ConfigurationError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unwrap = <A>(wrapped: Config.Config.Wrap<A>): Effect.Effect<A, AwsError.ConfigurationError> =>
  Effect.mapError(Config.unwrap(wrapped), toConfigurationError)

/**
 * Options for a `layerConfig`: each field a `Config` (e.g. `Config.string("ORDERS_TABLE")`) or a plain value, each
 * optional where the defaults cover it.
 *
 * @since 0.1.0
 * @category models
 */
export type Configs<A> = { readonly [K in keyof A]?: A[K] | Config.Config<A[K]> }

/**
 * Reads options given as `Config`s over defaults given the same way, reporting a failure as a
 * `ConfigurationError` naming the setting.
 *
 * @since 0.1.0
 * @category constructors
 */
export const read = <A>(defaults: Configs<A>, options: Configs<A>): Effect.Effect<A, AwsError.ConfigurationError> => {
  const fields: Record<string, Config.Config<unknown>> = {}
  for (const [key, value] of Object.entries({ ...defaults, ...options })) {
    if (value !== undefined) fields[key] = Config.isConfig(value) ? value : Config.succeed(value)
  }
  return Effect.mapError(Config.all(fields) as unknown as Config.Config<A>, toConfigurationError)
}
