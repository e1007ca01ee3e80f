#!/usr/bin/env node
// Summarises a V8 CPU profile (`node --cpu-prof` writes `*.cpuprofile`): the functions with the most self time, as a
// share of the samples that were not idle, and the same grouped by package (the `node_modules` package, the
// workspace package, or node's internals).
// - `--calls N`: the calls the profiled run made; each line then also says how many µs of it one call costs.
// - `--package name`: only that package's functions are listed.
// - `--baseline other.cpuprofile` (with `--calls`, and `--baseline-calls` if the baseline made another number of
//   calls): what the profile costs per call more than the baseline, by package and by function.
//
//   node scripts/cpuprofile-top.mjs <file.cpuprofile> [--top 25] [--calls 30000] [--package effect]
//     [--baseline bare.cpuprofile [--baseline-calls 30000]]
import { readFileSync } from "node:fs";

const argument = (name) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const [file] = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--"));
const top = Number(argument("--top") ?? 25);
const calls = argument("--calls") === undefined ? undefined : Number(argument("--calls"));
const onlyPackage = argument("--package");
const baselineFile = argument("--baseline");
const baselineCalls = Number(argument("--baseline-calls") ?? calls);
if (file === undefined || (baselineFile !== undefined && calls === undefined)) {
  console.error(
    "usage: node scripts/cpuprofile-top.mjs <file.cpuprofile> [--top 25] [--calls N] [--package name] "
      + "[--baseline other.cpuprofile (needs --calls) [--baseline-calls N]]",
  );
  process.exit(2);
}

// Not work: the profiler's own buckets for time spent waiting.
const idle = new Set(["(idle)", "(program)"]);

const packageOf = (name, url) => {
  if (name === "(garbage collector)") return name;
  if (url === "") return "(native)";
  const pnpm = url.match(/node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pnpm) return pnpm[1];
  const workspace = url.match(/packages\/([^/]+)\//);
  if (workspace) return `@aws-resilience/${workspace[1]}`;
  if (url.startsWith("node:")) return "node";
  return url.replace(/^file:\/\//, "");
};
const shortUrl = (url) =>
  url
    .replace(/^file:\/\//, "")
    .replace(/.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, "")
    .replace(/.*\/packages\//, "");

const load = (path) => {
  const profile = JSON.parse(readFileSync(path, "utf8"));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map();
  const packages = new Map();
  let busy = 0;
  let total = 0;
  let gc = 0;
  for (const [id, micros] of self) {
    const { callFrame } = byId.get(id);
    total += micros;
    const name = callFrame.functionName || "(anonymous)";
    if (idle.has(name)) continue;
    if (name === "(garbage collector)") gc += micros;
    busy += micros;
    const pkg = packageOf(name, callFrame.url);
    const key = `${name}  ${shortUrl(callFrame.url)}${callFrame.url === "" ? "" : `:${callFrame.lineNumber + 1}`}`;
    if (onlyPackage === undefined || onlyPackage === pkg) functions.set(key, (functions.get(key) ?? 0) + micros);
    packages.set(pkg, (packages.get(pkg) ?? 0) + micros);
  }
  return { busy, total, gc, functions, packages };
};

const sorted = (map) => [...map].sort((a, b) => b[1] - a[1]);
const run = load(file);
const share = (x) => `${((100 * x) / run.busy).toFixed(1).padStart(5)}%`;
const perCall = (x, n = calls) => (n === undefined ? "" : ` ${(x / n).toFixed(1).padStart(6)} µs/call`);

console.log(file);
console.log(
  `  ${(run.total / 1000).toFixed(0)} ms sampled, ${(run.busy / 1000).toFixed(0)} ms busy${perCall(run.busy)}, `
    + `garbage collector ${share(run.gc)}`,
);
console.log(`  top ${top} by self time${onlyPackage === undefined ? "" : ` in ${onlyPackage}`} (share of busy time):`);
for (const [key, micros] of sorted(run.functions).slice(0, top)) {
  console.log(`  ${share(micros)}${perCall(micros)}  ${key}`);
}
console.log("  by package:");
for (const [pkg, micros] of sorted(run.packages).slice(0, 15)) {
  console.log(`  ${share(micros)}${perCall(micros)}  ${pkg}`);
}

if (baselineFile !== undefined) {
  const base = load(baselineFile);
  const difference = (ours, theirs) => {
    const keys = new Set([...ours.keys(), ...theirs.keys()]);
    return new Map([...keys].map((k) => [k, (ours.get(k) ?? 0) / calls - (theirs.get(k) ?? 0) / baselineCalls]));
  };
  const line = (x) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`.padStart(7);
  console.log(
    `  against ${baselineFile}: ${line(run.busy / calls - base.busy / baselineCalls)} µs/call busy `
      + `(${(run.busy / calls).toFixed(0)} vs ${(base.busy / baselineCalls).toFixed(0)})`,
  );
  console.log("  by package (µs/call more than the baseline):");
  for (const [pkg, d] of sorted(difference(run.packages, base.packages)).slice(0, 10)) {
    console.log(`  ${line(d)}  ${pkg}`);
  }
  console.log(`  top ${top} functions (µs/call more than the baseline):`);
  for (const [key, d] of sorted(difference(run.functions, base.functions)).slice(0, top)) {
    console.log(`  ${line(d)}  ${key}`);
  }
}
