/** The update benchmarks of `npm run bench`: disruption (the paper's experiment), scale, steady-state overhead. */
import type { Strategy } from "../index.js";
import { measureDisruption, type StrategyDisruption } from "./disruption.js";
import { measureOverhead } from "./overhead.js";
import { runScaleInChild, type ScaleResult } from "./scale.js";
import type { BenchmarkOutput, Metric, Progress } from "./run.js";

const ALL: readonly Strategy[] = ["naive", "snapshot", "synchronizer", "conservative", "rollback", "cut"];
const f0 = (x: number): string => x.toFixed(0);
const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);

export function disruptionLines(results: readonly StrategyDisruption[]): string[] {
  const lines = [
    "virtual time (exact): throughput req/s before/during/after (ratio), latency p50/p99/max ms in each window, H-G vs bound, blocked ms/node",
  ];
  for (const r of results) {
    const l = r.latency;
    lines.push(
      `  ${r.strategy.padEnd(13)} ${f0(r.throughput.before)}/${f0(r.throughput.during)}/${f0(r.throughput.after)} (${f2(r.throughput.ratio)})` +
        `  lat ${f0(l.before.p50)}/${f0(l.before.p99)}/${f0(l.before.max)} | ${f0(l.during.p50)}/${f0(l.during.p99)}/${f0(l.during.max)} | ${f0(l.after.p50)}/${f0(l.after.p99)}/${f0(l.after.max)}` +
        `  H-G ${f1(r.duration.mean)} vs ${f1(r.duration.bound)} (${f2(r.duration.ratioToBound)}x)` +
        `  blocked ${f1(r.blocked.meanPerNode)}/${f0(r.blocked.maxPerNode)}` +
        `  ctl ${f1(r.controlMessages)} held ${f1(r.heldMessages)} transformed ${f1(r.transformedMessages)} rolled back ${f1(r.rolledBackEvents)}` +
        `  null reads ${r.nullReads} violations ${r.violations}` +
        (r.rollback ? `  metadata ${f0(r.rollback.metadataBytesPerMessage)} B/msg, peak checkpoints ${r.rollback.peakCheckpoints}` : ""),
    );
  }
  lines.push("wall clock: " + results.map((r) => `${r.strategy} ${f0(r.wallMsPerRun)} ms/run`).join(", "));
  return lines;
}

export async function disruptionBenchmark(progress?: Progress): Promise<BenchmarkOutput> {
  const seeds = [1, 2, 3, 4, 5];
  const results = await measureDisruption({ strategies: ALL, seeds, ...(progress ? { onRun: progress } : {}) });
  const metrics: Record<string, Metric> = { seeds: seeds.length };
  for (const r of results) {
    metrics[`${r.strategy}.ratio`] = r.throughput.ratio;
    metrics[`${r.strategy}.durationMs`] = r.duration.mean;
    metrics[`${r.strategy}.boundMs`] = r.duration.bound;
    metrics[`${r.strategy}.duringP99Ms`] = r.latency.during.p99;
    metrics[`${r.strategy}.nullReads`] = r.nullReads;
    metrics[`${r.strategy}.violations`] = r.violations;
  }
  return { metrics, lines: disruptionLines(results) };
}

export function scaleLines(results: readonly ScaleResult[]): string[] {
  return results.map(
    (r) =>
      `  ${String(r.nodes).padStart(6)} nodes ${r.strategy.padEnd(12)} update ${f0(r.wallMs.update)} ms wall (build ${f0(r.wallMs.build)}, run ${f0(r.wallMs.run)})` +
      `  peak RSS ${f0(r.peakRssMb)} MB  ${f0(r.eventsPerSec)} events/s  H-G ${r.duration} ms vs bound ${f1(r.bound)} ms  ${r.controlMessages} control msgs`,
  );
}

export async function scaleBenchmark(progress?: Progress): Promise<BenchmarkOutput> {
  const sizes = [1000, 10000, 50000];
  const strategies: Strategy[] = ["conservative", "cut"];
  const results: ScaleResult[] = [];
  let done = 0;
  for (const n of sizes) {
    for (const s of strategies) {
      results.push(await runScaleInChild(n, s));
      progress?.(++done, sizes.length * strategies.length);
    }
  }
  const metrics: Record<string, Metric> = {};
  for (const r of results) {
    metrics[`${r.strategy}.${r.nodes}.updateWallMs`] = r.wallMs.update;
    metrics[`${r.strategy}.${r.nodes}.peakRssMb`] = r.peakRssMb;
    metrics[`${r.strategy}.${r.nodes}.durationMs`] = r.duration;
  }
  const tenK = results.filter((r) => r.nodes === 10000);
  const met = tenK.every((r) => r.wallMs.build + r.wallMs.run < 10_000 && r.peakRssMb < 2048);
  return {
    metrics: { ...metrics, target10kMet: met },
    lines: [...scaleLines(results), `  target (10,000 nodes: under 10 s of wall time and 2 GB RSS): ${met ? "met" : "NOT met"}`],
  };
}

export async function overheadBenchmark(progress?: Progress): Promise<BenchmarkOutput> {
  const results = await measureOverhead();
  progress?.(1, 1);
  const metrics: Record<string, Metric> = {};
  for (const r of results) metrics[`${r.strategy}.ratio`] = r.ratio;
  return {
    metrics,
    lines: [
      "  the same token workload (events/s, best of 5 interleaved rounds) on a plain system and on systems whose strategy machinery is idle (after one update):",
      ...results.map((r) => `  ${r.strategy.padEnd(15)} ${f0(r.eventsPerSec)} events/s  ratio ${f2(r.ratio)}`),
      "  target 1.0; the second plain system ('none (control)') shows the noise floor of this machine",
    ],
  };
}
