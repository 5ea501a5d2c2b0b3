import { InternalError } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { Topology } from "../core/topology.js";

export interface Orientation {
  /** Neighbors before this node in (hop distance from the root, id) order, sorted. */
  readonly parents: readonly NodeId[];
  /** Neighbors after it, sorted. */
  readonly children: readonly NodeId[];
}

/**
 * Orient every link of a connected topology from the root (docs/design.md,
 * conservative): rank nodes by (hop distance from root, id) and point each link
 * from the lower rank to the higher. The result is acyclic, the root is the only
 * node without parents, and every link is a parent->child edge, so the paper's
 * rooted tree (5.2) generalises to any graph: rings, meshes, complete graphs.
 */
export function orientFrom(topology: Topology, root: NodeId): Map<NodeId, Orientation> {
  const dist = topology.distances(root);
  const before = (a: NodeId, b: NodeId): boolean => {
    const da = dist.get(a) as number;
    const db = dist.get(b) as number;
    return da < db || (da === db && a < b);
  };
  const out = new Map<NodeId, Orientation>();
  for (const n of topology.nodes()) {
    // The coordinator refuses a disconnected topology before any strategy prepares (needsConnectedTopology).
    if (!dist.has(n)) throw new InternalError(`orientFrom: node "${n}" is not reachable from the root "${root}"`);
    const parents: NodeId[] = [];
    const children: NodeId[] = [];
    for (const m of topology.neighbors(n)) (before(m, n) ? parents : children).push(m);
    out.set(n, { parents, children });
  }
  return out;
}

/** The largest hop distance from the root: how many channel crossings a wave from the root needs. */
export function eccentricity(topology: Topology, root: NodeId): number {
  let max = 0;
  for (const d of topology.distances(root).values()) if (d > max) max = d;
  return max;
}
