/**
 * The realtime bench's cluster: the replicated database on a line r0 - r1 - ... of node processes, every link
 * through a delaying link proxy (seeded jitter, byte order kept), mutual TLS and a signing key, and the signed
 * db@1 -> db@2 update package. (A minimal setup of its own until chaos/chaos-cluster.ts can give it.)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { startLinkProxy, type LinkDelay, type LinkProxy } from "../chaos/link-proxy.js";
import { ClusterClient } from "../deploy/cluster-client.js";
import { loadClusterFile } from "../deploy/cluster-file.js";
import { clusterUp, type StartedNode } from "../deploy/cluster-processes.js";
import { keysInit } from "../deploy/keys.js";
import { freePort } from "../deploy/local-cluster.js";
import { pack } from "../deploy/update-package.js";

export interface RealtimeCluster {
  readonly ids: readonly string[];
  readonly client: ClusterClient;
  readonly proxies: readonly LinkProxy[];
  /** The node processes' ids, by node. */
  readonly pids: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

/** Keys for `ids` and the signed key-format update (db@1 -> db@2), made once for every cluster of a run. */
export interface RealtimeKeys {
  readonly dir: string;
  readonly ids: readonly string[];
  /** The update package's text, signed with the keys' signing key. */
  readonly update: string;
  remove(): void;
}

export const lineIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `r${i}`);

export async function makeRealtimeKeys(nodes: number): Promise<RealtimeKeys> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-realtime-keys-"));
  const ids = lineIds(nodes);
  keysInit(dir, ids);
  const entry = resolve(import.meta.dirname, "../scenarios/replicated-db/key-update.ts");
  const update = JSON.stringify(await pack(entry, { key: join(dir, "signing.key") }));
  return { dir, ids, update, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Start the line: a proxy on every link (the smaller id dials the larger one through it), then the nodes. */
export async function startRealtimeCluster(keys: RealtimeKeys, o: { readonly delay: LinkDelay; readonly seed: number }): Promise<RealtimeCluster> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-realtime-"));
  const { ids } = keys;
  const addresses = new Map<string, string>();
  for (const id of ids) addresses.set(id, `127.0.0.1:${await freePort()}`);
  const proxies: LinkProxy[] = [];
  let started: readonly StartedNode[] = [];
  const close = async (): Promise<void> => {
    await stopNodes(started);
    for (const p of proxies) await p.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const dial = new Map<string, Record<string, string>>();
    for (let i = 0; i + 1 < ids.length; i++) {
      const [a, b] = [ids[i] as string, ids[i + 1] as string];
      const proxy = await startLinkProxy(addresses.get(b) as string, { delay: o.delay, seed: o.seed * 1000 + i });
      proxies.push(proxy);
      dial.set(a, { [b]: proxy.address });
    }
    const file = {
      nodes: ids.map((id) => {
        const d = dial.get(id);
        const pkg = resolve(import.meta.dirname, "../scenarios/replicated-db/package.ts");
        return { id, address: addresses.get(id), package: pkg, behavior: "db-v1", cert: join(keys.dir, `${id}.crt`), key: join(keys.dir, `${id}.key`), ...(d ? { dial: d } : {}) };
      }),
      links: ids.slice(1).map((id, i) => [ids[i], id]),
      trust: { signingKey: join(keys.dir, "signing.pub") },
      tls: { ca: join(keys.dir, "ca.crt"), control: { cert: join(keys.dir, "control.crt"), key: join(keys.dir, "control.key") } },
    };
    writeFileSync(join(dir, "cluster.yaml"), stringify(file));
    const cluster = loadClusterFile(join(dir, "cluster.yaml"));
    started = await clusterUp(cluster, { timeoutMs: 60_000 });
    const client = new ClusterClient(cluster);
    return {
      ids,
      client,
      proxies,
      pids: new Map(started.map((n) => [n.id, n.pid])),
      close: async () => {
        client.close();
        await close();
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}

async function stopNodes(nodes: readonly StartedNode[]): Promise<void> {
  await Promise.all(
    nodes.map(
      (n) =>
        new Promise<void>((r) => {
          if (n.child.exitCode !== null || n.child.signalCode !== null) return r();
          n.child.once("exit", () => r());
          n.child.kill("SIGTERM");
          setTimeout(() => n.child.kill("SIGKILL"), 10_000).unref();
        }),
    ),
  );
}
