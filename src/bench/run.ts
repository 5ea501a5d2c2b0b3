/**
 * The benchmark runner behind `npm run bench`: runs the named benchmarks in
 * order and prints their results.
 *
 *   npm run bench                      every benchmark, human-readable
 *   npm run -s bench -- --json         one JSON object per benchmark per line on stdout
 *                                      (-s keeps npm's own banner off stdout)
 *   npm run bench -- sim-speed         only the benchmarks named
 *   npm run bench -- --list            the benchmarks there are
 *
 * A benchmark reports its figures and whether the project's targets are met;
 * a missed target never makes the process exit non-zero (benchmarks never
 * fail the build). A benchmark that throws is a bug: the runner reports it,
 * goes on with the next one and exits 1 at the end.
 *
 * Adding a benchmark: write a function returning a BenchmarkOutput and add it
 * to BENCHMARKS below.
 */
import { simSpeedBenchmark } from "./sim-speed.js";
import { disruptionBenchmark, overheadBenchmark, scaleBenchmark } from "./update-benches.js";
import { measureTcp } from "./tcp.js";

/** Called as a benchmark advances (done of total steps); the runner draws a bar on a terminal. */
export type Progress = (done: number, total: number) => void;

export type Metric = number | string | boolean;

export interface BenchmarkOutput {
  /** Flat figures, the JSON line's fields. */
  readonly metrics: Readonly<Record<string, Metric>>;
  /** The human-readable report. */
  readonly lines: readonly string[];
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(progress?: Progress): Promise<BenchmarkOutput>;
}

export const BENCHMARKS: readonly Benchmark[] = [
  {
    name: "sim-speed",
    description: "events/s of the simulated runtime (trace off and on) against a bare heap loop doing the same deliveries",
    run: () => simSpeedBenchmark(),
  },
  {
    name: "disruption",
    description: "the paper's experiment, every strategy, 5 seeds: throughput, latency, H-G vs bound, blocked time, costs",
    run: disruptionBenchmark,
  },
  {
    name: "scale",
    description: "random graphs of 1,000 / 10,000 / 50,000 nodes updated with conservative and cut: wall time, peak RSS, H-G vs bound",
    run: scaleBenchmark,
  },
  {
    name: "overhead",
    description: "steady state: a plain system against systems whose strategy machinery is idle (target ratio 1.0)",
    run: overheadBenchmark,
  },
  {
    name: "tcp",
    description: "node processes over TCP: ping-pong messages/s against a raw net echo with the same framing (target ratio 0.5), swap pause p99 (target 5 ms)",
    run: async (progress) => {
      const r = await measureTcp(progress ? { onStep: progress } : {});
      const p = r.swapPauseMs;
      return {
        metrics: { liveswapMsgsPerSec: r.liveswapMsgsPerSec, rawMsgsPerSec: r.rawMsgsPerSec, ratio: r.ratio, swapPauseP50Ms: p.p50, swapPauseP99Ms: p.p99, swapPauseMaxMs: p.max, swaps: r.swaps },
        lines: [
          `  messages between two node processes: ${r.liveswapMsgsPerSec.toFixed(0)}/s; raw net echo, same framing: ${r.rawMsgsPerSec.toFixed(0)}/s; ratio ${r.ratio.toFixed(2)} (target >= 0.5)`,
          `  swap pause over ${r.swaps} swaps: p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms, max ${p.max.toFixed(2)} ms, mean ${p.mean.toFixed(2)} ms (target p99 < 5 ms)`,
        ],
      };
    },
  },
];

interface Args {
  readonly json: boolean;
  readonly list: boolean;
  readonly names: readonly string[];
}

function parseArgs(argv: readonly string[]): Args {
  let json = false;
  let list = false;
  const names: string[] = [];
  for (const a of argv) {
    if (a === "--json") json = true;
    else if (a === "--list") list = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: npm run bench -- [--json] [--list] [name...]\n");
      process.exit(0);
    } else if (a.startsWith("-")) usage(`unknown option ${a}`);
    else names.push(a);
  }
  return { json, list, names };
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\nusage: npm run bench -- [--json] [--list] [name...]\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const b of BENCHMARKS) process.stdout.write(`${b.name.padEnd(12)} ${b.description}\n`);
    return;
  }
  const unknown = args.names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) usage(`unknown benchmark(s) ${unknown.join(", ")}; one of ${BENCHMARKS.map((b) => b.name).join(", ")}`);
  const chosen = args.names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => args.names.includes(b.name));
  let failed = false;
  for (const b of chosen) {
    // Progress goes to stderr so that --json leaves stdout to the JSON lines.
    process.stderr.write(`bench: running ${b.name}...\n`);
    const start = process.hrtime.bigint();
    const bar =
      process.stderr.isTTY && !args.json
        ? (done: number, total: number): void => {
            const width = 30;
            const filled = Math.round((done / total) * width);
            process.stderr.write(`\r  [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`);
            if (done === total) process.stderr.write("\n");
          }
        : undefined;
    try {
      const out = await b.run(bar);
      const durationMs = Math.round(Number(process.hrtime.bigint() - start) / 1e6);
      if (args.json) {
        process.stdout.write(JSON.stringify({ benchmark: b.name, durationMs, ...out.metrics }) + "\n");
      } else {
        process.stdout.write(`${b.name} (${(durationMs / 1000).toFixed(1)} s)\n`);
        for (const line of out.lines) process.stdout.write(`${line}\n`);
      }
    } catch (e) {
      failed = true;
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      if (args.json) process.stdout.write(JSON.stringify({ benchmark: b.name, error }) + "\n");
      else process.stdout.write(`${b.name}: FAILED\n${error}\n`);
    }
  }
  if (failed) process.exitCode = 1;
}

await main();
