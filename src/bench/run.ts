/**
 * The one benchmark runner, behind both `liveswap bench` and `npm run bench`
 * (which runs `liveswap bench`): runs the named benchmarks (all of them when
 * none is named) in order and prints their results.
 *
 * A benchmark reports its figures and whether the project's targets are met;
 * a missed target never fails the run (benchmarks never fail the build). A
 * benchmark that throws is a bug: the runner reports it, goes on with the
 * next one and answers false at the end.
 *
 * Adding a benchmark: write a function returning a BenchmarkOutput and add it
 * to BENCHMARKS below.
 */
import { durableBenchmark } from "./durable.js";
import { outboxBenchmark } from "./outbox.js";
import { realtimeBenchmark } from "./realtime.js";
import { simSpeedBenchmark } from "./sim-speed.js";
import { storeBenchmark } from "./store.js";
import { tcpBenchmark } from "./tcp.js";
import { traceRetentionBenchmark } from "./trace-retention.js";
import { disruptionBenchmark, overheadBenchmark, scaleBenchmark } from "./update-benches.js";
import { fixed } from "./format.js";
import { progressDisplay } from "./progress.js";

export type { BenchOptions, BenchmarkOutput, Benchmark } from "./benchmark.js";
import type { BenchOptions, Benchmark } from "./benchmark.js";

export const BENCHMARKS: readonly Benchmark[] = [
  {
    name: "sim-speed",
    description: "events/s of the simulated runtime (trace off and on) against a bare heap loop doing the same deliveries",
    run: () => simSpeedBenchmark(),
  },
  {
    name: "disruption",
    description: "the paper's experiment, every strategy, several seeds: throughput, latency, H-G vs bound, blocked time, costs",
    run: disruptionBenchmark,
  },
  {
    name: "scale",
    description: "random graphs of 10,000 / 100,000 / 1,000,000 nodes updated with conservative and cut: build and update wall time, peak RSS, H-G vs bound (target: cut at 1M under 30 s and 4 GB)",
    run: (_o, progress) => scaleBenchmark(progress),
  },
  {
    name: "overhead",
    description: "steady state: a plain system against systems whose strategy machinery is idle (target ratio 1.0)",
    run: (_o, progress) => overheadBenchmark(progress),
  },
  {
    name: "tcp",
    description: "node processes over TCP: ping-pong messages/s against a raw net echo with the same framing (target ratio 0.5), swap pause p99 (target 5 ms)",
    run: (_o, progress) => tcpBenchmark(progress),
  },
  {
    name: "store",
    description: "the node store on this disk: commit latency p50/p99 at 1, 10, 100 entries per fsync, entries/s, against a bare append + fdatasync",
    run: (_o, progress) => Promise.resolve(storeBenchmark(progress !== undefined ? { progress } : {})),
  },
  {
    name: "durable",
    description: "2 node processes over TCP with a store each on this disk against the same in memory: messages/s ratio (target 0.5), entries per fsync, commit p50/p99; recovery of a node with 10,000 entries after SIGKILL",
    run: (_o, progress) => durableBenchmark(progress !== undefined ? { onStep: progress } : {}),
  },
  {
    name: "trace-retention",
    description: "2 node processes over TCP with traceRetention 256 KiB segments / 2 MiB: 200,000 messages rotate the trace many times; bytes on disk at every sample against the bound, ctl trace from the horizon",
    run: (_o, progress) => traceRetentionBenchmark(progress !== undefined ? { progress } : {}),
  },
  {
    name: "outbox",
    description: "a sender's memory (VmRSS) with a neighbour frozen (SIGSTOP) under 300k messages: before / peak / end, spill bytes, Busy refusals, all delivered after SIGCONT; bounds on, memory bound lifted, durable nodes (target peak <= +40 MB with the bounds on)",
    run: (_o, progress) => outboxBenchmark(progress),
  },
  {
    name: "realtime",
    description: "the paper's experiment on real processes (7 replicas over TCP, 1-10 ms links, 200 global reads/s), every strategy, beside Erlang/OTP's hot upgrade of it when erl is installed: null reads, dropped writes, throughput before / during / after, update ms, max pause",
    run: realtimeBenchmark,
  },
];

/** `--list`: one line per benchmark. */
export function benchmarkList(): string[] {
  return BENCHMARKS.map((b) => `${b.name.padEnd(12)} ${b.description}`);
}

/** The names that are no benchmark (empty when all are known). */
export function unknownBenchmarks(names: readonly string[]): string[] {
  return names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
}

/** Runs the chosen benchmarks, printing through `out`; false when one of them threw. */
export async function runBenchmarks(o: BenchOptions, out: (line: string) => void): Promise<boolean> {
  const chosen = o.names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => o.names.includes(b.name));
  let ok = true;
  for (const b of chosen) {
    // Progress goes to stderr so that --json leaves stdout to the JSON lines.
    process.stderr.write(`bench: running ${b.name}...\n`);
    const display = o.json ? undefined : progressDisplay("steps");
    const start = process.hrtime.bigint();
    try {
      const result = await b.run(o, display?.step);
      display?.end();
      const durationMs = Math.round(Number(process.hrtime.bigint() - start) / 1e6);
      if (o.json) for (const r of result.records) out(JSON.stringify({ benchmark: b.name, durationMs, ...r }));
      else {
        out(`${b.name} (${fixed(durationMs / 1000, 1)} s)`);
        for (const line of result.lines) out(line);
      }
    } catch (e) {
      display?.end();
      ok = false;
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      out(o.json ? JSON.stringify({ benchmark: b.name, error }) : `${b.name}: FAILED\n${error}`);
    }
  }
  return ok;
}
