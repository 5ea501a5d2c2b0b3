/**
 * The trace-retention benchmark: two node processes over TCP (the TCP benchmark's pump program) with a small
 * `traceRetention:` run long enough to rotate their trace segments many times. A sampler reads each node's segment
 * directory every few ms during the run: the bytes on disk must never pass `maxBytes`, however much the nodes
 * traced in all (what retention dropped plus what is held). Then `ctl trace` streams what is held, and its check
 * starts at the retention horizon.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { ClusterClient } from "../deploy/cluster-client.js";
import type { TraceRetention } from "../deploy/cluster-file.js";
import { startLocalCluster } from "../deploy/local-cluster.js";
import { readSegments, segmentDir } from "../deploy/node-trace.js";
import type { BenchmarkOutput } from "./benchmark.js";
import { benchRoot, filesystemOf } from "./disk.js";
import { count, fixed, wallMs } from "./format.js";
import { PUMP } from "./durable-pair.js";
import type { ProgressStep } from "./progress.js";

export interface TraceRetentionOptions {
  /** Pings a sends b in all (b answers each: twice as many messages); default 100,000. */
  readonly pings?: number;
  /** Default: 256 KiB segments, 2 MiB in all (small, so that a run of seconds rotates many times). */
  readonly retention?: TraceRetention;
  readonly progress?: ProgressStep;
}

interface NodeFigures {
  readonly node: string;
  /** The most bytes its segment directory held at any sample. */
  readonly maxOnDisk: number;
  readonly finalOnDisk: number;
  /** What it traced in all: dropped by retention plus held now. */
  readonly traced: number;
  readonly droppedSegments: number;
  readonly droppedEvents: number;
  readonly heldEvents: number;
}

/** Bytes of a node's segment files now (a file deleted while listed counts for nothing). */
function onDisk(dir: string): number {
  if (!existsSync(dir)) return 0;
  let sum = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(".ndjson")) continue;
    try {
      sum += statSync(join(dir, f)).size;
    } catch {
      // deleted by retention between the listing and the stat
    }
  }
  return sum;
}

export async function traceRetentionBenchmark(o: TraceRetentionOptions = {}): Promise<BenchmarkOutput> {
  const retention = o.retention ?? { segmentBytes: 256 * 1024, maxBytes: 2 * 1024 * 1024 };
  const pings = o.pings ?? 100_000;
  const rounds = 20;
  const root = mkdtempSync(join(benchRoot(), "liveswap-trace-bench-"));
  const cluster = await startLocalCluster({ dir: root, nodes: ["a", "b"].map((id) => ({ id, package: PUMP, behavior: "pump-1" })), links: [["a", "b"]], trace: "traces", traceRetention: retention });
  const client = new ClusterClient(cluster.cluster);
  const traces = join(root, "traces");
  const max = new Map<string, number>([["a", 0], ["b", 0]]);
  let samples = 0;
  // The sampler runs between the client's turns of the event loop; the nodes write in their own processes.
  const sampler = setInterval(() => {
    samples++;
    for (const id of ["a", "b"]) max.set(id, Math.max(max.get(id) ?? 0, onDisk(segmentDir(traces, id))));
  }, 5);
  try {
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) {
      await client.request("a", { kind: "pump", n: Math.ceil(pings / rounds) }, { timeoutMs: 300_000 });
      o.progress?.(r + 1, rounds + 1);
    }
    const runMs = performance.now() - t0;
    clearInterval(sampler);
    const t1 = performance.now();
    const { events, horizon } = await client.traceFromHorizon();
    const traceMs = performance.now() - t1;
    const check = await client.check();
    o.progress?.(rounds + 1, rounds + 1);
    const nodes = ["a", "b"].map((id): NodeFigures => {
      const kept = readSegments(traces, id);
      const h = kept?.horizon ?? { droppedSegments: 0, droppedEvents: 0, droppedBytes: 0 };
      const final = onDisk(segmentDir(traces, id));
      return { node: id, maxOnDisk: Math.max(max.get(id) ?? 0, final), finalOnDisk: final, traced: h.droppedBytes + final, droppedSegments: h.droppedSegments, droppedEvents: h.droppedEvents, heldEvents: kept?.events.length ?? 0 };
    });
    return report({ retention, pings, runMs, traceMs, samples, nodes, events: events.length, skipped: horizon?.skipped ?? 0, violations: check.violations.length, filesystem: filesystemOf(root) });
  } finally {
    clearInterval(sampler);
    client.close();
    await cluster.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

function report(f: {
  readonly retention: TraceRetention;
  readonly pings: number;
  readonly runMs: number;
  readonly traceMs: number;
  readonly samples: number;
  readonly nodes: readonly NodeFigures[];
  readonly events: number;
  readonly skipped: number;
  readonly violations: number;
  readonly filesystem: string;
}): BenchmarkOutput {
  const mib = (b: number): string => `${fixed(b / (1024 * 1024), 2)} MiB`;
  const within = f.nodes.every((n) => n.maxOnDisk <= f.retention.maxBytes);
  return {
    records: [{ ...f.retention, pings: f.pings, runMs: f.runMs, traceMs: f.traceMs, samples: f.samples, nodes: f.nodes, mergedEvents: f.events, skipped: f.skipped, violations: f.violations, filesystem: f.filesystem, withinBound: within }],
    lines: [
      `  2 nodes over TCP, ${count(2 * f.pings)} messages in ${wallMs(f.runMs)} ms; traceRetention segmentBytes ${mib(f.retention.segmentBytes)}, maxBytes ${mib(f.retention.maxBytes)} (${f.filesystem})`,
      ...f.nodes.map(
        (n) =>
          `  ${n.node}: traced ${mib(n.traced)} in all (${fixed(n.traced / f.retention.maxBytes, 1)}x the bound), ${count(n.droppedSegments)} segments dropped (${count(n.droppedEvents)} events); on disk at most ${count(n.maxOnDisk)} bytes (bound ${count(f.retention.maxBytes)}) over ${count(f.samples)} samples, ${mib(n.finalOnDisk)} at the end (${count(n.heldEvents)} events)`,
      ),
      `  bytes on disk within maxBytes at every sample: ${within ? "yes" : "NO"}`,
      `  ctl trace: ${count(f.events)} events from the horizon in ${wallMs(f.traceMs)} ms (${count(f.skipped)} retained events before it left out), ${f.violations} violation(s)`,
    ],
  };
}
