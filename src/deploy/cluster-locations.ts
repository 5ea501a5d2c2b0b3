/**
 * Where moved nodes run now, as the control plane on this machine knows it: `.liveswap-locations.json` beside the
 * cluster file, written by `ctl move` (docs/design.md "Moving a node"). A cluster file names each node's first
 * address; after a move its clients (ctl, a program's ClusterClient, a root's coordinator) find the node where it
 * went through this file. Nodes learn it from `ctl move` itself (relocate) and keep it in their stores; a node
 * process never reads this file, so a restarted old location stays where it was (and is fenced there).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { NodeId } from "../core/ids.js";
import type { Cluster, ClusterNode } from "./cluster-file.js";
import { openNodeStore } from "./store/open-node-store.js";
import { ClusterFileError } from "./cluster-file.js";

export interface MovedNode {
  readonly address: string;
  readonly locationEpoch: number;
  /** The directory of its store there (its `store:`), when not the cluster file's. */
  readonly store?: string;
  /** Where it binds, when not at `address` (behind a proxy or NAT: the cluster file's `listen:`). */
  readonly listen?: string;
  /** Where it moved from (its old location, retired once the move completes), its store and bind address there. */
  readonly from?: string;
  readonly fromStore?: string;
  readonly fromListen?: string;
}

export const locationsFile = (cluster: Cluster): string => join(dirname(cluster.file), ".liveswap-locations.json");

export function readLocations(cluster: Cluster): Readonly<Record<NodeId, MovedNode>> {
  const file = locationsFile(cluster);
  if (!existsSync(file)) return {};
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new ClusterFileError(`${file}: not JSON (\`ctl move\` writes this file of moved nodes' addresses); repair it, or remove it if no node of ${cluster.file} moved`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ClusterFileError(`${file}: expected an object of node ids to their new addresses`);
  return v as Record<NodeId, MovedNode>;
}

/** Record that `id` runs at `to` now (written whole, then renamed: never half a file). */
export function writeLocation(cluster: Cluster, id: NodeId, to: MovedNode | undefined): void {
  const all: Record<NodeId, MovedNode> = { ...readLocations(cluster) };
  if (to === undefined) delete all[id];
  else all[id] = to;
  const file = locationsFile(cluster);
  const tmp = `${file}.${process.pid}.tmp`; // two ctl moves at once never share a temporary file
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`);
  renameSync(tmp, file);
}

/** The cluster with node `id` at `address` (bound there too, or at `listen`) and, if given, its store directory `store`. */
export function atAddress(cluster: Cluster, id: NodeId, address: string, store?: string, listen?: string): Cluster {
  const nodes = cluster.nodes.map((n): ClusterNode => {
    if (n.id !== id) return n;
    const { listen: _listen, ...rest } = n;
    return { ...rest, address, ...(listen !== undefined && listen !== address ? { listen } : {}) };
  });
  return { ...cluster, nodes, ...(store !== undefined ? { storeDir: store } : {}) };
}

/** The cluster with every moved node of `book` (ctl's address book, read unless given) at its new address and bind address. */
export function withLocations(cluster: Cluster, book: Readonly<Record<NodeId, MovedNode>> = readLocations(cluster)): Cluster {
  let out = cluster;
  for (const [id, moved] of Object.entries(book)) if (cluster.nodes.some((n) => n.id === id)) out = atAddress(out, id, moved.address, undefined, moved.listen);
  return out;
}

/** Does the store directory `dir` (DIR/ID) hold a node's record? A moved node's destination does once it imported it. */
export function holdsRecord(dir: string): boolean {
  if (!existsSync(dir)) return false;
  const s = openNodeStore(dir);
  try {
    return s.load() !== undefined;
  } finally {
    s.close();
  }
}
