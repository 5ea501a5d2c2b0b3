/**
 * Durable against in-memory throughput (wall clock): the same pump workload (a pings b, b answers each, every
 * message crossing the a - b link) on two clusters of two node processes, one with a store per node, one without,
 * measured round by round interleaved so that both see the same machine. Beside the rates: the durable nodes'
 * group commits over the measured rounds (log entries per commit, i.e. per fsync) and their commit latency.
 */
import { join } from "node:path";
import { ClusterClient } from "../deploy/cluster-client.js";
import type { LocalCluster } from "../deploy/local-cluster.js";
import type { StoreStatus } from "../network/tcp/protocol.js";
import { pumpRate, startPair, storeOf } from "./durable-pair.js";

export interface DurableThroughput {
  readonly messages: number;
  readonly rounds: number;
  /** Best round, messages per second. */
  readonly memoryMsgsPerSec: number;
  readonly durableMsgsPerSec: number;
  readonly ratio: number;
  /** Both durable nodes over the measured rounds: group commits (fsyncs) and the log entries they made durable. */
  readonly commits: number;
  readonly entries: number;
  readonly entriesPerCommit: number;
  /** Commit wall ms (fsync included) of node b, the receiver (its last few thousand commits). */
  readonly fsyncP50Ms: number;
  readonly fsyncP99Ms: number;
}

async function stores(client: ClusterClient): Promise<readonly StoreStatus[]> {
  return Promise.all(["a", "b"].map(async (id) => storeOf(await client.status(id))));
}

const sum = (xs: readonly StoreStatus[], f: (s: StoreStatus) => number): number => xs.reduce((a, s) => a + f(s), 0);

export async function measureThroughput(
  root: string,
  opts: { readonly messages: number; readonly rounds: number; readonly tick: () => void },
): Promise<DurableThroughput> {
  const clusters: LocalCluster[] = [];
  const clients: ClusterClient[] = [];
  try {
    // Started together (nothing is timed yet); both stopped in `finally`, even when the other failed to start.
    const starts = await Promise.allSettled([startPair(join(root, "memory"), false), startPair(join(root, "durable"), true)]);
    for (const s of starts) if (s.status === "fulfilled") clusters.push(s.value);
    for (const s of starts) if (s.status === "rejected") throw s.reason;
    for (const c of clusters) clients.push(new ClusterClient(c.cluster));
    const [memory, durable] = clients as [ClusterClient, ClusterClient];
    // Warm up both (JIT, connections) before anything is timed.
    await pumpRate(memory, Math.min(1000, opts.messages));
    await pumpRate(durable, Math.min(1000, opts.messages));
    const before = await stores(durable);
    let mem = 0;
    let dur = 0;
    for (let r = 0; r < opts.rounds; r++) {
      mem = Math.max(mem, await pumpRate(memory, opts.messages));
      opts.tick();
      dur = Math.max(dur, await pumpRate(durable, opts.messages));
      opts.tick();
    }
    const after = await stores(durable);
    const commits = sum(after, (s) => s.commits) - sum(before, (s) => s.commits);
    const entries = sum(after, (s) => s.entries) - sum(before, (s) => s.entries);
    const b = after[1] as StoreStatus;
    return {
      messages: opts.messages,
      rounds: opts.rounds,
      memoryMsgsPerSec: mem,
      durableMsgsPerSec: dur,
      ratio: mem === 0 ? 0 : dur / mem,
      commits,
      entries,
      entriesPerCommit: commits === 0 ? 0 : entries / commits,
      fsyncP50Ms: b.fsyncP50Ms,
      fsyncP99Ms: b.fsyncP99Ms,
    };
  } finally {
    for (const c of clients) c.close();
    await Promise.all(clusters.map((c) => c.stop()));
  }
}
