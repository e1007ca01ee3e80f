#!/usr/bin/env node
// The Lambda bundle benchmark. Bundles the handlers in `fixtures/` with esbuild as a Lambda user would
// (`--bundle --platform=node --minify --format=esm`), prints each bundle's size as a ratio to the bare-SDK handler,
// then loads each bundle in a fresh `node` process, alternating the variants over rounds, and compares the time
// from the start of the import to "ready" (module load plus layer build; the resilient handler builds its layers at
// load). Targets: bundle <= 1.35x and load <= 1.5x the bare handler's.
//
// The workspace packages are bundled from their sources (`exports` point at `src/*.ts`), resolved by name as the
// package would resolve itself, so the `exports` maps are honoured exactly as a user's bundler would see them.
//
//   node bench/bundle/run.mjs [--rounds 15] [--analyze] [--out dir]
import * as esbuild from "esbuild";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

const root = join(import.meta.dirname, "..", "..");
const fixtures = join(import.meta.dirname, "fixtures");
const argument = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
};
const rounds = Math.max(15, Number(argument("--rounds", 15)));
const out = argument("--out", undefined) ?? mkdtempSync(join(tmpdir(), "bench-bundle-"));
mkdirSync(out, { recursive: true });

const targets = { size: 1.35, load: 1.5 };

// `measured`: the handlers the targets are about. The others are there to itemise the cost.
const variants = [
  { name: "bare", entry: "bare.ts", what: "bare SDK: PutItem + SendMessage, clients built at module scope" },
  {
    name: "resilient",
    entry: "resilient.ts",
    what: "the README's imports: EventStore.put + EventQueue.enqueue, layers built at load",
    measured: true,
  },
  { name: "deep", entry: "resilientDeep.ts", what: "the same handler with deep `effect/X` imports" },
  { name: "effect-only", entry: "effectOnly.ts", what: "bare SDK + the README's `effect` imports, no aws-resilience" },
];

// `@aws-resilience/<name>` resolves as that package resolves itself (a self-reference through its `exports`).
const workspace = {
  name: "workspace",
  setup(build) {
    build.onResolve({ filter: /^@aws-resilience\/[^/]+/ }, (args) => {
      if (args.pluginData === "workspace") return undefined;
      const name = args.path.split("/")[1];
      return build.resolve(args.path, {
        kind: args.kind,
        resolveDir: join(root, "packages", name),
        pluginData: "workspace",
      });
    });
  },
};

const kb = (bytes) => (bytes / 1000).toFixed(0);

const bundle = async (variant) => {
  const outfile = join(out, `${variant.name}.mjs`);
  const result = await esbuild.build({
    entryPoints: [join(fixtures, variant.entry)],
    bundle: true,
    platform: "node",
    minify: true,
    format: "esm",
    outfile,
    metafile: true,
    logLevel: "warning",
    absWorkingDir: root,
    // The SDK's CommonJS builds `require` Node built-ins, which an ESM bundle can only do through this banner (as
    // Lambda bundlers such as CDK's NodejsFunction add it).
    banner: { js: "import{createRequire}from\"node:module\";const require=createRequire(import.meta.url);" },
    plugins: [workspace],
  });
  writeFileSync(join(out, `${variant.name}.meta.json`), JSON.stringify(result.metafile));
  const bytes = Object.values(result.metafile.outputs)[0].bytes;
  return { ...variant, outfile, bytes, metafile: result.metafile };
};

// What each package contributes to a bundle, in bytes of output.
const byPackage = (metafile) => {
  const sizes = new Map();
  for (const [file, { bytesInOutput }] of Object.entries(Object.values(metafile.outputs)[0].inputs)) {
    const at = file.lastIndexOf("node_modules/");
    const key = at >= 0
      ? /^((?:@[^/]+\/)?[^/]+)/.exec(file.slice(at + "node_modules/".length))[1]
      : file.replace(/^packages\/([^/]+)\/.*/, "@aws-resilience/$1");
    sizes.set(key, (sizes.get(key) ?? 0) + bytesInOutput);
  }
  return sizes;
};

const built = [];
for (const variant of variants) built.push(await bundle(variant));
const bare = built.find((b) => b.name === "bare");
const measured = built.find((b) => b.measured);

console.log(`esbuild ${esbuild.version}, --bundle --platform=node --minify --format=esm; bundles in ${out}\n`);
console.log("bundle size");
for (const b of built) {
  console.log(`  ${b.name.padEnd(12)} ${kb(b.bytes).padStart(6)} KB  ${(b.bytes / bare.bytes).toFixed(2)}x  ${b.what}`);
}

// What the measured handler carries beyond the bare one, by package: how much of it the README's `effect` imports
// cost by themselves (the effect-only handler), and what aws-resilience adds on top.
const floor = built.find((b) => b.name === "effect-only");
const sizesOf = (b) => byPackage(b.metafile);
const [bareSizes, floorSizes, measuredSizes] = [bare, floor, measured].map(sizesOf);
const rows = [...new Set([...floorSizes.keys(), ...measuredSizes.keys()])]
  .map((name) => {
    const base = bareSizes.get(name) ?? 0;
    const total = (measuredSizes.get(name) ?? 0) - base;
    const barrel = Math.min(total, (floorSizes.get(name) ?? 0) - base);
    return { name, total, barrel, ours: total - barrel };
  })
  .filter((row) => Math.abs(row.total) >= 1000)
  .sort((a, b) => b.total - a.total);
console.log(
  `\n${measured.name} beyond bare, by package (KB): all, of which the effect barrel alone, of which aws-resilience`,
);
for (const row of rows) {
  console.log(`  ${kb(row.total).padStart(6)} ${kb(row.barrel).padStart(6)} ${kb(row.ours).padStart(6)}  ${row.name}`);
}
const sum = (key) => rows.reduce((n, row) => n + row[key], 0);
console.log(
  `  ${kb(sum("total")).padStart(6)} ${kb(sum("barrel")).padStart(6)} ${kb(sum("ours")).padStart(6)}  (listed)`,
);
if (process.argv.includes("--analyze")) {
  console.log(await esbuild.analyzeMetafile(measured.metafile, { verbose: false }));
}

// Module load plus layer build, in fresh processes.
const run = promisify(execFile);
const loader = join(import.meta.dirname, "load.mjs");
const env = {
  PATH: process.env.PATH,
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  AWS_EC2_METADATA_DISABLED: "true",
  ORDERS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
};
const loadOnce = async (b) => {
  try {
    const { stdout } = await run(process.execPath, [loader, pathToFileURL(b.outfile).href], { env });
    return JSON.parse(stdout);
  } catch (error) {
    console.error(`loading ${b.outfile} failed:\n${String(error.stderr ?? error).slice(-2000)}`);
    process.exit(1);
  }
};

const samples = new Map(built.map((b) => [b.name, { load: [], cpu: [], total: [] }]));
// One unrecorded round warms the file cache; then each round runs every variant once, in a rotated order.
for (let round = -1; round < rounds; round++) {
  const order = built.map((_, i) => built[(i + Math.max(round, 0)) % built.length]);
  for (const b of order) {
    const { cpu, ready, start } = await loadOnce(b);
    if (round < 0) continue;
    samples.get(b.name).load.push(ready - start);
    samples.get(b.name).cpu.push(cpu);
    samples.get(b.name).total.push(ready);
  }
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
};
const ms = (x) => x.toFixed(1);
const table = (title, key) => {
  console.log(`\n${title} (ms, ${rounds} rounds: median, p25-p75, min-max)`);
  const baseline = quantile(samples.get("bare")[key], 0.5);
  for (const b of built) {
    const xs = samples.get(b.name)[key];
    const median = quantile(xs, 0.5);
    console.log(
      `  ${b.name.padEnd(12)} ${ms(median).padStart(7)}  ${ms(quantile(xs, 0.25))}-${ms(quantile(xs, 0.75))}`
        + `  ${ms(Math.min(...xs))}-${ms(Math.max(...xs))}  ${(median / baseline).toFixed(2)}x`,
    );
  }
};
table("module load + layer build: wall clock from import start to ready", "load");
table("module load + layer build: CPU time (steadier than the wall clock on a busy machine)", "cpu");
table("process start to ready: wall clock, Node's own start-up included", "total");

const sizeRatio = measured.bytes / bare.bytes;
const ratioOf = (key) => quantile(samples.get(measured.name)[key], 0.5) / quantile(samples.get("bare")[key], 0.5);
const verdict = (ratio, target) =>
  `${ratio.toFixed(2)}x (target <= ${target}x): ${ratio <= target ? "met" : "not met"}`;
console.log(`\n${measured.name} vs bare`);
console.log(`  bundle size                 ${verdict(sizeRatio, targets.size)}`);
console.log(`  module load + layer build   ${verdict(ratioOf("load"), targets.load)} (wall-clock medians)`);
console.log(`                              ${ratioOf("cpu").toFixed(2)}x in CPU time`);
