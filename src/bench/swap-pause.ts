/**
 * The swap pause (issue 17): the wall-clock time one node stands still while it turns new, measured on real node
 * processes over TCP. The nodes are replicated-db replicas (src/scenarios/replicated-db/) on a line r0 - r1 - r2,
 * each holding `entries` entries (a few thousand, written to once before the first update so their stamps differ),
 * updated along a chain of generations db@1 -> db@2 -> ... (generations.ts): every update converts every key of
 * every replica ("user:17" <-> "user/0017"), so every swap runs a state transfer over the whole database. Strategies
 * alternate conservative and cut; each update is its own signed package, loaded by every node as production loads it.
 *
 * What a pause is (node-host.ts, step()): the node's step in which it turned new, on performance.now(), from the
 * moment the host takes the input that makes it swap (a strategy's marker or an application message, already
 * decoded) to the end of that step: the agent's handling of it, the state transfer, the timer remap, the swap's trace
 * record, and whatever the agent sends or executes in that step. Not in it: decoding the frame, the "swapped" report to
 * the coordinator, the package's loading and its dry run at prepare (both before the update starts).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ClusterClient } from "../deploy/cluster-client.js";
import { keysInit } from "../deploy/keys.js";
import { startLocalCluster } from "../deploy/local-cluster.js";
import { pack } from "../deploy/update-package.js";
import type { Strategy } from "../core/update.js";
import { latencyStats, type LatencyStats } from "./disruption.js";
import { fixed } from "./format.js";
import type { ProgressStep } from "./progress.js";
import type { BenchmarkOutput } from "./benchmark.js";

/** The target: p99 of one node's swap pause over 60 swaps, in ms. */
export const SWAP_PAUSE_P99_TARGET_MS = 1;

export interface SwapPauseOptions {
  /** Entries in each replica's database (default 2,000). */
  readonly entries?: number;
  /** Replicas on the line (default 3). */
  readonly nodes?: number;
  /** Updates per run; each swaps every replica once (default 20: 60 swaps with 3 replicas). */
  readonly updates?: number;
  /** Runs, each on a fresh cluster (default 3). */
  readonly runs?: number;
  readonly onStep?: ProgressStep;
}

/** One run: every swap's pause, in the order the updates ran. */
export interface SwapPauseRun {
  readonly pauses: readonly number[];
  readonly stats: LatencyStats & { readonly mean: number };
}

export interface SwapPauseFigures {
  readonly entries: number;
  readonly nodes: number;
  readonly swapsPerRun: number;
  readonly runs: readonly SwapPauseRun[];
  readonly loadAvg: number;
}

const here = import.meta.dirname;
const fromSource = import.meta.url.endsWith(".ts");
const generations = resolve(here, "..", "scenarios", "replicated-db", fromSource ? "generations.ts" : "generations.js");

/** The replicas' package (db@1 with `entries` entries) and the update package db@k -> db@k+1, written into `dir`. */
function writeEntries(dir: string, entries: number, updates: number): { readonly node: string; readonly update: (k: number) => string } {
  const node = join(dir, "db-node.ts");
  writeFileSync(node, `import { databaseAt } from ${JSON.stringify(generations)};\nexport const behaviors = { "db-1": databaseAt(1, ${entries}) };\n`);
  const update = (k: number): string => join(dir, `update-${k}.ts`);
  for (let k = 1; k <= updates; k++) {
    writeFileSync(update(k), `import { databaseUpdate } from ${JSON.stringify(generations)};\nexport const update = databaseUpdate(${k}, ${k + 1}, ${entries});\n`);
  }
  return { node, update };
}

async function oneRun(o: Required<Omit<SwapPauseOptions, "runs" | "onStep">>, tick: () => void): Promise<SwapPauseRun> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-swap-pause-"));
  try {
    keysInit(join(dir, "keys"), []);
    const files = writeEntries(dir, o.entries, o.updates);
    const ids = Array.from({ length: o.nodes }, (_, i) => `r${i}`);
    // Packed before the cluster starts: packing is not what is measured, and its CPU would compete with the nodes.
    const packages: string[] = [];
    for (let k = 1; k <= o.updates; k++) packages.push(JSON.stringify(await pack(files.update(k), { key: join(dir, "keys", "signing.key") })));
    const local = await startLocalCluster({
      dir,
      nodes: ids.map((id) => ({ id, package: files.node, behavior: "db-1" })),
      links: ids.slice(1).map((id, i) => [ids[i] as string, id] as const),
      trust: { signingKey: join(dir, "keys", "signing.pub") },
      // Traces to files, as a production cluster keeps them.
      trace: "traces",
    });
    const client = new ClusterClient(local.cluster);
    try {
      // Writes at every replica (flooded to all): the entries carry stamps of several origins, as a live database's do.
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 200; i++) writes.push(client.request(ids[i % ids.length] as string, { kind: "write", entry: (i * 37) % o.entries, value: `w${i}` }));
      await Promise.all(writes);
      const pauses: number[] = [];
      for (let k = 1; k <= o.updates; k++) {
        const strategy: Strategy = k % 2 === 0 ? "cut" : "conservative";
        await client.update(packages[k - 1] as string, { strategy, root: ids[0] as string });
        for (const f of client.lastFigures.values()) if (Number.isFinite(f.swapPauseMs)) pauses.push(f.swapPauseMs);
        tick();
      }
      const stats = latencyStats(pauses);
      return { pauses, stats: { ...stats, mean: pauses.reduce((a, b) => a + b, 0) / Math.max(1, pauses.length) } };
    } finally {
      client.close();
      await local.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function measureSwapPause(opts: SwapPauseOptions = {}): Promise<SwapPauseFigures> {
  const o = { entries: opts.entries ?? 2000, nodes: opts.nodes ?? 3, updates: opts.updates ?? 20 };
  const runs = opts.runs ?? 3;
  let step = 0;
  const tick = (): void => opts.onStep?.(++step, runs * o.updates);
  const out: SwapPauseRun[] = [];
  for (let r = 0; r < runs; r++) out.push(await oneRun(o, tick));
  return { ...o, swapsPerRun: o.nodes * o.updates, runs: out, loadAvg: loadavg()[0] ?? 0 };
}

const range = (xs: readonly number[], digits = 2): string => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? fixed(lo, digits) : `${fixed(lo, digits)}..${fixed(hi, digits)}`;
};

/** The runner's entry: the runs' figures (one JSON record) and printable lines. */
export async function swapPauseBenchmark(progress?: ProgressStep): Promise<BenchmarkOutput> {
  const f = await measureSwapPause(progress ? { onStep: progress } : {});
  const p99s = f.runs.map((r) => r.stats.p99);
  const worstP99 = Math.max(...p99s);
  const met = worstP99 < SWAP_PAUSE_P99_TARGET_MS;
  return {
    records: [
      {
        entries: f.entries,
        nodes: f.nodes,
        swapsPerRun: f.swapsPerRun,
        runs: f.runs.map((r) => ({ p50Ms: r.stats.p50, p99Ms: r.stats.p99, maxMs: r.stats.max, meanMs: r.stats.mean, swaps: r.stats.count })),
        p99MsWorst: worstP99,
        targetP99Ms: SWAP_PAUSE_P99_TARGET_MS,
        met,
        loadAvg: f.loadAvg,
      },
    ],
    lines: [
      `  ${f.nodes} replicated-db replicas over TCP, ${f.entries.toLocaleString("en-US")} entries each, ${f.runs.length} runs of ${f.swapsPerRun} swaps (every swap converts every key)`,
      `  pause = the wall time of the node's step in which it turned new (input taken -> step end: agent, state transfer, trace record, sends)`,
      `  swap pause p50 ${range(f.runs.map((r) => r.stats.p50))} ms, p99 ${range(p99s)} ms (target p99 < ${SWAP_PAUSE_P99_TARGET_MS} ms: ${met ? "met" : "NOT met"}), mean ${range(f.runs.map((r) => r.stats.mean))} ms; load ${fixed(f.loadAvg, 2)}`,
    ],
  };
}
