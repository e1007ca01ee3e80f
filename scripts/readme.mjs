#!/usr/bin/env node
// Keeps the README's code samples type-checked: a block preceded by `<!-- snippet: path -->` must equal that file,
// which `pnpm check` compiles. `--write` copies the files into the README; without it, a stale block fails.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const readme = join(root, "README.md");
const text = readFileSync(readme, "utf8");
const snippet = /<!-- snippet: (\S+) -->\n```ts\n([\s\S]*?)```/g;
let stale = 0;
const updated = text.replace(snippet, (whole, path, code) => {
  const source = readFileSync(join(root, path), "utf8");
  if (source === code) return whole;
  stale++;
  console.error(`README.md: the sample from ${path} differs from the file`);
  return `<!-- snippet: ${path} -->\n\`\`\`ts\n${source}\`\`\``;
});
if (process.argv.includes("--write")) writeFileSync(readme, updated);
else if (stale > 0) process.exit(1);
