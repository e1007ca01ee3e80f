#!/usr/bin/env node
// Runs a benchmark on compiled code, as users run the packages. `tsx` keeps function names by wrapping every named
// closure in a `defineProperty` call (esbuild's `keepNames`), which the built packages do not have: on the hot path
// that was about 1.6 KB of extra allocation per call, a cost no user pays. So the benchmark and the workspace's own
// sources (`@aws-resilience/*`, resolved to their `src`) are bundled with esbuild, names not kept; every other
// package stays external and is loaded from node_modules as in production. The bundle is written next to the
// benchmark (so `import.meta.dirname` holds), run with this node, and removed.
//
//   node bench/lib/run.mjs [node flags, e.g. --cpu-prof] <file.ts> [benchmark arguments]
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const args = process.argv.slice(2);
const at = args.findIndex((a) => a.endsWith(".ts"));
if (at < 0) {
  console.error("usage: node bench/lib/run.mjs [node flags] <file.ts> [arguments]");
  process.exit(2);
}
const entry = resolve(args[at]);
const nodeFlags = args.slice(0, at);
const out = join(dirname(entry), `.${basename(entry, ".ts")}.bundle.mjs`);

const workspace = {
  name: "workspace-sources",
  setup(b) {
    b.onResolve({ filter: /^@aws-resilience\// }, ({ path }) => {
      const [, name, sub] = path.match(/^@aws-resilience\/([^/]+)(?:\/(.+))?$/) ?? [];
      const file = join(root, "packages", name, "src", sub === undefined ? "index.ts" : `${sub}.ts`);
      if (!existsSync(file)) return { errors: [{ text: `no workspace source for ${path} (${file})` }] };
      return { path: file };
    });
    // The shared helpers (`bench/lib/*.mjs`) stay files of their own: they find the repository from where they are.
    b.onResolve({ filter: /bench\/lib\/[^/]+\.mjs$/ }, ({ path, resolveDir }) => ({
      path: resolve(resolveDir, path),
      external: true,
    }));
    // Every other bare import is a dependency: loaded from node_modules at run time, from where the importing
    // package finds it (its own dependencies, under pnpm), as Node would resolve it for an `import`.
    b.onResolve({ filter: /^[^./]/ }, async ({ kind, path, pluginData, resolveDir }) => {
      if (pluginData?.inner) return undefined;
      const found = await b.resolve(path, { kind, resolveDir, pluginData: { inner: true } });
      if (found.errors.length > 0) return { errors: found.errors };
      return { path: found.path, external: true };
    });
  },
};

await build({
  entryPoints: [entry],
  outfile: out,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  keepNames: false,
  // As Node resolves (`node`, `import`, `default`): without esbuild's default `module` condition, which would pick
  // ESM builds Node does not load (the SDK's `dist-es`).
  conditions: [],
  sourcemap: "inline",
  logLevel: "warning",
  plugins: [workspace],
});
let status = 1;
try {
  const run = spawnSync(process.execPath, [...nodeFlags, "--enable-source-maps", out, ...args.slice(at + 1)], {
    stdio: "inherit",
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...process.env },
  });
  status = run.status ?? 1;
} finally {
  rmSync(out, { force: true });
}
process.exit(status);
