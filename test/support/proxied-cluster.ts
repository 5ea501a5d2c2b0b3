import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { loadClusterFile, type Cluster } from "../../src/deploy/cluster-file.js";
import { clusterUp, type NodeEnv, type StartedNode } from "../../src/deploy/cluster-processes.js";
import { freePort } from "../../src/deploy/free-port.js";
import type { HeartbeatOptions } from "../../src/network/tcp/heartbeat.js";
import { startBlackholeProxy, type BlackholeProxy } from "./blackhole-proxy.js";
import { childModule } from "./child-tree.js";

/** A replicated-db cluster with some nodes behind a blackhole proxy (`listen:` private, `address:` the proxy's). */
export interface ProxiedCluster {
  readonly dir: string;
  readonly cluster: Cluster;
  readonly nodes: readonly StartedNode[];
  /** The proxy in front of each proxied node. */
  readonly proxies: ReadonlyMap<string, BlackholeProxy>;
  /** Stops every node (and waits for its exit), then the proxies. */
  stop(): Promise<void>;
}

/**
 * Start the replicated database on `nodes` (ids), linked by `links`, each node in `proxied` behind a proxy of its
 * own. Remember that a node dials its neighbours with larger ids itself (see blackhole-proxy.ts): to cut a node from
 * everyone, give it the largest id among its neighbours. `keys`: a directory made by keysInit (mutual TLS).
 */
export async function startProxiedDbCluster(opts: {
  readonly nodes: readonly string[];
  readonly links: readonly (readonly [string, string])[];
  readonly proxied: readonly string[];
  readonly keys?: string;
  readonly store?: boolean;
  readonly heartbeat?: HeartbeatOptions;
  /** Start only these nodes (the others are in the file, linked, and never started: a test plays them). */
  readonly only?: readonly string[];
  /** The nodes' environment (failpoints), the same for all or per node. */
  readonly env?: NodeEnv;
}): Promise<ProxiedCluster> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-proxied-"));
  const pkg = childModule(resolve(import.meta.dirname, "../../src/scenarios/replicated-db/package.ts"));
  const proxies = new Map<string, BlackholeProxy>();
  const keys = opts.keys;
  try {
    const nodes = [];
    for (const id of opts.nodes) {
      const listen = `127.0.0.1:${await freePort()}`;
      let address = listen;
      if (opts.proxied.includes(id)) {
        const proxy = await startBlackholeProxy(listen);
        proxies.set(id, proxy);
        address = proxy.address;
      }
      nodes.push({ id, address, ...(address !== listen ? { listen } : {}), package: pkg, behavior: "db-v1", ...(keys ? { cert: join(keys, `${id}.crt`), key: join(keys, `${id}.key`) } : {}) });
    }
    const file = {
      nodes,
      links: opts.links.map(([a, b]) => [a, b]),
      ...(keys ? { trust: { signingKey: join(keys, "signing.pub") }, tls: { ca: join(keys, "ca.crt"), control: { cert: join(keys, "control.crt"), key: join(keys, "control.key") } } } : {}),
      trace: "traces",
      ...(opts.store ? { store: "store" } : {}),
      ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
    };
    writeFileSync(join(dir, "cluster.yaml"), stringify(file));
    const cluster = loadClusterFile(join(dir, "cluster.yaml"));
    const started = await clusterUp(cluster, { timeoutMs: 60_000, ...(opts.only !== undefined ? { only: opts.only } : {}), ...(opts.env !== undefined ? { env: opts.env } : {}) });
    return {
      dir,
      cluster,
      nodes: started,
      proxies,
      async stop() {
        await Promise.all(
          started.map(
            (n) =>
              new Promise<void>((r) => {
                if (n.child.exitCode !== null || n.child.signalCode !== null) return r();
                n.child.once("exit", () => r());
                n.child.kill("SIGTERM");
                // A node stuck behind a black hole still exits on SIGTERM; SIGKILL if it does not within 10 s.
                setTimeout(() => n.child.kill("SIGKILL"), 10_000).unref();
              }),
          ),
        );
        for (const p of proxies.values()) await p.close();
      },
    };
  } catch (e) {
    for (const p of proxies.values()) await p.close();
    throw e;
  }
}
