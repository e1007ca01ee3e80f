// The test projects: every package and example with a `vitest.config.ts` (each merges `vitest.shared.ts` with its
// own name). The root `vitest.config.ts` reads this list into `test.projects`, which vitest 3.2 prefers over a
// workspace file.
export default ["packages/*/vitest.config.ts", "examples/*/vitest.config.ts"]
