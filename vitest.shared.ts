// Settings every package's test project shares; each `packages/*/vitest.config.ts` merges it with its name and
// whatever is truly its own.
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests start real servers (dynalite, fauxqs, the gateway) and run property tests against them.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Never let the SDK chain fall through to IMDS (a non-loopback address) in tests.
    env: { AWS_EC2_METADATA_DISABLED: "true" }
  }
})
