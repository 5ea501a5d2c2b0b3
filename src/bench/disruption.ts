/**
 * The paper's measurement (section 6, requirement 5): how much does an update
 * disrupt service? The paper's experiment for every strategy, several seeds
 * each: throughput and latency before / during / after the update, its
 * duration against the lower bound, how long nodes stood blocked, and what
 * the strategy spent. Virtual-time figures are exact and repeatable; the wall
 * clock is reported apart.
 */
import type { Strategy, TraceEvent } from "../index.js";
import { runExperiment, type ExperimentResult, type RequestSample } from "../scenarios/replicated-db/experiment.js";

export interface LatencyStats {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface WindowFigures<T> {
  readonly before: T;
  readonly during: T;
  readonly after: T;
}

/** One point of a timeline, for charts: requests answered in the bin (per virtual second) and their median latency. */
export interface TimelinePoint {
  readonly t: number;
  readonly throughput: number;
  readonly p50: number | null;
}

export interface StrategyDisruption {
  readonly strategy: Strategy;
  readonly seeds: readonly number[];
  /** Means over the seeds, answered requests per virtual second. */
  readonly throughput: WindowFigures<number> & { readonly ratio: number };
  /** Latency (virtual ms) of the requests issued in each window, pooled over the seeds. */
  readonly latency: WindowFigures<LatencyStats>;
  /**
   * H - G over the seeds, and the lower bound: the root's eccentricity x the
   * mean delay messages took in the run (FIFO channels under load), mean over
   * the seeds; `nominalBound` uses the network's configured mean delay instead.
   */
  readonly duration: {
    readonly mean: number;
    readonly min: number;
    readonly max: number;
    readonly bound: number;
    readonly ratioToBound: number;
    readonly nominalBound: number;
    readonly channelDelay: number;
  };
  /** Virtual ms a node held sends, buffered receives or stood frozen before turning new: mean over nodes and seeds, and the worst node. */
  readonly blocked: { readonly meanPerNode: number; readonly maxPerNode: number };
  readonly controlMessages: number;
  readonly heldMessages: number;
  readonly transformedMessages: number;
  readonly rolledBackEvents: number;
  readonly rollback?: { readonly metadataBytesPerMessage: number; readonly peakCheckpoints: number; readonly replayedEvents: number; readonly orphansDropped: number };
  readonly nullReads: number;
  readonly violations: number;
  readonly failedUpdates: number;
  /** Wall-clock ms per run (simulation speed, not disruption). */
  readonly wallMsPerRun: number;
  /** The first seed's run over virtual time, with its G and H. */
  readonly timeline: { readonly points: readonly TimelinePoint[]; readonly g: number; readonly h: number; readonly bin: number };
}

export interface DisruptionOptions {
  readonly strategies: readonly Strategy[];
  readonly seeds: readonly number[];
  readonly nodes?: number;
  readonly entries?: number;
  readonly onRun?: (done: number, total: number) => void;
}

export function latencyStats(values: readonly number[]): LatencyStats {
  if (values.length === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number };
}

/** Per node, virtual ms from its first hold, buffer or freeze in the update to its swap. */
export function blockedTimes(trace: readonly TraceEvent[]): Map<string, number> {
  const since = new Map<string, number>();
  const blocked = new Map<string, number>();
  const snapshot = trace.some((x) => x.kind === "update-start" && x.strategy === "snapshot");
  let running = false;
  for (const e of trace) {
    if (e.kind === "update-start") running = true;
    else if (e.kind === "update-end") running = false;
    if (!running) continue;
    const node =
      e.kind === "hold" || e.kind === "buffer"
        ? e.node
        : e.kind === "control-receive" && (e.signal === "freeze" || (e.signal === "start" && snapshot))
          ? e.node
          : undefined;
    if (node !== undefined && !since.has(node) && !blocked.has(node)) since.set(node, e.t);
    if (e.kind === "swap") {
      const from = since.get(e.node);
      blocked.set(e.node, from === undefined ? 0 : e.t - from);
      since.delete(e.node);
    }
  }
  return blocked;
}

function windowsOf(r: ExperimentResult): { g: number; h: number; l: number } | undefined {
  if ("error" in r.update) return undefined;
  const g = r.update.startedAt;
  const h = r.update.finishedAt;
  return { g, h, l: Math.max(h - g, 1) };
}

/** Latencies of the requests issued in the window [from, to) or [from, to], or (from, to] when `openStart`. */
function latenciesIn(samples: readonly RequestSample[], from: number, to: number, inclusive: boolean, openStart = false): number[] {
  return samples
    .filter((s) => s.answeredAt !== undefined && (openStart ? s.issuedAt > from : s.issuedAt >= from) && (inclusive ? s.issuedAt <= to : s.issuedAt < to))
    .map((s) => (s.answeredAt as number) - s.issuedAt);
}

function timeline(r: ExperimentResult, bin: number): StrategyDisruption["timeline"] {
  const w = windowsOf(r);
  const answered = r.samples.filter((s) => s.answeredAt !== undefined);
  const end = Math.max(0, ...answered.map((s) => s.answeredAt as number));
  const points: TimelinePoint[] = [];
  for (let t = 0; t <= end; t += bin) {
    const inBin = answered.filter((s) => (s.answeredAt as number) >= t && (s.answeredAt as number) < t + bin);
    const lat = latencyStats(inBin.map((s) => (s.answeredAt as number) - s.issuedAt));
    points.push({ t, throughput: (inBin.length / bin) * 1000, p50: lat.count === 0 ? null : lat.p50 });
  }
  return { points, g: w?.g ?? Number.NaN, h: w?.h ?? Number.NaN, bin };
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

export async function measureDisruption(o: DisruptionOptions): Promise<StrategyDisruption[]> {
  const out: StrategyDisruption[] = [];
  const total = o.strategies.length * o.seeds.length;
  let done = 0;
  for (const strategy of o.strategies) {
    const runs: ExperimentResult[] = [];
    const lat = { before: [] as number[], during: [] as number[], after: [] as number[] };
    const blockedAll: number[] = [];
    let wall = 0;
    let first: StrategyDisruption["timeline"] | undefined;
    for (const seed of o.seeds) {
      const t0 = performance.now();
      const r = await runExperiment({ strategy, seed, ...(o.nodes !== undefined ? { nodes: o.nodes } : {}), ...(o.entries !== undefined ? { entries: o.entries } : {}) });
      wall += performance.now() - t0;
      const w = windowsOf(r);
      if (w !== undefined) {
        lat.before.push(...latenciesIn(r.samples, w.g - w.l, w.g, false));
        lat.during.push(...latenciesIn(r.samples, w.g, w.h, true));
        lat.after.push(...latenciesIn(r.samples, w.h, w.h + w.l, true, true));
      }
      blockedAll.push(...blockedTimes(r.system.trace()).values());
      first ??= timeline(r, 10);
      runs.push(r);
      await r.system.close();
      o.onRun?.(++done, total);
    }
    const reports = runs.flatMap((r) => ("error" in r.update ? [] : [r.update]));
    const durations = reports.map((u) => u.finishedAt - u.startedAt);
    const bound = mean(runs.map((r) => r.bound));
    const before = mean(runs.map((r) => r.throughput.before));
    const during = mean(runs.map((r) => r.throughput.during));
    const rb = reports.flatMap((u) => (u.rollback ? [u.rollback] : []));
    out.push({
      strategy,
      seeds: o.seeds,
      throughput: { before, during, after: mean(runs.map((r) => r.throughput.after)), ratio: before === 0 ? 0 : during / before },
      latency: { before: latencyStats(lat.before), during: latencyStats(lat.during), after: latencyStats(lat.after) },
      duration: {
        mean: mean(durations),
        min: Math.min(...durations),
        max: Math.max(...durations),
        bound,
        ratioToBound: bound === 0 ? 0 : mean(durations) / bound,
        nominalBound: runs[0]?.nominalBound ?? 0,
        channelDelay: mean(runs.map((r) => r.channelDelay)),
      },
      blocked: { meanPerNode: mean(blockedAll), maxPerNode: Math.max(0, ...blockedAll) },
      controlMessages: mean(reports.map((u) => u.controlMessages)),
      heldMessages: mean(reports.map((u) => u.heldMessages)),
      transformedMessages: mean(reports.map((u) => u.transformedMessages)),
      rolledBackEvents: mean(reports.map((u) => u.rolledBackEvents)),
      ...(rb.length > 0
        ? {
            rollback: {
              metadataBytesPerMessage: mean(rb.map((x) => x.metadataBytesPerMessage)),
              peakCheckpoints: Math.max(...rb.map((x) => x.peakCheckpoints)),
              replayedEvents: mean(rb.map((x) => x.replayedEvents)),
              orphansDropped: mean(rb.map((x) => x.orphansDropped)),
            },
          }
        : {}),
      nullReads: runs.reduce((a, r) => a + r.reads.withNull, 0),
      violations: runs.reduce((a, r) => a + r.check.violations.length, 0),
      failedUpdates: runs.length - reports.length,
      wallMsPerRun: wall / Math.max(1, runs.length),
      timeline: first ?? { points: [], g: Number.NaN, h: Number.NaN, bin: 10 },
    });
  }
  return out;
}
