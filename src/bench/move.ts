/**
 * Moving a node over TCP (issue 18, `ctl move`): how long a node is unavailable while it moves, with a database of
 * 10,000 entries, and what its cluster serves meanwhile.
 *
 * Five replicated-db replicas on a line r0 - ... - r4 (node processes, mutual TLS, a store each), 10,000 entries
 * each, under a client load: a global read from r0 (it asks every replica) and a write at r0 or r4, every 50 ms. The
 * middle replica r2 is moved MOVES times, each to a fresh port on this machine (moveNode: the source commits
 * "moving" and hands its record over, the destination imports and starts, the neighbours are told, the source
 * retires).
 *
 * - Unavailable: from the source's `move` event (it applies nothing more) to the destination's first delivery after
 *   its `arrive`, on the node processes' wall clocks (one machine). Not in it: the neighbours' resend of what waited
 *   (it comes right after). p50 / p99 over the moves (at this count the p99 is the slowest move).
 * - Throughput: global reads answered per second while a move runs (from ctl's call to its return), over the 2 s
 *   before the first move.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { ClusterClient } from "../deploy/cluster-client.js";
import type { Cluster } from "../deploy/cluster-file.js";
import { moveNode } from "../deploy/cluster-move.js";
import type { StartedNode } from "../deploy/cluster-processes.js";
import { freePort } from "../deploy/free-port.js";
import { keysInit } from "../deploy/keys.js";
import { startLocalCluster } from "../deploy/local-cluster.js";
import type { BenchmarkOutput } from "./benchmark.js";
import { latencyStats, type LatencyStats } from "./disruption.js";
import { fixed } from "./format.js";
import type { ProgressStep } from "./progress.js";

export const MOVE_ENTRIES = 10_000;
const MOVES = 8;
const NODES = 5;
const MOVED = "r2";
/** A global read and a write every this many ms (a load this 2-core machine carries beside 5 replicas of 10,000 entries). */
const EVERY_MS = 50;

export interface MoveBenchResult {
  readonly entries: number;
  readonly moves: number;
  /** ms each move left the node applying nothing. */
  readonly unavailableMs: LatencyStats;
  /** ms each `moveNode` took, end to end (ctl's view). */
  readonly moveMs: LatencyStats;
  readonly readsPerSecBefore: number;
  readonly readsPerSecDuring: number;
  /** during / before. */
  readonly throughputRatio: number;
  /** Requests that failed (none expected: a request to a moving node is retried where it went). */
  readonly failed: number;
}

const here = import.meta.dirname;
const generations = resolve(here, "..", "scenarios", "replicated-db", import.meta.url.endsWith(".ts") ? "generations.ts" : "generations.js");

/** The replica's package: db@1 with `entries` entries. */
function writePackage(dir: string, entries: number): string {
  const file = join(dir, "db-node.ts");
  writeFileSync(file, `import { databaseAt } from ${JSON.stringify(generations)};\nexport const behaviors = { "db-1": databaseAt(1, ${entries}) };\n`);
  return file;
}

/** A bounded client load: a global read at r0 and a write every `everyMs`; read completion times (wall ms) kept. */
function startLoad(client: ClusterClient, entries: number, everyMs: number) {
  const reads: number[] = [];
  let failed = 0;
  let running = true;
  const inflight: Promise<unknown>[] = [];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const entry = (i * 7919) % entries;
      inflight.push(client.request("r0", { kind: "global-read", entry }).then(() => reads.push(Date.now()), () => failed++));
      inflight.push(client.request(i % 2 === 0 ? "r0" : `r${NODES - 1}`, { kind: "write", entry, value: `w${i}` }).catch(() => failed++));
      if (inflight.length > 2000) await Promise.all(inflight.splice(0, 1000));
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    reads,
    failed: () => failed,
    async stop() {
      running = false;
      await loop;
      await Promise.all(inflight);
    },
  };
}

/** Per move of `node`: from its `move` to the first delivery after its `arrive` (wall ms). */
export function unavailability(trace: readonly TraceEvent[], node: string): number[] {
  const out: number[] = [];
  let left: number | undefined;
  let arrived = false;
  for (const e of trace) {
    if (!("node" in e) || e.node !== node) continue;
    if (e.kind === "move") {
      left = e.t;
      arrived = false;
    } else if (e.kind === "arrive") arrived = true;
    else if (e.kind === "deliver" && left !== undefined && arrived) {
      out.push(e.t - left);
      left = undefined;
    }
  }
  return out;
}

export async function measureMove(entries = MOVE_ENTRIES, moves = MOVES, progress?: ProgressStep): Promise<MoveBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-move-bench-"));
  const started: StartedNode[] = [];
  const ids = Array.from({ length: NODES }, (_, i) => `r${i}`);
  try {
    keysInit(join(dir, "keys"), ids);
    const k = (f: string): string => join(dir, "keys", f);
    const pkg = writePackage(dir, entries);
    const cluster = await startLocalCluster({
      nodes: ids.map((id) => ({ id, package: pkg, behavior: "db-1", cert: k(`${id}.crt`), key: k(`${id}.key`) })),
      links: ids.slice(1).map((id, i) => [ids[i] as string, id] as const),
      tls: { ca: k("ca.crt"), control: { cert: k("control.crt"), key: k("control.key") } },
      store: "store",
      trace: "traces",
      dir,
      timeoutMs: 120_000,
    });
    const client = new ClusterClient(cluster.cluster, { retry: { attempts: 1000, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 120_000 });
    try {
      const load = startLoad(client, entries, EVERY_MS);
      try {
        return await movesUnderLoad(cluster.cluster, client, load, moves, entries, started, progress);
      } finally {
        await load.stop();
      }
    } finally {
      client.close();
      for (const s of started) s.child.kill("SIGTERM");
      await cluster.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function movesUnderLoad(
  cluster: Cluster,
  client: ClusterClient,
  load: ReturnType<typeof startLoad>,
  moves: number,
  entries: number,
  started: StartedNode[],
  progress: ProgressStep | undefined,
): Promise<MoveBenchResult> {
  await new Promise((r) => setTimeout(r, 2500));
  const firstMove = Date.now();
  const windows: { from: number; to: number }[] = [];
  for (let i = 0; i < moves; i++) {
    progress?.(i, moves);
    const from = Date.now();
    const r = await moveNode(cluster, MOVED, { to: `127.0.0.1:${await freePort()}`, timeoutMs: 120_000 });
    if (r.started !== undefined) started.push(r.started);
    windows.push({ from, to: Date.now() });
    await new Promise((res) => setTimeout(res, 300));
  }
  await load.stop();
  const before = load.reads.filter((t) => t >= firstMove - 2000 && t < firstMove).length / 2;
  const inMoves = windows.reduce((n, w) => n + load.reads.filter((t) => t >= w.from && t < w.to).length, 0);
  const moveSeconds = windows.reduce((s, w) => s + (w.to - w.from) / 1000, 0);
  const during = moveSeconds > 0 ? inMoves / moveSeconds : 0;
  const gaps = unavailability(await client.trace(), MOVED);
  return {
    entries,
    moves,
    unavailableMs: latencyStats(gaps),
    moveMs: latencyStats(windows.map((w) => w.to - w.from)),
    readsPerSecBefore: before,
    readsPerSecDuring: during,
    throughputRatio: before > 0 ? during / before : 0,
    failed: load.failed(),
  };
}

export async function moveBenchmark(progress?: ProgressStep): Promise<BenchmarkOutput> {
  const r = await measureMove(MOVE_ENTRIES, MOVES, progress);
  const ms = (s: LatencyStats): string => `p50 ${fixed(s.p50, 1)} ms, p99 ${fixed(s.p99, 1)} ms (max ${fixed(s.max, 1)} ms, ${s.count} moves)`;
  return {
    records: [r],
    lines: [
      `Moving the middle of ${NODES} replicas (${r.entries} entries each, mutual TLS, a store each) ${r.moves} times under load (a global read and a write every ${EVERY_MS} ms):`,
      `  unavailable (source's move to the destination's first delivery): ${ms(r.unavailableMs)}`,
      `  ctl move end to end: ${ms(r.moveMs)}`,
      `  global reads/s: before ${fixed(r.readsPerSecBefore, 0)}, during the moves ${fixed(r.readsPerSecDuring, 0)} (ratio ${fixed(r.throughputRatio, 2)}); failed requests ${r.failed}`,
    ],
  };
}
