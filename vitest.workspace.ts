// The packages' test projects. The root `vitest.config.ts` reads this list into `test.projects`,
// which vitest 3.2 prefers over a workspace file (so no deprecation warning is printed).
export default [
  "packages/core",
  "packages/testkit",
  "packages/dynamodb",
  "packages/sqs"
]
