/**
 * `liveswap node --import FILE`: a node's exported record (node-record-file.ts) becomes its store, and the node then
 * starts as a recovering one (disaster recovery onto new hardware, or a node moved by hand). The file is checked
 * first (this cluster's, this node's, signed and unaltered); the store must be empty, and the record lands there
 * whole or not at all: it is written into a directory beside the store's and renamed into place.
 */
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { failpoint } from "../core/failpoints.js";
import type { NodeId } from "../core/ids.js";
import type { Cluster } from "./cluster-file.js";
import { fileProblem, NodeConfigError } from "./errors.js";
import { openNodeRecord, readNodeRecordFile } from "./node-record-file.js";
import { openNodeStore } from "./store/open-node-store.js";

/** Seeds node `id`'s store from `file`; returns the line to log. */
export function importNodeRecord(cluster: Cluster, id: NodeId, file: string): string {
  if (cluster.storeDir === undefined) throw new NodeConfigError(`--import: ${cluster.file} has no \`store:\` directory, so node "${id}" has no store to import into; give the cluster one`);
  if (cluster.tls === undefined) throw new NodeConfigError(`--import: records are signed with the nodes' TLS keys and ${cluster.file} has no \`tls:\`, so none can be checked; make keys with \`liveswap keys init\``);
  let ca: string;
  try {
    ca = readFileSync(cluster.tls.ca, "utf8");
  } catch (e) {
    throw new NodeConfigError(`--import: cannot read the CA certificate ${cluster.tls.ca}: ${fileProblem(e)} (${cluster.file} names it)`);
  }
  const f = readNodeRecordFile(file);
  const record = openNodeRecord(f, file, { ca, expected: id });
  const dir = join(cluster.storeDir, id);
  if (existsSync(dir)) {
    const store = openNodeStore(dir);
    const held = store.load() !== undefined;
    store.close();
    if (held) throw new NodeConfigError(`--import: node "${id}"'s store ${dir} already holds a record; a record is imported into an empty store (move that directory away first: it may be the newer one)`);
    rmSync(dir, { recursive: true, force: true });
  }
  const staging = join(cluster.storeDir, `.import-${id}`);
  rmSync(staging, { recursive: true, force: true });
  const store = openNodeStore(staging);
  try {
    // The first commit carries the location (in the bookmark); the log follows its snapshot.
    store.commit({ entries: [], ...(record.snapshot !== undefined ? { snapshot: record.snapshot } : {}), mark: record.mark });
    if (record.log.length > 0) store.commit({ entries: record.log });
  } finally {
    store.close();
  }
  failpoint("import.before-rename");
  renameSync(staging, dir);
  return `node "${id}": imported ${file} (${f.version}, exported ${f.exportedAt}, ${f.logEntries} log entries after its snapshot) into ${dir}`;
}
