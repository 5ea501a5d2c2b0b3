/** `liveswap console`: the operator's live web view of a cluster (src/console/). */
import { randomBytes } from "node:crypto";
import { Option, type Command } from "commander";
import { ClusterSource } from "../../console/cluster-source.js";
import { startConsole, type ConsoleServer } from "../../console/console-server.js";
import type { ConsoleSource } from "../../console/console-state.js";
import { loadClusterFile, type Cluster } from "../../deploy/cluster-file.js";
import type { HttpAccess } from "../../deploy/http-access.js";
import { readSecret } from "../../deploy/metrics-access.js";
import { integer, type Out } from "../options.js";

export function registerConsole(program: Command, out: Out): void {
  program
    .command("console")
    .description("serve the operator's console: a live web page of the cluster (topology, versions, health, the running update's progress, rates, a space-time diagram of the last seconds; watch, abort and resume buttons). Never open: a token (printed in the URL) or the control certificate")
    .requiredOption("--cluster <file>", "the cluster file (YAML)")
    .option("--listen <host:port>", "where the page is served (loopback unless the cluster has TLS)", "127.0.0.1:7700")
    .option("--token-file <file>", "the access token (16 characters or more); default: a new random one, printed in the URL")
    .addOption(new Option("--refresh <ms>", "how often a watched page is refreshed").default(500).argParser(integer("--refresh", 100)))
    .action(async (o: { cluster: string; listen: string; tokenFile?: string; refresh: number }) => {
      const cluster = loadClusterFile(o.cluster);
      const server = await startConsole(new ClusterSource(cluster), { listen: o.listen, access: consoleAccess(cluster, o.tokenFile), refreshMs: o.refresh });
      announce(server, out, cluster.tls !== undefined ? "HTTPS with the cluster's control certificate; your browser may ask you to trust the cluster's CA (keys/ca.crt), or open it with the control certificate installed" : undefined);
      await untilInterrupted(server);
    });
}

/** A token (given, or new) and, with the cluster's TLS, HTTPS under the control certificate (which also lets a client in). */
export function consoleAccess(cluster: Cluster | undefined, tokenFile: string | undefined): HttpAccess {
  const token = tokenFile !== undefined ? readSecret(tokenFile, "--token-file") : randomBytes(16).toString("hex");
  const t = cluster?.tls;
  return { token, ...(t !== undefined ? { tls: { key: readSecret(t.control.key, "tls.control.key"), cert: readSecret(t.control.cert, "tls.control.cert"), ca: readSecret(t.ca, "tls.ca") } } : {}) };
}

export function announce(server: ConsoleServer, out: Out, note?: string): void {
  out(`console at ${server.url}`);
  out(`open: ${server.openUrl}`);
  if (note !== undefined) out(note);
  out("Ctrl-C stops it");
}

export async function untilInterrupted(server: ConsoleServer): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = (): void => void server.close().finally(resolve);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

export type { ConsoleSource };
