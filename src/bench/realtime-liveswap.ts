/**
 * The liveswap half of the realtime bench: the paper's experiment on real processes. A line of replicated-db
 * replicas over TCP, every link delayed by a proxy; an open-loop load (global reads from r0, local reads and writes
 * at every replica); after a warm-up, the update db@1 -> db@2 coordinated from the far end with one strategy; then a
 * window after it, the load drained, the replicas' counters and the merged trace read back.
 *
 * The figures are the Erlang peer's (see ../shared/peers/erlang/README.md), with G and completion for its T0 and T1:
 * G (UpdateReport.startedAt) is when the strategy's protocol starts after prepare (prepare loads and checks the code
 * while the old code runs, as OTP reads the beam before its first suspend) and completion (completedAt) is when none
 * of the update's machinery is left anywhere.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { describeError } from "../core/errors.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Strategy, UpdateReport } from "../core/update.js";
import { answeredGlobalRead, startDbLoad, type DbOp } from "../chaos/db-load.js";
import type { LinkDelay } from "../chaos/link-proxy.js";
import type { DbStats } from "../scenarios/replicated-db/db.js";
import { blockedTimes } from "./disruption.js";
import { startRealtimeCluster } from "./realtime-cluster.js";

export interface RealtimeLoad {
  /** Global reads a second from r0, open loop (the peer's rate200). */
  readonly globalReadsPerSec: number;
  /** Local operations a second at each replica, 1 in 20 a write. */
  readonly localOpsPerSec: number;
  /** Load before the update (the peer's 3 s) and the window after completion (its 2 s). */
  readonly warmupMs: number;
  readonly windowMs: number;
  /** How long requests still in flight at the end get to answer (the peer's 1 s; retries go on meanwhile). */
  readonly drainMs: number;
  readonly delay: LinkDelay;
}

/** One run's figures; times in wall-clock ms. */
export interface LiveswapRun {
  readonly strategy: Strategy;
  readonly seed: number;
  /** The update failed or was refused: what it said (the figures then cover the load alone). */
  readonly error?: string;
  readonly globalReads: { readonly issued: number; readonly completed: number };
  /** Completed global reads with a null answer (an old and a new replica executed each other's query). */
  readonly nullReads: number;
  /** Writes a replica dropped because it did not have the key in its own format (the replicas' unknownWrites). */
  readonly droppedWrites: number;
  /**
   * Completed global reads a second in [G - window, G), [G, completion], (completion, completion + window]; and in
   * prepare, [the request, G): every replica loads and checks the package then, while the old code runs (OTP reads
   * its beam before T0 as well), and what it costs the load shows there, not in the window [G, completion].
   */
  readonly throughput: { readonly before: number; readonly prepare: number; readonly during: number; readonly after: number; readonly doneDuring: number };
  /** completion - G, and H - G (the last replica turned new). */
  readonly updateMs: number;
  readonly hgMs: number;
  /** See maxPause(). */
  readonly maxPauseMs: number;
  /** The longest swap step alone (the step in which a replica ran its state transfer and turned new). */
  readonly maxSwapMs: number;
  /** The longest global-read latency of the run, and of the reads issued in [G, completion]. */
  readonly maxLatencyMs: number;
  readonly maxLatencyDuringMs: number;
  /** Requests of any kind never answered (given up after the drain), and refused by a node (answered with an error). */
  readonly unanswered: number;
  readonly refused: number;
  /**
   * CPU over the run (warm-up to the end of the window), in % of one core: the node processes together, this
   * process (the load, the link proxies and the control client), and the machine's 1-minute load average at the
   * end. On a machine of 2 cores the sum near 200 means the run was bound by the CPU, not by the update.
   */
  readonly cpu: { readonly nodesPct: number; readonly benchPct: number; readonly loadAvg: number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * The longest time one replica stood held back by the update: from its first held send, buffered receive or
 * freeze (the trace's hold / buffer / control-receive freeze, as the disruption bench counts blocked time) to its
 * swap, plus the swap step itself (its state transfer). It compares with OTP's max_susp_ms (sys:suspend to the
 * return of sys:resume, code_change included) as an upper bound: a replica holding sends toward one neighbour still
 * executes everything else, where a suspended Erlang process executes nothing.
 */
export function maxPause(trace: readonly TraceEvent[], swapMs: ReadonlyMap<string, number>): number {
  const blocked = blockedTimes(trace);
  const step = (node: string): number => {
    const ms = swapMs.get(node);
    return ms !== undefined && Number.isFinite(ms) ? ms : 0;
  };
  let worst = 0;
  for (const node of new Set([...swapMs.keys(), ...blocked.keys()])) worst = Math.max(worst, (blocked.get(node) ?? 0) + step(node));
  return worst;
}

/** CPU ms a process has used so far (utime + stime of /proc/PID/stat, in Linux's 100 ticks a second); NaN where /proc is not readable. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** Start counting CPU; the function returned gives the % of one core since then. */
function cpuMeter(pids: readonly number[]): () => LiveswapRun["cpu"] {
  const t0 = performance.now();
  const nodes0 = pids.map(cpuMs);
  const self0 = process.cpuUsage();
  return () => {
    const ms = performance.now() - t0;
    const nodes = pids.map(cpuMs).reduce((a, x, i) => a + x - (nodes0[i] as number), 0);
    const self = process.cpuUsage(self0);
    return { nodesPct: (nodes / ms) * 100, benchPct: ((self.user + self.system) / 1000 / ms) * 100, loadAvg: loadavg()[0] ?? Number.NaN };
  };
}

/** Completed global reads: those answered, with or without a null. */
const completedReads = (ops: readonly DbOp[]): DbOp[] => ops.filter(answeredGlobalRead);

export function windowThroughput(reads: readonly DbOp[], g: number, c: number, windowMs: number, requested = g): LiveswapRun["throughput"] {
  const done = reads.map((op) => op.doneAt as number);
  const count = (keep: (t: number) => boolean): number => done.filter(keep).length;
  const doneDuring = count((t) => t >= g && t <= c);
  return {
    before: (count((t) => t >= g - windowMs && t < g) * 1000) / windowMs,
    prepare: g > requested ? (count((t) => t >= requested && t < g) * 1000) / (g - requested) : Number.NaN,
    during: c > g ? (doneDuring * 1000) / (c - g) : 0,
    after: (count((t) => t > c && t <= c + windowMs) * 1000) / windowMs,
    doneDuring,
  };
}

/** Run the experiment once with `strategy` on a fresh cluster (every replica at db@1). */
export async function runLiveswap(nodes: number, strategy: Strategy, seed: number, load: RealtimeLoad): Promise<LiveswapRun> {
  const cluster = await startRealtimeCluster({ nodes, delay: load.delay, seed });
  try {
    const { client, ids } = cluster;
    const meter = cpuMeter([...cluster.pids.values()]);
    const dbLoad = startDbLoad(client, { replicas: ids, globalReader: ids[0] as string, globalReadsPerSec: load.globalReadsPerSec, localOpsPerSec: load.localOpsPerSec, seed });
    await sleep(load.warmupMs);
    const requested = Date.now();
    let report: UpdateReport | undefined;
    let error: string | undefined;
    try {
      report = await client.update(cluster.update, { strategy, root: ids[ids.length - 1] as string });
    } catch (e) {
      error = describeError(e);
    }
    const g = report?.startedAt ?? requested;
    const c = report?.completedAt ?? Date.now();
    await sleep(c + load.windowMs + 50 - Date.now());
    const cpu = meter();
    const result = await dbLoad.stop(load.drainMs);
    const stats = (await Promise.all(ids.map((id) => client.request(id, { kind: "stats" })))) as DbStats[];
    const swaps = new Map([...client.lastFigures].map(([n, f]) => [n, f.swapPauseMs]));
    const trace = report !== undefined ? await client.trace() : [];
    return measure({ strategy, seed, ops: result.ops, stats, trace, swaps, requested, g, c, h: report?.finishedAt ?? c, windowMs: load.windowMs, cpu, ...(error !== undefined ? { error } : {}) });
  } finally {
    await cluster.close();
  }
}

function measure(r: {
  strategy: Strategy;
  seed: number;
  ops: readonly DbOp[];
  stats: readonly DbStats[];
  trace: readonly TraceEvent[];
  swaps: ReadonlyMap<string, number>;
  requested: number;
  g: number;
  c: number;
  h: number;
  windowMs: number;
  cpu: LiveswapRun["cpu"];
  error?: string;
}): LiveswapRun {
  const reads = completedReads(r.ops);
  const latency = (op: DbOp): number => (op.doneAt as number) - op.sentAt;
  const during = reads.filter((op) => op.sentAt >= r.g && op.sentAt <= r.c);
  return {
    strategy: r.strategy,
    seed: r.seed,
    ...(r.error !== undefined ? { error: r.error } : {}),
    globalReads: { issued: r.ops.filter((op) => op.kind === "global-read").length, completed: reads.length },
    nullReads: reads.filter((op) => op.outcome === "null").length,
    droppedWrites: r.stats.reduce((a, s) => a + s.unknownWrites, 0),
    throughput: windowThroughput(reads, r.g, r.c, r.windowMs, r.requested),
    updateMs: r.c - r.g,
    hgMs: r.h - r.g,
    maxPauseMs: maxPause(r.trace, r.swaps),
    maxSwapMs: Math.max(0, ...[...r.swaps.values()].filter(Number.isFinite)),
    maxLatencyMs: Math.max(0, ...reads.map(latency)),
    maxLatencyDuringMs: Math.max(0, ...during.map(latency)),
    unanswered: r.ops.filter((op) => op.outcome === "unanswered" || op.outcome === "pending").length,
    refused: r.ops.filter((op) => op.outcome === "refused").length,
    cpu: r.cpu,
  };
}
