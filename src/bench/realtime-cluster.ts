/**
 * The realtime bench's cluster: the replicated database on a line r0 - r1 - ... of node processes, started by
 * liveswap chaos's cluster (chaos/chaos-cluster.ts) on loopback with every link delayed by its proxies (seeded
 * jitter, byte order kept), no durable store and traces in memory (the Erlang peer keeps neither; nothing is killed, so
 * `ctl trace` reads every node's whole trace at the end), and the db@1 -> db@2 update
 * packed and signed with the cluster's key.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startChaosCluster } from "../chaos/chaos-cluster.js";
import type { LinkDelay } from "../chaos/link-proxy.js";
import type { ClusterClient } from "../deploy/cluster-client.js";
import { pack } from "../deploy/update-package.js";

export interface RealtimeCluster {
  readonly ids: readonly string[];
  readonly client: ClusterClient;
  /** The signed key-format update package (db@1 -> db@2), as `ctl update` ships it. */
  readonly update: string;
  /** The node processes' ids, by node. */
  readonly pids: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

export const lineIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `r${i}`);

/** The key-format update's entry, from the sources or from the compiled package. */
function keyUpdateEntry(): string {
  const fromSource = import.meta.url.endsWith(".ts");
  return resolve(import.meta.dirname, "..", "scenarios", "replicated-db", fromSource ? "key-update.ts" : "key-update.js");
}

type RealtimeClusterOptions = { readonly nodes: number; readonly delay: LinkDelay; readonly seed: number };

/**
 * Start the line of `nodes` replicas at db@1; close() stops every process and removes its directory. (A port taken
 * before its node bound it is retried by startChaosCluster.)
 */
export async function startRealtimeCluster(o: RealtimeClusterOptions): Promise<RealtimeCluster> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-realtime-"));
  const ids = lineIds(o.nodes);
  try {
    const c = await startChaosCluster({ nodes: ids, links: ids.slice(1).map((id, i) => [ids[i] as string, id] as const), dir, network: "loopback", delay: o.delay, seed: o.seed, store: false, trace: "memory" });
    const close = async (): Promise<void> => {
      await c.close();
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      const update = JSON.stringify(await pack(keyUpdateEntry(), { key: join(c.keys, "signing.key") }));
      return { ids, client: c.client, update, pids: new Map(ids.map((id) => [id, c.pid(id) as number])), close };
    } catch (e) {
      await close();
      throw e;
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
