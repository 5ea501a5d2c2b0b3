/**
 * The durable benchmark's cluster: two node processes a - b on loopback (no TLS, as the TCP benchmark) running the
 * TCP benchmark's pump program, traces to files, and with `durable` a store each (`store:` in the cluster file)
 * under `dir`, which the caller puts on a disk.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { NodeStatus, StoreStatus } from "../network/tcp/protocol.js";
import { ClusterClient } from "../deploy/cluster-client.js";
import { startLocalCluster, type LocalCluster } from "../deploy/local-cluster.js";

const here = import.meta.dirname;
export const PUMP = resolve(here, import.meta.url.endsWith(".ts") ? "tcp-pump.ts" : "tcp-pump.js");

export async function startPair(dir: string, durable: boolean): Promise<LocalCluster> {
  mkdirSync(dir, { recursive: true });
  return startLocalCluster({
    dir,
    nodes: ["a", "b"].map((id) => ({ id, package: PUMP, behavior: "pump-1" })),
    links: [["a", "b"]],
    trace: "traces",
    ...(durable ? { store: "store" } : {}),
  });
}

/** Node a sends `n` pings to b, b answers each: 2n messages over the link; messages per second. */
export async function pumpRate(client: ClusterClient, n: number): Promise<number> {
  const t0 = performance.now();
  await client.request("a", { kind: "pump", n }, { timeoutMs: 120_000 });
  return (2 * n) / ((performance.now() - t0) / 1000);
}

/** A node's store figures, or an error naming it when it has no store. */
export function storeOf(s: NodeStatus): StoreStatus {
  if (s.store === undefined) throw new Error(`node "${s.id}" reports no store: is store: in its cluster file?`);
  return s.store;
}

/** Until every link of `ids` is connected with nothing unacknowledged (or `withinMs` passes). */
export async function settled(client: ClusterClient, ids: readonly string[], withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  for (;;) {
    const st = await Promise.all(ids.map((id) => client.status(id)));
    if (st.every((s) => s.neighbors.every((p) => p.connected && p.unacked === 0))) return;
    if (Date.now() > until) throw new Error(`links not settled after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
