/**
 * A sender's memory with a frozen neighbour (issue 15: 300k queued messages grew a sender from 68 MB to 389 MB).
 * Three node processes: a linked to b and c. b is frozen (SIGSTOP) while a bounded stream of requests makes a send
 * messages to b and c; a's resident memory (VmRSS) is sampled all along. Then b is continued (SIGCONT) and every
 * message a accepted must reach it, once. Run twice: with the outbox bounds of the cluster file, and with the memory
 * bound lifted (the outbox all in memory, as before bounded outboxes) for comparison, and with durable nodes.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ClusterClient } from "../deploy/cluster-client.js";
import { BusyError } from "../deploy/errors.js";
import { startLocalCluster } from "../deploy/local-cluster.js";
import { DEFAULT_OUTBOX_MEMORY_BYTES } from "../network/tcp/outbox-spill.js";
import type { BenchmarkOutput } from "./benchmark.js";
import { fixed } from "./format.js";
import type { ProgressStep } from "./progress.js";

const here = import.meta.dirname;
const MB = 1024 * 1024;

export interface OutboxRun {
  readonly label: string;
  readonly memoryBytes: number;
  readonly diskQuotaBytes: number;
  /** a's VmRSS (MB): after a warm-up with b running, the highest while b was frozen, at the end of the stream, after the drain. */
  readonly rssBeforeMb: number;
  readonly rssPeakMb: number;
  readonly rssEndMb: number;
  readonly rssAfterDrainMb: number;
  /** Bytes a had spilled to disk for b at the end of the stream. */
  readonly spilledBytes: number;
  /** Messages a accepted to send to b during the freeze, requests refused with BusyError, and messages b counted in the end. */
  readonly sentToB: number;
  readonly busyRefusals: number;
  readonly deliveredToB: number;
  readonly expectedAtB: number;
  readonly streamSeconds: number;
  readonly drainSeconds: number;
}

export interface OutboxBenchOptions {
  readonly messages?: number;
  readonly perRequest?: number;
  readonly pad?: number;
  readonly concurrency?: number;
  readonly diskQuotaBytes?: number;
  /** Durable nodes (`store:`): the host keeps its outbox in memory too (its record), so only Busy bounds that part. */
  readonly store?: boolean;
  readonly onStep?: ProgressStep;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function until(what: string, test: () => Promise<boolean>, withinMs: number): Promise<void> {
  const end = Date.now() + withinMs;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`outbox benchmark: not ${what} after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

type Counts = Readonly<Record<string, number>>;

/** Requests run before b is frozen. */
const WARM_REQUESTS = 100;

/** `requests` requests, `concurrency` at a time; one refused with BusyError is counted and not retried (the stream is bounded). */
async function stream(client: ClusterClient, body: unknown, requests: number, concurrency: number, onStep?: ProgressStep): Promise<{ accepted: number; busy: number }> {
  let next = 0;
  let accepted = 0;
  let busy = 0;
  const worker = async (): Promise<void> => {
    while (next < requests) {
      next++;
      try {
        await client.request("a", body);
        accepted++;
      } catch (e) {
        if (!(e instanceof BusyError)) throw e;
        busy++; // refused, nothing ran: a real client would retry later
        await new Promise((r) => setTimeout(r, 20));
      }
      onStep?.(next, requests);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { accepted, busy };
}

/** One run: the cluster, the warm-up, the freeze under a bounded stream of requests, the drain. */
export async function measureOutboxRun(label: string, memoryBytes: number, o: OutboxBenchOptions = {}): Promise<OutboxRun> {
  const perRequest = o.perRequest ?? 1000;
  const requests = Math.ceil((o.messages ?? 300_000) / perRequest);
  const body = { kind: "flood", n: perRequest, pad: o.pad ?? 100 } as const;
  const diskQuotaBytes = o.diskQuotaBytes ?? 64 * MB;
  const local = await startLocalCluster({
    nodes: ["a", "b", "c"].map((id) => ({ id, package: resolve(here, import.meta.url.endsWith(".ts") ? "outbox-flood.ts" : "outbox-flood.js"), behavior: "flood-1" })),
    links: [["a", "b"], ["a", "c"]],
    // Traces to files, as a production cluster keeps them: in memory they would grow a's memory by themselves.
    trace: "traces",
    outbox: { memoryBytes, diskQuotaBytes },
    ...(o.store === true ? { store: "store" } : {}),
  });
  const client = new ClusterClient(local.cluster, { requestTimeoutMs: 120_000 });
  const pid = (id: string): number => (local.nodes.find((n) => n.id === id) as { pid: number }).pid;
  const b = local.nodes.find((n) => n.id === "b");
  let stopped = false;
  try {
    // Warm-up: the same request stream with b running, so that "before" is a's memory in its loaded steady state (the
    // JavaScript heap grows to what the load needs and keeps it), and what follows measures only the frozen neighbour.
    const warm = await stream(client, body, WARM_REQUESTS, o.concurrency ?? 4);
    await until("warmed up", async () => ((await client.request("b", { kind: "count" })) as Counts)["a"] === warm.accepted * perRequest, 120_000);
    const before = rssMb(pid("a"));
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid("a")))), 100);
    b?.child.kill("SIGSTOP");
    stopped = true;
    const t0 = performance.now();
    const { accepted, busy } = await stream(client, body, requests, o.concurrency ?? 4, o.onStep);
    const streamSeconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const end = rssMb(pid("a"));
    const spilledBytes = (await client.status("a")).neighbors.find((p) => p.id === "b")?.spilledBytes ?? 0;
    clearInterval(sampler);
    peak = Math.max(peak, end);
    b?.child.kill("SIGCONT");
    stopped = false;
    const t1 = performance.now();
    const expected = (warm.accepted + accepted) * perRequest;
    let delivered = 0;
    await until("delivered to b", async () => (delivered = ((await client.request("b", { kind: "count" })) as Counts)["a"] ?? 0) >= expected, 300_000);
    const drainSeconds = (performance.now() - t1) / 1000;
    return {
      label,
      memoryBytes,
      diskQuotaBytes,
      rssBeforeMb: before,
      rssPeakMb: peak,
      rssEndMb: end,
      rssAfterDrainMb: rssMb(pid("a")),
      spilledBytes,
      sentToB: accepted * perRequest,
      busyRefusals: busy,
      deliveredToB: delivered,
      expectedAtB: expected,
      streamSeconds,
      drainSeconds,
    };
  } finally {
    if (stopped) b?.child.kill("SIGCONT");
    client.close();
    await local.stop();
  }
}

/** Target: with the bounds on, a's peak memory while b is frozen stays within this many MB of its warm steady state. */
export const FLAT_TARGET_MB = 40;

export async function outboxBenchmark(progress?: ProgressStep, o: OutboxBenchOptions = {}): Promise<BenchmarkOutput> {
  // Three runs of the same number of requests: the progress runs over all.
  const bounded = await measureOutboxRun("bounded", DEFAULT_OUTBOX_MEMORY_BYTES, { ...o, onStep: (d, t = 0) => progress?.(d, 3 * t) });
  const lifted = await measureOutboxRun("memory bound lifted", 1024 * 1024 * MB, { ...o, onStep: (d, t = 0) => progress?.(t + d, 3 * t) });
  const durable = await measureOutboxRun("durable (store:)", DEFAULT_OUTBOX_MEMORY_BYTES, { ...o, store: true, onStep: (d, t = 0) => progress?.(2 * t + d, 3 * t) });
  const line = (r: OutboxRun): string =>
    `  ${r.label.padEnd(20)} rss before ${fixed(r.rssBeforeMb, 0)} MB, peak ${fixed(r.rssPeakMb, 0)} MB (+${fixed(r.rssPeakMb - r.rssBeforeMb, 0)}), ` +
    `end ${fixed(r.rssEndMb, 0)} MB, after drain ${fixed(r.rssAfterDrainMb, 0)} MB; spilled ${fixed(r.spilledBytes / MB, 1)} MB; ` +
    `${r.sentToB} messages accepted for b in ${fixed(r.streamSeconds, 1)} s, ${r.busyRefusals} requests refused Busy; ` +
    `b got ${r.deliveredToB}/${r.expectedAtB} after SIGCONT in ${fixed(r.drainSeconds, 1)} s`;
  const grew = bounded.rssPeakMb - bounded.rssBeforeMb;
  return {
    records: [bounded, lifted, durable],
    lines: [
      line(bounded),
      line(lifted),
      line(durable),
      `  flat: peak within +${fixed(grew, 0)} MB of before with the bounds on (target <= +${FLAT_TARGET_MB} MB: ${grew <= FLAT_TARGET_MB ? "met" : "MISSED"}); ` +
        `every accepted message delivered: ${[bounded, lifted, durable].every((r) => r.deliveredToB === r.expectedAtB) ? "yes" : "NO"}`,
    ],
  };
}
