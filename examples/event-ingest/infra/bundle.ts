/**
 * Builds the handler bundles the stack deploys, with esbuild (no Docker): `<srcDir>/api.ts` to
 * `<outDir>/api/index.mjs` and `<srcDir>/consumer.ts` to `<outDir>/consumer/index.mjs`, each exporting `handler`.
 */
import { type BuildOptions, buildSync } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"

/** The functions and their entry points under `srcDir`. */
export const handlerEntries = { api: "api.ts", consumer: "consumer.ts" } as const

/** How each handler is built (all but its entry point and output file); `bench/lambda` builds its baseline so too. */
export const bundleOptions: BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node22",
  format: "esm",
  minify: true,
  // Module names stay readable in stack traces and spans.
  keepNames: true,
  sourcemap: true,
  // CommonJS dependencies (the AWS SDK's) call `require` for Node built-ins, which an ESM bundle lacks.
  banner: {
    js:
      "import { createRequire as __createRequire } from \"node:module\";const require=__createRequire(import.meta.url);"
  },
  logLevel: "warning"
}

export const bundleHandlers = (options: { readonly srcDir: string; readonly outDir: string }): void => {
  for (const [name, entry] of Object.entries(handlerEntries)) {
    const entryPoint = path.join(options.srcDir, entry)
    if (!fs.existsSync(entryPoint)) throw new Error(`bundleHandlers: no ${entryPoint} (the ${name} handler)`)
    buildSync({ ...bundleOptions, entryPoints: [entryPoint], outfile: path.join(options.outDir, name, "index.mjs") })
  }
}
