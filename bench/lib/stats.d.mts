// Types of `stats.mjs`, for the packages' TypeScript benchmarks.

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly p25: number;
  readonly p75: number;
}

export type Direction = "<=" | ">=";

export declare const option: (name: string, fallback: number) => number;
export declare const stringOption: (name: string, fallback: string) => string;
export declare const quantile: (xs: ReadonlyArray<number>, q: number) => number;
export declare const median: (xs: ReadonlyArray<number>) => number;
export declare const summarize: (xs: ReadonlyArray<number>) => Summary;
export declare const medianInterval: (
  xs: ReadonlyArray<number>,
) => { readonly low: number; readonly high: number } | undefined;
export declare const ratios: (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => Array<number>;
export declare const alternate: <K extends string>(
  rounds: number,
  variants: Record<K, () => number | Promise<number>>,
) => Promise<Record<K, Array<number>>>;
export declare const reportRatio: (options: {
  readonly label: string;
  readonly ratios: ReadonlyArray<number>;
  readonly target: number;
  readonly direction?: Direction;
  readonly digits?: number;
  /** The floor's ratio against the same baseline, per round: a missed target then says whether it misses too. */
  readonly floor?: ReadonlyArray<number>;
}) => boolean;
export declare const reportValue: (options: {
  readonly label: string;
  readonly values: ReadonlyArray<number>;
  readonly target: number;
  readonly direction?: Direction;
  readonly unit?: string;
  readonly digits?: number;
  readonly every?: boolean;
}) => boolean;
export declare const reportInfo: (options: {
  readonly label: string;
  readonly values: ReadonlyArray<number>;
  readonly unit?: string;
  readonly digits?: number;
}) => void;
export declare const printVerdicts: (title: string, options?: { readonly strict?: boolean }) => void;
