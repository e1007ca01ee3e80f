import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    name: "sqs",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Never let the SDK chain fall through to IMDS (a non-loopback address) in tests.
    env: { AWS_EC2_METADATA_DISABLED: "true" }
  }
})
