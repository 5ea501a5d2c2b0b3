/** `liveswap keys init`: the package signing key pair, the cluster CA and the certificates. */
import type { Command } from "commander";
import { loadClusterFile } from "../../deploy/cluster-file.js";
import { keysInit } from "../../deploy/keys.js";
import type { Out } from "../options.js";

export function registerKeys(program: Command, out: Out): void {
  const keys = program.command("keys").description("signing keys and TLS certificates");
  keys
    .command("init")
    .argument("<dir>")
    .option("--nodes <ids>", "comma-separated node ids to make certificates for")
    .option("--cluster <file>", "make certificates for every node of this cluster file")
    .option("--force", "replace existing keys", false)
    .description("make the package signing key pair, the cluster CA, and a certificate per node and for the control plane")
    .action((dir: string, o: { nodes?: string; cluster?: string; force: boolean }) => {
      const names = [...(o.nodes?.split(",").map((s) => s.trim()).filter((s) => s !== "") ?? []), ...(o.cluster ? loadClusterFile(o.cluster).nodes.map((n) => n.id) : [])];
      const files = keysInit(dir, names, { force: o.force });
      out(`${dir}: ${files.join(", ")}`);
    });
}
