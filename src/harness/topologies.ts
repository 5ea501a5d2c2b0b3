import type { NodeId } from "../core/ids.js";
import { Rng } from "../core/rng.js";

export type TopologyKind = "line" | "ring" | "star" | "tree" | "mesh" | "complete";
export const TOPOLOGY_KINDS: readonly TopologyKind[] = ["line", "ring", "star", "tree", "mesh", "complete"];

export interface TopologySpec {
  readonly nodes: readonly NodeId[];
  readonly links: readonly (readonly [NodeId, NodeId])[];
}

/** Node names that sort in creation order: n00, n01, ... */
export const nodeNames = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => `n${String(i).padStart(2, "0")}`);

/** A connected topology of `n` nodes (n >= 2) of the given kind; random kinds draw from `seed`. */
export function makeTopology(kind: TopologyKind, n: number, seed: number): TopologySpec {
  if (n < 1) throw new RangeError(`makeTopology: need at least one node, got ${n}`);
  const nodes = nodeNames(n);
  const at = (i: number): NodeId => nodes[i] as NodeId;
  const rng = new Rng(seed);
  const links: [NodeId, NodeId][] = [];
  const has = new Set<string>();
  const add = (i: number, j: number): void => {
    if (i === j) return;
    const [a, b] = i < j ? [i, j] : [j, i];
    const key = `${a}-${b}`;
    if (has.has(key)) return;
    has.add(key);
    links.push([at(a), at(b)]);
  };
  switch (kind) {
    case "line":
      for (let i = 1; i < n; i++) add(i - 1, i);
      break;
    case "ring":
      for (let i = 1; i < n; i++) add(i - 1, i);
      if (n > 2) add(n - 1, 0);
      break;
    case "star":
      for (let i = 1; i < n; i++) add(0, i);
      break;
    case "tree":
      for (let i = 1; i < n; i++) add(rng.int(0, i - 1), i);
      break;
    case "mesh": {
      for (let i = 1; i < n; i++) add(rng.int(0, i - 1), i);
      const extra = rng.int(1, Math.max(1, n));
      for (let k = 0; k < extra; k++) add(rng.int(0, n - 1), rng.int(0, n - 1));
      break;
    }
    case "complete":
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) add(i, j);
      break;
  }
  return { nodes, links };
}
