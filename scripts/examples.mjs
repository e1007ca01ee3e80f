#!/usr/bin/env node
// Type-checks every `@example` of the packages' public modules, as a user would write it: each example is written to
// `packages/<name>/.examples/` (a package can import itself by name through its `exports`) and compiled with the
// project's strict settings. Fails, naming the module, when an example does not compile.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const jsdoc = /\/\*\*[\s\S]*?\*\//g;
const fence = /@example\s*\n```ts\n([\s\S]*?)```/;

const sources = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? entry.name === "internal" || entry.name === "bin" ? [] : sources(join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [join(dir, entry.name)]
      : []
  );

let failed = false;
let total = 0;
for (const name of readdirSync(join(root, "packages"))) {
  const pkg = join(root, "packages", name);
  let files;
  try {
    files = sources(join(pkg, "src"));
  } catch {
    continue;
  }
  const out = join(pkg, ".examples");
  rmSync(out, { recursive: true, force: true });
  let count = 0;
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(jsdoc)) {
      const body = match[0].split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n");
      const code = fence.exec(body)?.[1];
      if (code === undefined) continue;
      mkdirSync(out, { recursive: true });
      const module = relative(join(pkg, "src"), file).replace(/\.ts$/, "").replace(/\//g, "_");
      writeFileSync(join(out, `${module}.${++count}.ts`), `// From ${relative(root, file)}\n${code}export {}\n`);
    }
  }
  if (count === 0) continue;
  total += count;
  writeFileSync(
    join(out, "tsconfig.json"),
    JSON.stringify({
      extends: "../../../tsconfig.base.json",
      compilerOptions: { noEmit: true, composite: false, declaration: false, noUnusedLocals: false },
      include: ["*.ts", "../../../types"],
    }),
  );
  try {
    execFileSync(process.execPath, [tsc, "-p", join(out, "tsconfig.json")], { stdio: "inherit" });
  } catch {
    failed = true;
  }
}
console.log(`${total} examples type-checked${failed ? ": some failed" : ""}`);
if (failed) process.exit(1);
