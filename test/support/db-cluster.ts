import { join, resolve } from "node:path";
import { startLocalCluster, type LocalCluster } from "../../src/deploy/local-cluster.js";
import type { NodeEnv } from "../../src/deploy/cluster-processes.js";
import { childModule } from "./child-tree.js";

export type TestCluster = LocalCluster;

/**
 * A cluster of the replicated database as local processes, for tests: a line
 * r0 - r1 - ... , each node on a free port, with mutual TLS when `keys` (a
 * directory made by keysInit) is given.
 */
export async function startDbCluster(opts: {
  readonly nodes: number;
  readonly keys?: string;
  readonly dir?: string;
  readonly traceFiles?: boolean;
  readonly store?: boolean;
  readonly env?: NodeEnv;
  /** Close the line into a ring (the last node linked to r0 too): any one node lost leaves the others connected. */
  readonly ring?: boolean;
  readonly metrics?: boolean;
  readonly metricsAccess?: { readonly tokenFile?: string; readonly clientCert?: boolean };
  /**
   * Every connection over NATS (`transport: { kind: nats }`): this server, or these servers of one NATS cluster, under a
   * subject prefix of the test's own; `replicas`: the JetStream stream's copies.
   */
  readonly nats?: { readonly url: string | readonly string[]; readonly name: string; readonly replicas?: number };
}): Promise<TestCluster> {
  const pkg = childModule(resolve(import.meta.dirname, "../../src/scenarios/replicated-db/package.ts"));
  const ids = Array.from({ length: opts.nodes }, (_, i) => `r${i}`);
  const keys = opts.keys;
  return startLocalCluster({
    nodes: ids.map((id) => ({ id, package: pkg, behavior: "db-v1", ...(keys ? { cert: join(keys, `${id}.crt`), key: join(keys, `${id}.key`) } : {}) })),
    links: [...ids.slice(1).map((id, i) => [ids[i] as string, id] as const), ...(opts.ring === true && opts.nodes > 2 ? [[ids[opts.nodes - 1] as string, "r0"] as const] : [])],
    ...(keys
      ? {
          trust: { signingKey: join(keys, "signing.pub") },
          tls: { ca: join(keys, "ca.crt"), control: { cert: join(keys, "control.crt"), key: join(keys, "control.key") } },
        }
      : {}),
    ...(opts.traceFiles ? { trace: "traces" } : {}),
    ...(opts.store ? { store: "store" } : {}),
    ...(opts.dir !== undefined ? { dir: opts.dir } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.metrics === true ? { metrics: true } : {}),
    ...(opts.metricsAccess !== undefined ? { metricsAccess: opts.metricsAccess } : {}),
    ...(opts.nats !== undefined ? { transport: natsTransport(opts.nats) } : {}),
  });
}

function natsTransport(n: NonNullable<Parameters<typeof startDbCluster>[0]["nats"]>) {
  return { kind: "nats" as const, servers: typeof n.url === "string" ? [n.url] : [...n.url], name: n.name, ...(n.replicas !== undefined ? { replicas: n.replicas } : {}) };
}
