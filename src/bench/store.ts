/**
 * The node store's commit cost on this machine's disk (wall clock): commit()
 * latency (p50 / p99) at group-commit batches of 1, 10 and 100 log entries of
 * about 200 bytes, and entries per second, against the disk's floor measured
 * in the same run (an append of the same bytes and one fdatasync), commit by
 * commit interleaved so that other processes' disk traffic falls on both.
 *
 * It runs in /var/tmp (disk-backed by convention) rather than the temp
 * directory, which is often a tmpfs where fsync costs nothing; the report
 * names the filesystem so a tmpfs figure is never mistaken for a disk's.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { encodeRecord } from "../deploy/store/record-codec.js";
import { openNodeStore } from "../deploy/store/open-node-store.js";
import type { BenchmarkOutput } from "./benchmark.js";
import { benchRoot, filesystemOf } from "./disk.js";
import { latencyStats } from "./disruption.js";
import { count, plainTable, wallMs } from "./format.js";
import type { ProgressStep } from "./progress.js";

export interface StoreBatchFigures {
  /** Log entries per commit: a commit is one fsync, so this is also entries per fsync. */
  readonly batch: number;
  readonly commits: number;
  /** commit() wall ms (encoding included). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly entriesPerSec: number;
  /** The same bytes appended to a plain file and fdatasync'ed: what any durable commit costs on this disk. */
  readonly floorP50Ms: number;
  readonly floorP99Ms: number;
}

export interface StoreFigures {
  readonly kind: string;
  readonly dir: string;
  readonly filesystem: string;
  readonly entryBytes: number;
  readonly batches: readonly StoreBatchFigures[];
}

const BATCHES = [1, 10, 100] as const;

/** A log entry like a delivered application message (about 200 bytes encoded). */
function entry(i: number): unknown {
  return {
    k: "deliver",
    from: "node-a",
    to: "node-b",
    link: 3,
    seq: i,
    lc: i * 2,
    env: { kind: "app", id: `a.${i}`, epoch: 0, body: { op: "put", key: `k${i % 97}`, value: "x".repeat(64), tags: new Set(["a", "b"]) } },
  };
}

export function measureStore(opts: { readonly maxCommits?: number; readonly budgetMs?: number; readonly onStep?: ProgressStep } = {}): StoreFigures {
  const dir = mkdtempSync(join(benchRoot(), "liveswap-store-bench-"));
  const store = openNodeStore(join(dir, "store"));
  const floor = openSync(join(dir, "floor.log"), "a");
  try {
    let next = 0;
    const batches = BATCHES.map((batch, i) => {
      const figures = measureBatch(batch, opts.maxCommits ?? 400, opts.budgetMs ?? 800, {
        commit: (n) => store.commit({ entries: Array.from({ length: n }, () => entry(next++)) }),
        floor: (n) => {
          writeSync(floor, Buffer.concat(Array.from({ length: n }, () => encodeRecord(entry(next++)))));
          fdatasyncSync(floor);
        },
      });
      opts.onStep?.(i + 1, BATCHES.length);
      return figures;
    });
    return { kind: store.kind, dir, filesystem: filesystemOf(dir), entryBytes: encodeRecord(entry(0)).length, batches };
  } finally {
    closeSync(floor);
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Commits of `batch` entries, alternating store and floor, until `maxCommits` each or `budgetMs` of wall time. */
function measureBatch(
  batch: number,
  maxCommits: number,
  budgetMs: number,
  run: { readonly commit: (n: number) => void; readonly floor: (n: number) => void },
): StoreBatchFigures {
  const store: number[] = [];
  const floor: number[] = [];
  const t0 = performance.now();
  for (let c = 0; c < maxCommits && performance.now() - t0 < budgetMs; c++) {
    // Which goes first alternates: neither always follows the other's fsync.
    const pair = c % 2 === 0 ? ([store, run.commit, floor, run.floor] as const) : ([floor, run.floor, store, run.commit] as const);
    timed(pair[0], () => pair[1](batch));
    timed(pair[2], () => pair[3](batch));
  }
  const s = latencyStats(store);
  const f = latencyStats(floor);
  const totalMs = store.reduce((a, b) => a + b, 0);
  return { batch, commits: store.length, p50Ms: s.p50, p99Ms: s.p99, entriesPerSec: (batch * store.length) / (totalMs / 1000), floorP50Ms: f.p50, floorP99Ms: f.p99 };
}

function timed(into: number[], f: () => void): void {
  const t = performance.now();
  f();
  into.push(performance.now() - t);
}

/** `maxCommits` per batch size (default 400, within a wall-clock budget): a test runs a few only. */
export function storeBenchmark(o: { readonly progress?: ProgressStep; readonly maxCommits?: number } = {}): BenchmarkOutput {
  const f = measureStore({ ...(o.progress !== undefined ? { onStep: o.progress } : {}), ...(o.maxCommits !== undefined ? { maxCommits: o.maxCommits } : {}) });
  const rows = f.batches.map((b) => [
    String(b.batch),
    count(b.commits),
    `${wallMs(b.p50Ms)} / ${wallMs(b.p99Ms)}`,
    count(b.entriesPerSec),
    `${wallMs(b.floorP50Ms)} / ${wallMs(b.floorP99Ms)}`,
    b.floorP50Ms > 0 ? `${(b.p50Ms / b.floorP50Ms).toFixed(2)}x` : "–",
  ]);
  const where = `${f.kind} store, ${f.entryBytes}-byte entries, on ${f.filesystem} (${f.dir})`;
  const lines = [
    where,
    ...(f.filesystem === "tmpfs" ? ["warning: tmpfs keeps nothing on a disk; fsync is free here and these figures are no disk's"] : []),
    plainTable(["entries/fsync", "commits", "commit ms p50 / p99", "entries/s", "floor ms p50 / p99", "p50 / floor"], rows),
    "floor: the same bytes appended to a plain file and fdatasync'ed, interleaved with the commits",
  ];
  return { records: f.batches.map((b) => ({ kind: f.kind, filesystem: f.filesystem, entryBytes: f.entryBytes, ...b })), lines };
}
