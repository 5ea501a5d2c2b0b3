/** `liveswap node`: one node of a cluster in this process. */
import type { Command } from "commander";
import { describeFailpoints, FAILPOINTS_ENV } from "../../core/failpoints.js";
import { resolve } from "node:path";
import { atAddress } from "../../deploy/cluster-locations.js";
import { checkNodeFiles, loadClusterFile } from "../../deploy/cluster-file.js";
import { NodeDaemon } from "../../deploy/node-daemon.js";
import { InvalidOptionError } from "../../core/errors.js";
import { logFormat, logLevel, makeLogger } from "../../deploy/logger.js";
import type { Out } from "../options.js";

export function registerNode(program: Command, out: Out): void {
  program
    .command("node")
    .description("run one node of a cluster in this process (listens on its address, links to its neighbours)")
    .requiredOption("--cluster <file>", "the cluster file (YAML)")
    .requiredOption("--id <id>", "which node of the file this process is")
    .option("--unlinked", "start with no links (as `ctl create` does); `ctl link` adds them", false)
    .option("--import <file>", "start from a record `ctl export` or `ctl move` wrote (its store must be empty): disaster recovery onto new hardware, or a move")
    .option("--address <host:port>", "listen here instead of at the file's address (where the node moved to)")
    .option("--listen <host:port>", "bind here, while dialled at --address (behind a proxy or NAT)")
    .option("--metrics <host:port>", "serve Prometheus metrics here (GET /metrics) instead of at the file's `metrics:`")
    .option("--log-format <format>", "text (human lines, the default) or json (one pino record a line); also LIVESWAP_LOG_FORMAT, or the file's log.format")
    .option("--log-level <level>", "the lowest level written: debug, info (default), warn or error; also LIVESWAP_LOG_LEVEL, or the file's log.level")
    .option("--store <dir>", "the directory of stores (DIR/ID) instead of the file's `store:` (a moved node's store on its new machine)")
    .action(async (o: { cluster: string; id: string; unlinked: boolean; import?: string; address?: string; listen?: string; store?: string; metrics?: string; logFormat?: string; logLevel?: string }) => {
      const file = loadClusterFile(o.cluster);
      if (o.listen !== undefined && o.address === undefined) throw new InvalidOptionError("--listen", "it goes with --address (where the node is dialled); the cluster file's `listen:` is for a node at its first address");
      const cluster = o.address !== undefined || o.store !== undefined ? atAddress(file, o.id, o.address ?? (file.nodes.find((n) => n.id === o.id)?.address ?? ""), o.store === undefined ? undefined : resolve(o.store), o.listen) : file;
      checkNodeFiles(cluster, o.id);
      // A node that can crash on purpose says so first: its log explains a death that would otherwise look like a bug.
      const armed = describeFailpoints();
      if (armed !== "") out(`failpoints set (${FAILPOINTS_ENV}): ${armed}`);
      const format = logFormat(o.logFormat ?? process.env.LIVESWAP_LOG_FORMAT ?? file.log?.format ?? "text");
      const level = logLevel(o.logLevel ?? process.env.LIVESWAP_LOG_LEVEL ?? file.log?.level ?? "info");
      const logger = makeLogger({ format, level, write: out, base: { node: o.id, component: "node" } });
      const daemon = await NodeDaemon.start(cluster, o.id, { logger, onStop: () => process.exit(process.exitCode ?? 0), unlinked: o.unlinked, ...(o.import !== undefined ? { importFrom: o.import } : {}), ...(o.metrics !== undefined ? { metrics: o.metrics } : {}) });
      const stop = (): void => void daemon.stop();
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      await new Promise(() => undefined); // serve until stopped
    });
}
