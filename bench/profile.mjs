#!/usr/bin/env node
// CPU profiles of the loopback benchmark (`packages/core/bench/loopback.bench.ts`): the bare client alone, then ours
// alone, each under `node --cpu-prof`, and what ours costs per call more than the bare client, by package and by
// function (`scripts/cpuprofile-top.mjs`). The forked server is not profiled.
//
//   node bench/profile.mjs [--calls 15000] [--out dir] [--top 25]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const core = join(root, "packages", "core");
const argument = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
};
const calls = Number(argument("--calls", 15000));
const top = argument("--top", "25");
const out = argument("--out", undefined) ?? mkdtempSync(join(tmpdir(), "bench-profile-"));

const profile = (variant) => {
  const dir = join(out, variant);
  execFileSync(
    process.execPath,
    [
      join(root, "bench", "lib", "run.mjs"),
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      "bench/loopback.bench.ts",
      "--only",
      variant,
      "--calls",
      String(calls),
    ],
    { cwd: core, stdio: "inherit", env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" } },
  );
  // The main thread's profile; the others are the module loader's worker.
  const main = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort()[0];
  return join(dir, main);
};

const bare = profile("bare");
const ours = profile("ours");
// Each run makes a warm-up pass and a measured pass of `calls` calls.
execFileSync(
  process.execPath,
  [join(root, "scripts", "cpuprofile-top.mjs"), ours, "--calls", String(2 * calls), "--top", top, "--baseline", bare],
  { stdio: "inherit" },
);
console.log(`profiles in ${out}`);
