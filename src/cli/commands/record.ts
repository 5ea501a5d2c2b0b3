/** `liveswap record inspect FILE`: what a node record file (`ctl export`) holds, and whether a cluster trusts it. */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { InvalidOptionError } from "../../core/errors.js";
import { loadClusterFile } from "../../deploy/cluster-file.js";
import { NodeConfigError } from "../../deploy/errors.js";
import { describeNodeRecord, openNodeRecord, readNodeRecordFile } from "../../deploy/node-record-file.js";
import type { Out } from "../options.js";

export function registerRecord(program: Command, out: Out): void {
  const record = program.command("record").description("node record files: what `ctl export` writes and `liveswap node --import` starts from");
  record
    .command("inspect")
    .description("show a record file's header (node, version, epochs, retired versions, signer) and, with --cluster, check it as an import would")
    .argument("<file>")
    .option("--cluster <file>", "check the record against this cluster's CA (another cluster's, altered or unsigned records are refused)")
    .option("--state", "also print the node's snapshot and log as JSON (Maps and Sets shown as [\"Map\", entries])", false)
    .action((file: string, o: { cluster?: string; state: boolean }) => {
      const f = readNodeRecordFile(file);
      if (o.state && o.cluster === undefined) throw new InvalidOptionError("--state", "the state is shown once the record is verified: give --cluster too");
      for (const line of describeNodeRecord(f, file)) out(line);
      if (o.cluster === undefined) return;
      const cluster = loadClusterFile(o.cluster);
      if (cluster.tls === undefined) throw new NodeConfigError(`${o.cluster} has no \`tls:\`, so it cannot check a signed record`);
      const r = openNodeRecord(f, file, { ca: readFileSync(cluster.tls.ca, "utf8") });
      out(`verified: signed by "${f.node}" with a certificate of this cluster's CA, unaltered`);
      if (o.state) out(JSON.stringify(r, (_k, v: unknown) => (v instanceof Map ? ["Map", [...v.entries()]] : v instanceof Set ? ["Set", [...v.values()]] : v), 2));
    });
}
