// Shared by the packages' benchmarks: options, rounds that alternate the variants, medians with their spread over
// the rounds, and a `met` / `not met` verdict per target. Every figure a benchmark judges is a ratio of two variants
// measured in the same run (per round, then the median of the rounds' ratios), so that drift on a shared, noisy
// machine falls on both alike.

/**
 * A numeric option: `--name value` or `--name=value` on the command line, else `BENCH_<NAME>` in the environment
 * (dashes as underscores), else the fallback.
 */
export const option = (name, fallback) => {
  const flag = `--${name}`;
  const argv = process.argv;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag && argv[i + 1] !== undefined) return Number(argv[i + 1]);
    if (argv[i].startsWith(`${flag}=`)) return Number(argv[i].slice(flag.length + 1));
  }
  const env = process.env[`BENCH_${name.toUpperCase().replace(/-/g, "_")}`];
  return env !== undefined && env !== "" ? Number(env) : fallback;
};

/** A string option, read like `option`. */
export const stringOption = (name, fallback) => {
  const flag = `--${name}`;
  const argv = process.argv;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag && argv[i + 1] !== undefined) return argv[i + 1];
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1);
  }
  const env = process.env[`BENCH_${name.toUpperCase().replace(/-/g, "_")}`];
  return env !== undefined && env !== "" ? env : fallback;
};

/** The q-quantile (0..1) by linear interpolation between the closest ranks. */
export const quantile = (xs, q) => {
  if (xs.length === 0) return Number.NaN;
  const sorted = Float64Array.from(xs).sort();
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
};

export const median = (xs) => quantile(xs, 0.5);

export const summarize = (xs) => ({
  n: xs.length,
  median: median(xs),
  min: xs.length === 0 ? Number.NaN : Math.min(...xs),
  max: xs.length === 0 ? Number.NaN : Math.max(...xs),
  p25: quantile(xs, 0.25),
  p75: quantile(xs, 0.75),
});

/**
 * A distribution-free confidence interval of the median (at least 95 %): the k-th smallest and k-th largest value,
 * for the largest k with P(Binomial(n, 1/2) < k) <= 2.5 %. Undefined when there are too few values (under 6).
 */
export const medianInterval = (xs) => {
  const n = xs.length;
  let below = 0; // P(Binomial(n, 1/2) < k), for k = 0, 1, ...
  let k = 0;
  let logTerm = -n * Math.LN2; // log P(X = k), in logs: 0.5 ** n underflows past n = 1074
  while (k < n / 2 && below + Math.exp(logTerm) <= 0.025) {
    below += Math.exp(logTerm);
    k++;
    logTerm += Math.log(n - k + 1) - Math.log(k);
  }
  if (k === 0) return undefined;
  const sorted = Float64Array.from(xs).sort();
  return { low: sorted[k - 1], high: sorted[n - k] };
};

/** Element-wise `a[i] / b[i]`: the ratio of each round. */
export const ratios = (a, b) => a.map((x, i) => x / b[i]);

/**
 * Runs `rounds` rounds of every variant, the order reversed every other round (A B, B A, ...), and returns each
 * variant's measurement per round. A variant returns its measurement (or a promise of it).
 */
export const alternate = async (rounds, variants) => {
  const names = Object.keys(variants);
  const results = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) results[name].push(await variants[name]());
  }
  return results;
};

const verdicts = [];

const fixed = (x, digits) => Number.isFinite(x) ? x.toFixed(digits) : String(x);

/**
 * Prints one judged ratio: the median over the rounds, its spread (min-max and interquartile range) and the
 * verdict (by the median), and records the verdict for `printVerdicts`. With 6 rounds or more it also prints a
 * confidence interval of the median: a target inside it is not settled either way by this run. With `floor` (the
 * same ratio, per round, for the floor of any Effect wrapper that aborts its request on interruption, against the
 * same baseline), a missed target also says whether that floor alone misses it: then no such wrapper could have met
 * it in this run. Returns whether the target was met.
 */
export const reportRatio = ({ label, ratios: xs, target, direction = "<=", digits = 3, floor }) => {
  const s = summarize(xs);
  const holds = (x) => direction === "<=" ? x <= target : x >= target;
  const met = holds(s.median);
  const floorMedian = floor === undefined ? undefined : median(floor);
  const note = met || floorMedian === undefined
    ? ""
    : ` (the interruptible floor alone: ${fixed(floorMedian, digits)}x${holds(floorMedian) ? "" : ", not met either"})`;
  verdicts.push({ label, median: s.median, target, direction, met, note });
  const interval = medianInterval(xs);
  console.log(
    `  ${label.padEnd(46)} ${fixed(s.median, digits)}x  spread ${fixed(s.min, digits)}-${fixed(s.max, digits)}`
      + ` (IQR ${fixed(s.p25, digits)}-${fixed(s.p75, digits)}, ${s.n} rounds`
      + (interval === undefined ? "" : `; median 95% CI ${fixed(interval.low, digits)}-${fixed(interval.high, digits)}`)
      + `)  target ${direction} ${target}x  `
      + (met ? "met" : "not met") + note,
  );
  return met;
};

/**
 * Prints one judged value that is not a ratio (a count, a multiple of some unit), like `reportRatio`; with `every`
 * the target holds for every round, not only the median.
 */
export const reportValue = ({ label, values, target, direction = "<=", unit = "", digits = 2, every = false }) => {
  const s = summarize(values);
  const judged = every ? (direction === "<=" ? s.max : s.min) : s.median;
  const met = direction === "<=" ? judged <= target : judged >= target;
  verdicts.push({ label, median: s.median, target, direction, met, note: "" });
  console.log(
    `  ${label.padEnd(46)} ${fixed(s.median, digits)}${unit}  spread ${fixed(s.min, digits)}-${fixed(s.max, digits)}`
      + ` (${s.n} rounds)  target ${direction} ${target}${unit}${every ? " in every round" : ""}  `
      + (met ? "met" : "not met"),
  );
  return met;
};

/** Prints an unjudged measurement with its median and spread over the rounds. */
export const reportInfo = ({ label, values, unit = "", digits = 1 }) => {
  const s = summarize(values);
  console.log(
    `  ${label.padEnd(46)} ${fixed(s.median, digits)}${unit}  spread ${fixed(s.min, digits)}-${fixed(s.max, digits)}`
      + ` (${s.n} rounds)`,
  );
};

/** Prints the verdicts recorded so far, one line each; sets a non-zero exit code only when `strict`. */
export const printVerdicts = (title, { strict = false } = {}) => {
  const failed = verdicts.filter((v) => !v.met);
  console.log(`${title}: ${verdicts.length - failed.length}/${verdicts.length} targets met`);
  for (const v of verdicts) console.log(`  ${v.met ? "met    " : "not met"}  ${v.label}${v.note}`);
  if (strict && failed.length > 0) process.exitCode = 1;
};
