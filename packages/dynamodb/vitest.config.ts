import { defineProject, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "dynamodb",
      // Its property tests run whole fault plans against dynalite, several runs each.
      testTimeout: 120_000
    }
  })
)
