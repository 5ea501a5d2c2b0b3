import type { Strategy } from "../core/update.js";
import type { ProgressStep } from "./progress.js";

export interface BenchOptions {
  /** The benchmarks to run, in BENCHMARKS order; empty runs every one. */
  readonly names: readonly string[];
  /** One JSON object per line on stdout instead of the human-readable report. */
  readonly json: boolean;
  /** Disruption: the strategies, seeds 1..seeds, the experiment's size, and where report.md / report.html go. */
  readonly strategies: readonly Strategy[];
  readonly seeds: number;
  readonly nodes: number;
  readonly entries: number;
  readonly report?: string;
  /** Realtime: global reads a second from r0, in both halves (default 200, the paper's). */
  readonly rate?: number;
}

/** One figure the project sets a target for (issue 17): printed beside it, met or not, and carried by --json. */
export interface TargetFigure {
  /** What is measured, e.g. "trace on / bare loop (events/s ratio)". */
  readonly figure: string;
  readonly value: number;
  /** How the value is printed: its unit ("ms", "s", "MB") or "" for a ratio. */
  readonly unit: string;
  /** The target as text, e.g. ">= 0.5" or "< 30 s". */
  readonly goal: string;
  readonly met: boolean;
}

export interface BenchmarkOutput {
  /** The JSON lines (the runner adds the benchmark's name to each). */
  readonly records: readonly object[];
  /** The human-readable report. */
  readonly lines: readonly string[];
  /** The figures with a target: the runner prints them together at the end, and one JSON line each. */
  readonly targets?: readonly TargetFigure[];
}

/** A target figure: `value` compared with `limit` by `op`. */
export function targetFigure(figure: string, value: number, op: ">=" | "<", limit: number, unit = ""): TargetFigure {
  const u = unit === "" ? "" : ` ${unit}`;
  return { figure, value, unit, goal: `${op} ${limit}${u}`, met: op === ">=" ? value >= limit : value < limit };
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(o: BenchOptions, progress?: ProgressStep): Promise<BenchmarkOutput>;
}
