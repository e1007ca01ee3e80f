import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Context, Effect, Layer, Logger, Option, Redacted } from "effect"
import { AwsConfig, Credentials, CredentialsProvider, ManagedClient, RetryPolicy } from "../src/index.js"
import { FakeClient } from "./fixtures.js"

const env = (entries: ReadonlyArray<readonly [string, string]>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))

class Fake extends Context.Tag("test/Fake")<Fake, ManagedClient.ManagedClient<FakeClient>>() {}
// The endpoint each client (including the probe `make` builds) was given.
const endpoints: Array<string | undefined> = []
const FakeClients = ManagedClient.factory(Fake, {
  service: "fake",
  serviceId: "FAKE",
  build: (config) => {
    endpoints.push(config.endpoint)
    return new FakeClient(0, "k")
  }
})
const credentials = Credentials.layer({
  provider: CredentialsProvider.fromStatic({ accessKeyId: "AKIATEST", secretAccessKey: Redacted.make("s") })
})

describe("AwsConfig", () => {
  it.effect("a client's layerConfig reports a bad or missing setting as a ConfigurationError naming it", () =>
    Effect.gen(function*() {
      const build = (entries: ReadonlyArray<readonly [string, string]>) =>
        Effect.flip(Effect.scoped(Layer.build(FakeClients.layerConfig().pipe(Layer.provide(credentials))))).pipe(
          env(entries)
        )
      assert.strictEqual((yield* build([])).setting, "AWS_REGION")
      assert.strictEqual((yield* build([["AWS_REGION", "us east 1"]])).setting, "AWS_REGION")
      assert.strictEqual((yield* build([["AWS_REGION", ""]])).setting, "AWS_REGION")
      const endpoint = yield* build([["AWS_REGION", "eu-west-1"], ["AWS_ENDPOINT_URL_FAKE", "not a url"]])
      assert.strictEqual(endpoint.setting, "AWS_ENDPOINT_URL_FAKE")
      assert.include(endpoint.message, "not a url")
      const general = yield* build([["AWS_REGION", "eu-west-1"], ["AWS_ENDPOINT_URL", "ftp://x"]])
      assert.strictEqual(general.setting, "AWS_ENDPOINT_URL")
    }))

  it.effect("layerConfig reads the region and the service's endpoint as the SDK does, and takes overrides", () =>
    Effect.gen(function*() {
      const client = (
        entries: ReadonlyArray<readonly [string, string]>,
        options: ManagedClient.ClientConfigOptions<never> = {}
      ) =>
        Effect.scoped(Effect.provide(Fake, FakeClients.layerConfig(options).pipe(Layer.provide(credentials)))).pipe(
          env(entries)
        )
      const fromDefault = yield* client([["AWS_DEFAULT_REGION", "eu-west-2"]])
      assert.strictEqual(fromDefault.region, "eu-west-2")
      const own = yield* client([["AWS_REGION", "eu-west-1"], ["AWS_ENDPOINT_URL", "http://a:1"], [
        "AWS_ENDPOINT_URL_FAKE",
        "http://b:2"
      ]])
      assert.strictEqual(own.region, "eu-west-1")
      assert.strictEqual(endpoints.at(-1), "http://b:2", "the service's own variable wins")
      const overridden = yield* client([["AWS_REGION", "eu-west-1"]], { region: Config.succeed("ap-south-1") })
      assert.strictEqual(overridden.region, "ap-south-1")
      const ignored = yield* Effect.flip(
        client([["AWS_REGION", "eu-west-1"], ["AWS_ENDPOINT_URL_FAKE", "nope"], [
          "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
          "true"
        ]])
      ).pipe(Effect.option)
      assert.isTrue(Option.isNone(ignored), "an ignored endpoint is not even checked")
    }))

  it.effect("the endpoint variables: the service's own first, then the general one, unless ignored", () =>
    Effect.gen(function*() {
      const read = (entries: ReadonlyArray<readonly [string, string]>) =>
        AwsConfig.read({ endpoint: AwsConfig.endpoint("SQS") }, {}).pipe(env(entries))
      assert.deepStrictEqual((yield* read([])).endpoint, Option.none())
      assert.deepStrictEqual(
        (yield* read([["AWS_ENDPOINT_URL", "http://a:1"], ["AWS_ENDPOINT_URL_SQS", "http://b:2"]])).endpoint,
        Option.some("http://b:2")
      )
      assert.deepStrictEqual((yield* read([["AWS_ENDPOINT_URL", "http://a:1"]])).endpoint, Option.some("http://a:1"))
      assert.deepStrictEqual(
        (yield* read([["AWS_ENDPOINT_URL", "http://a:1"], ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"]])).endpoint,
        Option.none()
      )
    }))

  it.effect("RetryPolicy.layerConfig: a malformed AWS_MAX_ATTEMPTS is a ConfigurationError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(RetryPolicy.layerConfig())).pipe(
        Effect.scoped,
        env([["AWS_MAX_ATTEMPTS", "three"]])
      )
      assert.strictEqual(error.setting, "AWS_MAX_ATTEMPTS")
      const policy = yield* RetryPolicy.RetryPolicy.pipe(
        Effect.provide(RetryPolicy.layerConfig()),
        env([["AWS_MAX_ATTEMPTS", "7"]])
      )
      assert.strictEqual(policy.maxAttempts, 7)
    }))

  it.effect("RetryPolicy.layerConfig says when AWS_RETRY_MODE asks for a mode it does not follow", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      yield* RetryPolicy.RetryPolicy.pipe(
        Effect.provide(RetryPolicy.layerConfig()),
        env([["AWS_RETRY_MODE", "adaptive"]]),
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message)))))
      )
      assert.isTrue(logs.some((line) => line.includes("AWS_RETRY_MODE=adaptive")))
      const bad = yield* Effect.flip(Effect.scoped(Layer.build(RetryPolicy.layerConfig()))).pipe(
        env([["AWS_RETRY_MODE", "fast"]])
      )
      assert.strictEqual(bad.setting, "AWS_RETRY_MODE")
    }))

  it.effect("Credentials.layerConfig takes its provider and verify flag as Configs", () =>
    Effect.gen(function*() {
      const set = yield* Effect.flatMap(Credentials.Credentials, (c) => c.get).pipe(
        Effect.provide(Credentials.layerConfig({
          provider: Config.succeed(
            CredentialsProvider.fromStatic({ accessKeyId: "AKIAFROMCONFIG", secretAccessKey: Redacted.make("s") })
          )
        }))
      )
      assert.strictEqual(set.accessKeyId, "AKIAFROMCONFIG")
      const error = yield* Effect.flip(Effect.scoped(Layer.build(Credentials.layerConfig()))).pipe(
        env([["AWS_RESILIENCE_VERIFY_CREDENTIALS", "perhaps"]])
      )
      assert.strictEqual(error.setting, "AWS_RESILIENCE_VERIFY_CREDENTIALS")
    }))
})
