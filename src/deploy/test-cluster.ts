import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadClusterFile, type Cluster } from "./cluster-file.js";
import { clusterUp, type StartedNode } from "./cluster-processes.js";

/** A free loopback port (the OS picks it; we release it at once). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface TestCluster {
  readonly dir: string;
  readonly cluster: Cluster;
  readonly nodes: readonly StartedNode[];
  stop(): Promise<void>;
}

/**
 * A cluster of the replicated database as local processes, for tests: a line
 * r0 - r1 - ... , each node on a free port, with mutual TLS when `keys` (a
 * directory made by keysInit) is given.
 */
export async function startDbCluster(opts: { readonly nodes: number; readonly keys?: string; readonly dir?: string; readonly traceFiles?: boolean }): Promise<TestCluster> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "liveswap-cluster-"));
  const pkg = resolve(import.meta.dirname, "../scenarios/replicated-db/package.ts");
  const lines: string[] = ["nodes:"];
  for (let i = 0; i < opts.nodes; i++) {
    const port = await freePort();
    lines.push(`  - id: r${i}`, `    address: 127.0.0.1:${port}`, `    package: ${pkg}`, "    behavior: db-v1");
    if (opts.keys) lines.push(`    cert: ${join(opts.keys, `r${i}.crt`)}`, `    key: ${join(opts.keys, `r${i}.key`)}`);
  }
  lines.push("links:");
  for (let i = 1; i < opts.nodes; i++) lines.push(`  - [r${i - 1}, r${i}]`);
  if (opts.keys) {
    lines.push("trust:", `  signingKey: ${join(opts.keys, "signing.pub")}`);
    lines.push("tls:", `  ca: ${join(opts.keys, "ca.crt")}`, "  control:", `    cert: ${join(opts.keys, "control.crt")}`, `    key: ${join(opts.keys, "control.key")}`);
  }
  if (opts.traceFiles) lines.push("trace: traces");
  const file = join(dir, "cluster.yaml");
  writeFileSync(file, `${lines.join("\n")}\n`);
  const cluster = loadClusterFile(file);
  const nodes = await clusterUp(cluster, { timeoutMs: 60_000 });
  return {
    dir,
    cluster,
    nodes,
    async stop() {
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
    },
  };
}
