/**
 * The one place graphs are made: the fixed and random topologies the tests,
 * scenarios and fuzzing draw from, and the large random connected graphs of
 * the benchmarks. Every random graph is a random spanning tree (each node i
 * linked to a node drawn in [0, i)) plus random extra links; the draws are
 * made in that order so that recorded seeds and benchmark checksums stay
 * valid.
 */
import type { NodeId } from "../core/ids.js";
import { Rng } from "../core/rng.js";

/** Nodes, and undirected links written [lower index, higher index]. */
export interface Graph {
  readonly nodes: readonly NodeId[];
  readonly links: readonly (readonly [NodeId, NodeId])[];
}

export type TopologyKind = "line" | "ring" | "star" | "tree" | "mesh" | "complete";
export const TOPOLOGY_KINDS: readonly TopologyKind[] = ["line", "ring", "star", "tree", "mesh", "complete"];

/**
 * Node names that sort in creation order: n00, n01, ... The default width of
 * 2 is what the fuzzed topologies have always used (their seeds replay only
 * with the same names, since names order the neighbour lists).
 */
export const nodeNames = (n: number, width = 2): NodeId[] => Array.from({ length: n }, (_, i) => `n${String(i).padStart(width, "0")}`);

/** Links by node index, without duplicates or self-links, in the order first added. */
class LinkSet {
  private readonly seen = new Set<number>();
  readonly pairs: [number, number][] = [];

  constructor(private readonly n: number) {}

  add(i: number, j: number): void {
    if (i === j) return;
    const a = Math.min(i, j);
    const b = Math.max(i, j);
    const key = a * this.n + b;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.pairs.push([a, b]);
  }

  get size(): number {
    return this.pairs.length;
  }

  named(nodes: readonly NodeId[]): Graph {
    return { nodes, links: this.pairs.map(([a, b]) => [nodes[a] as NodeId, nodes[b] as NodeId] as const) };
  }
}

/** Each node i > 0 linked to one drawn in [0, i): a random tree, so every graph built on it is connected. */
function addSpanningTree(links: LinkSet, n: number, rng: Rng): void {
  for (let i = 1; i < n; i++) links.add(rng.int(0, i - 1), i);
}

/** A connected topology of `n` nodes (n >= 2) of the given kind; random kinds draw from `seed`. */
export function makeTopology(kind: TopologyKind, n: number, seed: number): Graph {
  if (n < 1) throw new RangeError(`makeTopology: need at least one node, got ${n}`);
  const rng = new Rng(seed);
  const links = new LinkSet(n);
  switch (kind) {
    case "line":
      for (let i = 1; i < n; i++) links.add(i - 1, i);
      break;
    case "ring":
      for (let i = 1; i < n; i++) links.add(i - 1, i);
      if (n > 2) links.add(n - 1, 0);
      break;
    case "star":
      for (let i = 1; i < n; i++) links.add(0, i);
      break;
    case "tree":
      addSpanningTree(links, n, rng);
      break;
    case "mesh": {
      addSpanningTree(links, n, rng);
      // A drawn number of attempts (not of links): duplicates and self-links are skipped.
      const extra = rng.int(1, Math.max(1, n));
      for (let k = 0; k < extra; k++) links.add(rng.int(0, n - 1), rng.int(0, n - 1));
      break;
    }
    case "complete":
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) links.add(i, j);
      break;
  }
  return links.named(nodeNames(n));
}

/**
 * The benchmarks' graph: `n` nodes (names as wide as n - 1 needs, so they sort
 * like their indices), a random spanning tree, then random extra links until
 * there are n * meanDegree / 2 (or every pair is linked).
 */
export function randomConnectedGraph(n: number, meanDegree: number, seed: number): Graph {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`randomConnectedGraph: need at least 2 nodes, got ${n}`);
  const rng = new Rng(seed);
  const target = Math.min(Math.round((n * meanDegree) / 2), (n * (n - 1)) / 2);
  const links = new LinkSet(n);
  addSpanningTree(links, n, rng);
  while (links.size < target) links.add(rng.int(0, n - 1), rng.int(0, n - 1));
  return links.named(nodeNames(n, String(n - 1).length));
}

/** A graph by node index, for loops that avoid maps: each node's neighbours ascending, and the links as index pairs. */
export interface IndexedGraph {
  readonly adj: readonly (readonly number[])[];
  readonly links: readonly (readonly [number, number])[];
}

export function indexGraph(g: Graph): IndexedGraph {
  const index = new Map(g.nodes.map((id, i) => [id, i] as const));
  const links = g.links.map(([a, b]) => [index.get(a) as number, index.get(b) as number] as const);
  const adj: number[][] = g.nodes.map(() => []);
  for (const [a, b] of links) {
    (adj[a] as number[]).push(b);
    (adj[b] as number[]).push(a);
  }
  for (const list of adj) list.sort((x, y) => x - y);
  return { adj, links };
}
