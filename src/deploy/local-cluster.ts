import { describeError } from "../core/errors.js";
/**
 * A cluster started on this machine from a cluster file written on the fly:
 * every node on a free loopback port, as a process of its own. The TCP
 * benchmark measures one; tests start them too (test/support/db-cluster.ts).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { loadClusterFile, type Cluster } from "./cluster-file.js";
import { clusterUp, type NodeEnv, type StartedNode } from "./cluster-processes.js";
import { freePort } from "./free-port.js";

/** A node of the file, without its address (each gets a free port). */
export interface LocalNodeSpec {
  readonly id: string;
  readonly package: string;
  readonly behavior: string;
  readonly cert?: string;
  readonly key?: string;
}

/** The cluster file's fields (see cluster-file.ts), paths absolute or relative to `dir`. */
export interface LocalClusterSpec {
  readonly nodes: readonly LocalNodeSpec[];
  readonly links: readonly (readonly [string, string])[];
  readonly trust?: { readonly signingKey: string };
  readonly tls?: { readonly ca: string; readonly control: { readonly cert: string; readonly key: string } };
  /** Where nodes write their traces; without it they keep them in memory. */
  readonly trace?: string;
  /** Where nodes keep their durable stores; without it they keep nothing across a restart. */
  readonly store?: string;
  /** How much trace each node keeps (cluster-file.ts, TraceRetention); default DEFAULT_TRACE_RETENTION. */
  readonly traceRetention?: { readonly segmentBytes?: number; readonly maxBytes?: number };
  /** Bounds of the nodes' outboxes (`outbox:` in the cluster file). */
  readonly outbox?: { readonly memoryBytes?: number; readonly diskQuotaBytes?: number };
  /** The default bound (ms) of outside requests from clients of the file (`requestTimeoutMs:`). */
  readonly requestTimeoutMs?: number;
  /** The wire codec (`codec:`); default the file's default (msgpack). */
  readonly codec?: "msgpack" | "json";
  /** Every node serves Prometheus metrics on a free loopback port (`metrics:`), read with `metricsAccess` if given. */
  readonly metrics?: boolean;
  readonly metricsAccess?: { readonly tokenFile?: string; readonly clientCert?: boolean };
  /** Connections over NATS (`transport:`) instead of the direct TCP mesh: nodes then have no address of their own. */
  readonly transport?: { readonly kind: "nats"; readonly servers: readonly string[]; readonly name?: string };
  /** Where cluster.yaml goes (default: a fresh temporary directory). */
  readonly dir?: string;
  /** How long to wait for every node to answer (default 60 s: a loaded machine starts processes slowly). */
  readonly timeoutMs?: number;
  /** Added to the nodes' environment (LIVESWAP_FAILPOINTS for a test that makes them crash or stall at a step). */
  readonly env?: NodeEnv;
}

export interface LocalCluster {
  readonly dir: string;
  readonly cluster: Cluster;
  readonly nodes: readonly StartedNode[];
  /** Stops every node and waits for its process to exit. */
  stop(): Promise<void>;
}

export async function startLocalCluster(spec: LocalClusterSpec): Promise<LocalCluster> {
  const dir = spec.dir ?? mkdtempSync(join(tmpdir(), "liveswap-cluster-"));
  // A port found free may be taken by another process before the node binds it: try again with fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnFreePorts(spec, dir);
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test(describeError(e))) throw e;
    }
  }
}

async function startOnFreePorts(spec: LocalClusterSpec, dir: string): Promise<LocalCluster> {
  const nodes = [];
  for (const n of spec.nodes) {
    const metrics = spec.metrics === true ? { metrics: `127.0.0.1:${await freePort()}` } : {};
    const address = spec.transport === undefined ? { address: `127.0.0.1:${await freePort()}` } : {};
    nodes.push({ id: n.id, ...address, package: n.package, behavior: n.behavior, ...(n.cert ? { cert: n.cert } : {}), ...(n.key ? { key: n.key } : {}), ...metrics });
  }
  const file = {
    nodes,
    links: spec.links.map(([a, b]) => [a, b]),
    ...(spec.trust ? { trust: spec.trust } : {}),
    ...(spec.tls ? { tls: spec.tls } : {}),
    ...(spec.trace !== undefined ? { trace: spec.trace } : {}),
    ...(spec.store !== undefined ? { store: spec.store } : {}),
    ...(spec.traceRetention !== undefined ? { traceRetention: spec.traceRetention } : {}),
    ...(spec.outbox !== undefined ? { outbox: spec.outbox } : {}),
    ...(spec.requestTimeoutMs !== undefined ? { requestTimeoutMs: spec.requestTimeoutMs } : {}),
    ...(spec.codec !== undefined ? { codec: spec.codec } : {}),
    ...(spec.metricsAccess !== undefined ? { metricsAccess: spec.metricsAccess } : {}),
    ...(spec.transport !== undefined ? { transport: spec.transport } : {}),
  };
  writeFileSync(join(dir, "cluster.yaml"), stringify(file));
  const cluster = loadClusterFile(join(dir, "cluster.yaml"));
  const started = await clusterUp(cluster, { timeoutMs: spec.timeoutMs ?? 60_000, ...(spec.env ? { env: spec.env } : {}) });
  return { dir, cluster, nodes: started, stop: () => stopNodes(started) };
}

async function stopNodes(nodes: readonly StartedNode[]): Promise<void> {
  await Promise.all(
    nodes.map(
      (n) =>
        new Promise<void>((r) => {
          if (n.child.exitCode !== null || n.child.signalCode !== null) return r();
          n.child.once("exit", () => r());
          n.child.kill("SIGTERM");
        }),
    ),
  );
}
