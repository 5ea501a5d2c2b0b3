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

export interface BenchmarkOutput {
  /** The JSON lines (the runner adds the benchmark's name to each). */
  readonly records: readonly object[];
  /** The human-readable report. */
  readonly lines: readonly string[];
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(o: BenchOptions, progress?: ProgressStep): Promise<BenchmarkOutput>;
}
