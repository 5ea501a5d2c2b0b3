/**
 * `npm run bench -- realtime`: the paper's experiment in real time, beside Erlang/OTP. The liveswap half runs the
 * replicated database as node processes over TCP (a line r0..r6, every link delayed 1-10 ms by a proxy that keeps
 * byte order, 200 global reads/s from r0, local reads and writes at every replica) and updates it from r6 with each
 * strategy; the Erlang half runs the peer benchmark of ../shared/peers/erlang/ (OTP's hot code upgrade of the same
 * experiment, rate200) in the same run when erl is installed. One table, one row per system and strategy, medians
 * over the seeds.
 */
import type { Strategy } from "../core/update.js";
import type { BenchmarkOutput, BenchOptions } from "./benchmark.js";
import { DASH, fixed, markdownTable, seedList, short, whole } from "./format.js";
import type { ProgressStep } from "./progress.js";
import { runErlangHalf, type ErlangHalf, type ErlangRun } from "./realtime-erlang.js";
import { runLiveswap, type LiveswapRun, type RealtimeLoad } from "./realtime-liveswap.js";

/** The peer's experiment, which the liveswap half repeats (its README: 3 s warm-up, 2 s windows, 1 s drain). */
export const PAPER_LOAD: RealtimeLoad = {
  globalReadsPerSec: 200,
  localOpsPerSec: 20,
  warmupMs: 3000,
  windowMs: 2000,
  drainMs: 1000,
  delay: { minMs: 1, maxMs: 10 },
};


/** One row of the table: a system and a strategy, medians over its runs. */
export interface RealtimeRow {
  readonly system: "liveswap" | "erlang/otp";
  readonly strategy: string;
  readonly runs: number;
  /** What refused or failed the update, when every run did (the row has no update figures then). */
  readonly error?: string;
  readonly nullReads: { readonly median: number; readonly min: number; readonly max: number };
  readonly droppedWrites: number;
  readonly before: number;
  /** liveswap: reads/s from the request to G (prepare); NaN for OTP, whose figures start at T0. */
  readonly prepare: number;
  readonly during: number;
  readonly after: number;
  /** Median of the runs' during / before. */
  readonly ratio: number;
  readonly doneDuring: number;
  readonly updateMs: number;
  readonly maxPauseMs: number;
  readonly maxLatencyMs: number;
  readonly unanswered: number;
}

export interface RealtimeResult {
  readonly nodes: number;
  readonly seeds: readonly number[];
  readonly load: RealtimeLoad;
  readonly liveswap: readonly LiveswapRun[];
  readonly erlang: ErlangHalf;
  readonly rows: readonly RealtimeRow[];
  readonly targets: readonly { readonly what: string; readonly met: boolean; readonly measured: string }[];
}

export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const spread = (xs: readonly number[]): RealtimeRow["nullReads"] => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const ratioOf = (before: number, during: number): number => (before > 0 ? during / before : Number.NaN);

export function liveswapRow(strategy: Strategy, runs: readonly LiveswapRun[]): RealtimeRow {
  // The figures are the runs whose update completed; a refused or failed update has nothing to measure.
  const ok = runs.filter((r) => r.error === undefined);
  const m = (f: (r: LiveswapRun) => number): number => median(ok.map(f));
  const failed = runs.filter((r) => r.error !== undefined);
  return {
    system: "liveswap",
    strategy,
    runs: runs.length,
    ...(failed.length > 0 ? { error: `${failed.length} of ${runs.length} run(s): ${failed[0]?.error ?? ""}` } : {}),
    nullReads: ok.length === 0 ? { median: Number.NaN, min: Number.NaN, max: Number.NaN } : spread(ok.map((r) => r.nullReads)),
    droppedWrites: m((r) => r.droppedWrites),
    before: m((r) => r.throughput.before),
    prepare: m((r) => r.throughput.prepare),
    during: m((r) => r.throughput.during),
    after: m((r) => r.throughput.after),
    ratio: m((r) => ratioOf(r.throughput.before, r.throughput.during)),
    doneDuring: m((r) => r.throughput.doneDuring),
    updateMs: m((r) => r.updateMs),
    maxPauseMs: m((r) => r.maxPauseMs),
    maxLatencyMs: m((r) => r.maxLatencyMs),
    unanswered: m((r) => r.unanswered + r.refused),
  };
}

export function erlangRow(variant: string, runs: readonly ErlangRun[]): RealtimeRow {
  const m = (f: (r: ErlangRun) => number): number => median(runs.map(f));
  return {
    system: "erlang/otp",
    strategy: `${variant} hot upgrade`,
    runs: runs.length,
    nullReads: spread(runs.map((r) => r.nullReads)),
    droppedWrites: m((r) => r.writesDropped),
    before: m((r) => r.thrBefore),
    prepare: Number.NaN,
    during: m((r) => r.thrDuring),
    after: m((r) => r.thrAfter),
    ratio: m((r) => ratioOf(r.thrBefore, r.thrDuring)),
    doneDuring: m((r) => r.doneDuring),
    updateMs: m((r) => r.upgradeMs),
    maxPauseMs: m((r) => r.maxSuspMs),
    maxLatencyMs: m((r) => r.maxLatMs),
    unanswered: m((r) => r.issued - r.completed),
  };
}

/**
 * The runs' windows taken together: every read done in [G, completion] over their summed length, against the mean
 * rate before. A window of ~80 ms holds 10-25 reads that arrive in bursts, so one run's ratio moves by tens of %
 * from one burst more or less; the pooled figure is the steadier estimate of the same throughput.
 */
export function pooledRatio(runs: readonly LiveswapRun[]): number {
  const done = runs.reduce((a, r) => a + r.throughput.doneDuring, 0);
  const ms = runs.reduce((a, r) => a + r.updateMs, 0);
  const before = runs.reduce((a, r) => a + r.throughput.before, 0) / Math.max(1, runs.length);
  return ms > 0 ? ratioOf(before, (done * 1000) / ms) : Number.NaN;
}

/** A run kept up with the load before G: it completed at least 90% of the offered global reads/s in [G-2s, G). */
export const keptUp = (r: LiveswapRun, offeredPerSec: number): boolean => r.throughput.before >= 0.9 * offeredPerSec;

/**
 * The issue's targets: no null read and no dropped write with cut and conservative; cut's during / before >= 0.95.
 * The ratio is judged on the runs that kept up with the load before G (median of theirs): a run already behind
 * before its update (a machine too busy for the rate) has a ratio that measures its backlog, not the update.
 */
export function realtimeTargets(runs: readonly LiveswapRun[], offeredPerSec: number): RealtimeResult["targets"] {
  const out: { what: string; met: boolean; measured: string }[] = [];
  for (const s of ["cut", "conservative"] as const) {
    const mine = runs.filter((r) => r.strategy === s);
    if (mine.length === 0) continue;
    const nulls = mine.map((r) => r.nullReads);
    const dropped = mine.map((r) => r.droppedWrites);
    const failed = mine.filter((r) => r.error !== undefined).length;
    out.push({
      what: `${s}: 0 null reads and 0 dropped writes in every run`,
      met: failed === 0 && nulls.every((x) => x === 0) && dropped.every((x) => x === 0),
      measured: `null reads ${nulls.join(", ")}; dropped writes ${dropped.join(", ")}${failed > 0 ? `; ${failed} update(s) failed` : ""}`,
    });
  }
  const cut = runs.filter((r) => r.strategy === "cut" && r.error === undefined);
  if (cut.length > 0) {
    const steady = cut.filter((r) => keptUp(r, offeredPerSec));
    const ratios = steady.map((r) => ratioOf(r.throughput.before, r.throughput.during));
    const ratio = median(ratios);
    out.push({
      what: "cut: throughput during / before >= 0.95 (median of the runs that kept up with the load before G)",
      met: ratio >= 0.95,
      measured:
        steady.length === 0
          ? `not measurable: none of ${cut.length} run(s) kept up with ${offeredPerSec} reads/s before G`
          : `${fixed(ratio, 2)} (runs ${ratios.map((x) => fixed(x, 2)).join(", ")}; pooled ${fixed(pooledRatio(steady), 2)}; ` +
            `${cut.length - steady.length} of ${cut.length} run(s) behind before G left out)`,
    });
  }
  return out;
}

const HEADS = [
  "system",
  "strategy",
  "runs",
  "null reads (min-max)",
  "dropped writes",
  "global reads/s before",
  "in prepare",
  "during",
  "after",
  "during / before",
  "done during",
  "update ms",
  "max pause ms",
  "max global-read latency ms",
  "unanswered",
];

export function realtimeTable(rows: readonly RealtimeRow[]): string {
  const cells = rows.map((r) => [
    r.system,
    r.error !== undefined ? `${r.strategy} (failed: see below)` : r.strategy,
    String(r.runs),
    Number.isFinite(r.nullReads.median) ? `${short(r.nullReads.median)} (${r.nullReads.min}-${r.nullReads.max})` : DASH,
    short(r.droppedWrites),
    whole(r.before),
    Number.isFinite(r.prepare) ? whole(r.prepare) : DASH,
    whole(r.during),
    whole(r.after),
    fixed(r.ratio, 2),
    short(r.doneDuring),
    short(r.updateMs, 1),
    short(r.maxPauseMs, 1),
    whole(r.maxLatencyMs),
    short(r.unanswered),
  ]);
  return markdownTable(HEADS, HEADS.map((_, i) => i < 2), cells);
}

/** Run both halves: the liveswap strategies first, then the Erlang peer (or why it cannot run). */
export async function measureRealtime(o: {
  readonly strategies: readonly Strategy[];
  readonly seeds: readonly number[];
  readonly nodes: number;
  readonly load?: RealtimeLoad;
  readonly erlangVariants?: readonly ("rolling" | "all")[];
  readonly onStep?: (done: number, total: number) => void;
}): Promise<RealtimeResult> {
  const load = o.load ?? PAPER_LOAD;
  const variants = o.erlangVariants ?? ["rolling", "all"];
  const total = o.strategies.length * o.seeds.length + variants.length * o.seeds.length;
  let done = 0;
  const runs: LiveswapRun[] = [];
  for (const strategy of o.strategies) {
    for (const seed of o.seeds) {
      runs.push(await runLiveswap(o.nodes, strategy, seed, load));
      o.onStep?.(++done, total);
    }
  }
  const erlang = await runErlangHalf({ variants, seeds: o.seeds, rate: load.globalReadsPerSec, onRun: () => o.onStep?.(++done, total) });
  const rows = [
    ...o.strategies.map((s) => liveswapRow(s, runs.filter((r) => r.strategy === s))),
    ...(erlang.kind === "ran" ? variants.map((v) => erlangRow(v, erlang.runs.filter((r) => r.variant === v))) : []),
  ];
  return { nodes: o.nodes, seeds: o.seeds, load, liveswap: runs, erlang, rows, targets: realtimeTargets(runs, load.globalReadsPerSec) };
}

function runLine(x: LiveswapRun, offeredPerSec: number): string {
  const t = x.throughput;
  const what = x.error !== undefined ? "update failed" : `G..completion ${short(x.updateMs, 1)} ms (H-G ${short(x.hgMs, 1)}), ${t.doneDuring} reads done in it, max swap step ${short(x.maxSwapMs, 1)} ms`;
  return (
    `  ${x.strategy} seed ${x.seed}${keptUp(x, offeredPerSec) ? "" : " (behind the load before G)"}: ${what}; reads/s ${whole(t.before)} / ${whole(t.during)} / ${whole(t.after)}, ` +
    `in prepare ${Number.isFinite(t.prepare) ? whole(t.prepare) : DASH}, ${x.globalReads.completed} of ${x.globalReads.issued} completed, max latency ${whole(x.maxLatencyMs)} ms; CPU nodes ${whole(x.cpu.nodesPct)}%, bench ${whole(x.cpu.benchPct)}%, load ${fixed(x.cpu.loadAvg, 1)}`
  );
}

export function realtimeLines(r: RealtimeResult): string[] {
  const l = r.load;
  const refused = r.rows.filter((x) => x.error !== undefined).map((x) => `  ${x.strategy}: ${x.error}`);
  return [
    `The paper's experiment in real time: ${r.nodes} replica processes in a line over TCP, links delayed ${l.delay.minMs}-${l.delay.maxMs} ms (seeded, FIFO), ` +
      `${l.globalReadsPerSec} global reads/s from r0 (open loop), ${l.localOpsPerSec} local ops/s at each replica (1 in 20 a write), update db@1 -> db@2 from r${r.nodes - 1}; seeds ${seedList(r.seeds)}, medians.`,
    r.erlang.kind === "ran"
      ? `Erlang/OTP ${r.erlang.otp}: the peer in ../shared/peers/erlang (7 replicas whatever --nodes, rate${l.globalReadsPerSec}, ~500 local ops/s per replica), rolling (far end first, 100 ms operator pause) and all at once, the same seeds.`
      : `Erlang/OTP half not run: ${r.erlang.why}. The liveswap half alone:`,
    "",
    realtimeTable(r.rows),
    "",
    "Windows: completed global reads/s in [G-2s, G), [G, completion], (completion, completion+2s]; G is when the strategy's protocol starts after prepare",
    "(OTP: the first sys:suspend), completion when nothing of the update is left anywhere (OTP: the last sys:resume). update ms = completion - G.",
    "in prepare: from the request to G, while every replica loads and checks the package and the old code runs (OTP loads before T0: not measured).",
    "max pause: liveswap, the longest a replica was held back by the update (first held send, buffered receive or freeze to its swap, plus the swap",
    "step); OTP, max_susp_ms (sys:suspend to the return of sys:resume). unanswered: requests given up after the drain, or refused by a node.",
    ...(refused.length > 0 ? ["", "Updates refused or failed (no figures):", ...refused] : []),
    "",
    "Each liveswap run (the machine's share: CPU of the node processes and of this process, in % of one core, and the 1-minute load average):",
    ...r.liveswap.map((x) => runLine(x, l.globalReadsPerSec)),
    "",
    "Targets:",
    ...r.targets.map((t) => `  ${t.met ? "met" : "NOT met"}: ${t.what} (measured: ${t.measured})`),
  ];
}

export async function realtimeBenchmark(o: BenchOptions, progress?: ProgressStep): Promise<BenchmarkOutput> {
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const load = { ...PAPER_LOAD, globalReadsPerSec: o.rate ?? PAPER_LOAD.globalReadsPerSec };
  const r = await measureRealtime({ strategies: o.strategies, seeds, nodes: o.nodes, load, ...(progress !== undefined ? { onStep: progress } : {}) });
  return { records: [...r.liveswap.map((x) => ({ system: "liveswap", ...x })), ...(r.erlang.kind === "ran" ? r.erlang.runs.map((x) => ({ system: "erlang/otp", ...x })) : [{ system: "erlang/otp", missing: r.erlang.why }]), { rows: r.rows, targets: r.targets }], lines: realtimeLines(r) };
}
