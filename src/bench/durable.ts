/**
 * The durable benchmark: what a store per node (`store:` in the cluster file) costs over TCP, on this machine's
 * disk (durable-throughput.ts: messages/s against the same run in memory, events per fsync, commit latency), and
 * how long a node with a long history takes to come back after a SIGKILL (durable-recovery.ts). The stores go under
 * /var/tmp (benchRoot: a disk by convention) and the report names the filesystem: a tmpfs figure would be no disk's.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { targetFigure, type BenchmarkOutput } from "./benchmark.js";
import { benchRoot, filesystemOf } from "./disk.js";
import { measureRecovery, type DurableRecovery } from "./durable-recovery.js";
import { measureThroughput, type DurableThroughput } from "./durable-throughput.js";
import { count, fixed, wallMs } from "./format.js";
import type { ProgressStep } from "./progress.js";

export interface DurableFigures {
  readonly dir: string;
  readonly filesystem: string;
  readonly throughput: DurableThroughput;
  readonly recovery: DurableRecovery;
}

export interface DurableOptions {
  /** Pings per round (each answered: twice as many messages); default 10,000. */
  readonly messages?: number;
  readonly rounds?: number;
  /** Pings node b receives (one log entry each) before it is killed; default 10,000. */
  readonly history?: number;
  readonly onStep?: ProgressStep;
}

export async function measureDurable(opts: DurableOptions = {}): Promise<DurableFigures> {
  const rounds = opts.rounds ?? 3;
  const total = 2 * rounds + 1;
  let step = 0;
  const tick = (): void => opts.onStep?.(++step, total);
  const dir = mkdtempSync(join(benchRoot(), "liveswap-durable-bench-"));
  try {
    const filesystem = filesystemOf(dir);
    const throughput = await measureThroughput(dir, { messages: opts.messages ?? 10_000, rounds, tick });
    const recovery = await measureRecovery(dir, opts.history ?? 10_000);
    tick();
    return { dir, filesystem, throughput, recovery };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The runner's entry: one JSON record and the printable lines. */
export async function durableBenchmark(opts: DurableOptions = {}): Promise<BenchmarkOutput> {
  return durableReport(await measureDurable(opts));
}

export function durableReport(f: DurableFigures): BenchmarkOutput {
  const t = f.throughput;
  const r = f.recovery;
  return {
    records: [{ filesystem: f.filesystem, ...t, ...r }],
    lines: [
      `  stores in ${f.dir} (${f.filesystem}); 2 nodes over TCP, ${count(t.messages)} pings + pongs per round, best of ${t.rounds}`,
      `  messages/s: durable ${count(t.durableMsgsPerSec)}, in memory ${count(t.memoryMsgsPerSec)}; ratio ${fixed(t.ratio, 2)} (target >= 0.5)`,
      `  group commits: ${count(t.commits)} fsyncs for ${count(t.entries)} log entries, ${fixed(t.entriesPerCommit, 1)} entries/fsync; commit (fsync) ms p50 ${wallMs(t.fsyncP50Ms)}, p99 ${wallMs(t.fsyncP99Ms)}`,
      `  recovery after SIGKILL, ${count(r.history)} entries of history: spawn to status ${wallMs(r.spawnToStatusMs)} ms (started empty: ${wallMs(r.freshSpawnToStatusMs)} ms); replay ${wallMs(r.replayMs)} ms of ${count(r.replayedEntries)} log entries (the most a quiet node's snapshots leave)`,
    ],
    targets: [targetFigure("durable / in-memory messages/s (group commit, fsync on)", Number(t.ratio.toFixed(2)), ">=", 0.5)],
  };
}
