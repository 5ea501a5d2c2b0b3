/** `liveswap cluster up|down`: a whole cluster as local processes, for development and tests. */
import type { Command } from "commander";
import { loadClusterFile } from "../../deploy/cluster-file.js";
import { clusterDown, clusterUp } from "../../deploy/cluster-processes.js";
import type { Out } from "../options.js";

export function registerCluster(program: Command, out: Out): void {
  const cluster = program.command("cluster").description("a whole cluster as local processes, for development and tests");
  cluster
    .command("up")
    .argument("<file>", "the cluster file")
    .description(
      "start every node of the file as a local process; returns once all answer. Refuses, naming them, when nodes of the file already run " +
        "(a live process of its PID file, or anything listening at a node's address): `ctl status` shows them, `cluster down` stops them",
    )
    .action(async (file: string) => {
      const c = loadClusterFile(file);
      const started = await clusterUp(c, { detached: true });
      out(`up: ${started.map((s) => `${s.id} (pid ${s.pid})`).join(", ")}`);
    });
  cluster
    .command("down")
    .argument("<file>", "the cluster file")
    .description("stop the processes `up` started")
    .action((file: string) => {
      const stopped = clusterDown(loadClusterFile(file));
      out(stopped.length === 0 ? "nothing to stop" : `stopped: ${stopped.join(", ")}`);
    });
}
