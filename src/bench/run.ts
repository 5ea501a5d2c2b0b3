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
import { codecBenchmark } from "./codec.js";
import { durableBenchmark } from "./durable.js";
import { outboxBenchmark } from "./outbox.js";
import { realtimeBenchmark } from "./realtime.js";
import { simSpeedBenchmark } from "./sim-speed.js";
import { storeBenchmark } from "./store.js";
import { moveBenchmark } from "./move.js";
import { consoleOverheadBenchmark } from "./console-overhead.js";
import { swapPauseBenchmark } from "./swap-pause.js";
import { tcpBenchmark } from "./tcp.js";
import { traceRetentionBenchmark } from "./trace-retention.js";
import { disruptionBenchmark, overheadBenchmark, scaleBenchmark } from "./update-benches.js";
import { fixed } from "./format.js";
import { progressDisplay } from "./progress.js";

export type { BenchOptions, BenchmarkOutput, Benchmark, TargetFigure } from "./benchmark.js";
import type { BenchOptions, Benchmark, TargetFigure } from "./benchmark.js";

export const BENCHMARKS: readonly Benchmark[] = [
  {
    name: "sim-speed",
    description: "events/s of the simulated runtime (trace off and on, simulated store off and on) against a bare heap loop doing the same deliveries (target >= 0.5 of bare)",
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
    description: "two node processes over plain TCP and over mutual TLS, each against a raw socket with the same framing, codec and TLS settings: pipelined messages/s (n pings at once; target ratio 0.85 plain, 0.8 mutual TLS), latency-bound round trips/s (one message in flight; reported); swap pause p99 (target 5 ms)",
    run: (_o, progress) => tcpBenchmark(progress),
  },
  {
    name: "swap-pause",
    description: "3 replicated-db node processes over TCP, 38 and 2,000 entries each, 3 runs of 60 swaps each (every key converted): one node's swap pause (its swapping step, wall clock) p50/p99 in parts (target p99 < 1 ms)",
    run: (_o, progress) => swapPauseBenchmark(progress),
  },
  {
    name: "move",
    description: "ctl move of the middle of 5 replicated-db node processes (10,000 entries each, mutual TLS, stores) 8 times under load: how long the node is unavailable (p50/p99), ctl move's time, global reads/s during the moves against before",
    run: (_o, progress) => moveBenchmark(progress),
  },
  {
    name: "console-overhead",
    description: "two pump node processes with metrics and a console attached against bare ones, nobody watching (target: cost <= 2% of messages/s), and watched (scraped every second, a page's stream open; reported)",
    run: (_o, progress) => consoleOverheadBenchmark(progress),
  },
  {
    name: "codec",
    description: "the wire codecs: encode+decode/s and bytes of a plain data frame and of a Map/Set strategy control message, msgpack (default) against JSON, and the ratio",
    run: () => Promise.resolve(codecBenchmark()),
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
  const targets: { readonly benchmark: string; readonly t: TargetFigure }[] = [];
  for (const b of chosen) {
    // Progress goes to stderr so that --json leaves stdout to the JSON lines.
    process.stderr.write(`bench: running ${b.name}...\n`);
    const display = o.json ? undefined : progressDisplay("steps");
    const start = process.hrtime.bigint();
    try {
      const result = await b.run(o, display?.step);
      display?.end();
      const durationMs = Math.round(Number(process.hrtime.bigint() - start) / 1e6);
      for (const t of result.targets ?? []) targets.push({ benchmark: b.name, t });
      if (o.json) {
        for (const r of result.records) out(JSON.stringify({ benchmark: b.name, durationMs, ...r }));
        for (const t of result.targets ?? []) out(JSON.stringify({ benchmark: b.name, target: t.figure, value: t.value, unit: t.unit, goal: t.goal, met: t.met }));
      } else {
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
  if (!o.json && targets.length > 0) for (const line of targetTable(targets)) out(line);
  return ok;
}

/** Every figure with a target, beside it, met or not: the run's summary. */
export function targetTable(targets: readonly { readonly benchmark: string; readonly t: TargetFigure }[]): string[] {
  const met = targets.filter((x) => x.t.met).length;
  const value = (t: TargetFigure): string => `${Number.isInteger(t.value) ? t.value : fixed(t.value, Math.abs(t.value) < 10 ? 3 : 1)}${t.unit === "" ? "" : ` ${t.unit}`}`;
  const w = Math.max(...targets.map((x) => `${x.benchmark}: ${x.t.figure}`.length));
  return [
    `targets (${met} of ${targets.length} met):`,
    ...targets.map(({ benchmark, t }) => `  ${`${benchmark}: ${t.figure}`.padEnd(w)}  ${value(t).padStart(10)}  target ${t.goal.padEnd(10)} ${t.met ? "met" : "NOT met"}`),
  ];
}
