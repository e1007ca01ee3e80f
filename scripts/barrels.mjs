#!/usr/bin/env node
// Writes each package's src/index.ts: one namespace re-export per public module (a PascalCase file in src/), so
// the barrels never drift from the modules. `--check` fails instead of writing when a barrel is out of date.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const check = process.argv.includes("--check");
const root = join(import.meta.dirname, "..", "packages");
let stale = 0;
for (const name of readdirSync(root)) {
  const manifest = JSON.parse(readFileSync(join(root, name, "package.json"), "utf8"));
  if (manifest.private === true) continue;
  const src = join(root, name, "src");
  let files;
  try {
    files = readdirSync(src);
  } catch {
    continue;
  }
  const modules = files.filter((f) => /^[A-Z][A-Za-z0-9]*\.ts$/.test(f)).map((f) => f.slice(0, -3)).sort();
  if (modules.length === 0) continue;
  const text = modules.map((m) => `/**\n * @since 0.1.0\n */\nexport * as ${m} from "./${m}.js"\n`).join("\n");
  const file = join(src, "index.ts");
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    current = "";
  }
  if (current === text) continue;
  stale++;
  if (check) console.error(`${file} is out of date: run node scripts/barrels.mjs`);
  else writeFileSync(file, text);
}
if (check && stale > 0) process.exit(1);
