import type { NodeId } from "./ids.js";

/**
 * Nodes and undirected links (each link is two FIFO channels). Every listing is
 * sorted so that no iteration order depends on insertion history.
 */
export class Topology {
  /**
   * Each node's sorted neighbours as a frozen array, replaced (never changed) when a link comes or goes: a
   * handler's ctx.neighbors() hands it out as is, so a splice throws instead of rewriting the topology, and a list
   * a caller kept stays what it was when read. Links change rarely; neighbours are read on every hop.
   */
  private readonly adjacency = new Map<NodeId, readonly NodeId[]>();
  /** Incarnation of each live link, stored both ways (a relinked pair gets a fresh one); nested maps cost no key string per lookup. */
  private readonly incarnation = new Map<NodeId, Map<NodeId, number>>();
  private links_ = 0;
  private nextIncarnation = 1;
  private sortedNodes: readonly NodeId[] | undefined;

  hasNode(id: NodeId): boolean {
    return this.adjacency.has(id);
  }

  addNode(id: NodeId): void {
    this.adjacency.set(id, NO_NEIGHBORS);
    this.incarnation.set(id, new Map());
    this.sortedNodes = undefined;
  }

  removeNode(id: NodeId): NodeId[] {
    const neighbors = [...(this.adjacency.get(id) ?? [])];
    for (const n of neighbors) this.removeLink(id, n);
    this.adjacency.delete(id);
    this.incarnation.delete(id);
    this.sortedNodes = undefined;
    return neighbors;
  }

  /**
   * A node lost for good leaves, but each neighbour keeps its half of their link until it learns of it (each
   * neighbour drops its half in a step of its own, dropHalf: its earlier steps, replayed after a crash, ran with it).
   * Returns the neighbours and the links' incarnations.
   */
  removeNodeKeepingHalves(id: NodeId): (readonly [NodeId, number])[] {
    const halves = [...(this.incarnation.get(id) ?? EMPTY_LINKS)].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    this.links_ -= halves.length;
    this.adjacency.delete(id);
    this.incarnation.delete(id);
    this.sortedNodes = undefined;
    return halves;
  }

  /** `a` no longer sees its half of a link to `b` (a node removed with removeNodeKeepingHalves). */
  dropHalf(a: NodeId, b: NodeId): void {
    if (this.incarnation.get(a)?.delete(b) !== true) return;
    this.withNeighbors(a, (list) => removeFrom(list, b));
  }

  /** `a` sees its half of the link to the removed `b` again (its replay must run with it, see dropHalf). */
  restoreHalf(a: NodeId, b: NodeId, incarnation: number): void {
    const links = this.incarnation.get(a);
    if (links === undefined || links.has(b)) return;
    links.set(b, incarnation);
    this.withNeighbors(a, (list) => insertSorted(list, b));
  }

  /** Copy a node's neighbour list, change the copy, freeze it and put it in place (copy on write). */
  private withNeighbors(id: NodeId, change: (list: NodeId[]) => void): void {
    const have = this.adjacency.get(id);
    if (have === undefined) return;
    const next = [...have];
    change(next);
    this.adjacency.set(id, Object.freeze(next));
  }

  linked(a: NodeId, b: NodeId): boolean {
    return this.incarnation.get(a)?.has(b) ?? false;
  }

  /** A node's live links (neighbor -> link incarnation), kept up to date in place: callers may hold on to it but never mutate it. */
  linksOf(id: NodeId): ReadonlyMap<NodeId, number> {
    return this.incarnation.get(id) ?? EMPTY_LINKS;
  }

  /** 0 when not linked. */
  linkIncarnation(a: NodeId, b: NodeId): number {
    return this.incarnation.get(a)?.get(b) ?? 0;
  }

  /** `incarnation`: given by a configuration manager in another process, so that both ends agree on it. */
  addLink(a: NodeId, b: NodeId, incarnation?: number): void {
    const inc = incarnation ?? this.nextIncarnation;
    this.nextIncarnation = Math.max(this.nextIncarnation, inc) + 1;
    this.incarnation.get(a)?.set(b, inc);
    this.incarnation.get(b)?.set(a, inc);
    this.links_++;
    this.withNeighbors(a, (list) => insertSorted(list, b));
    this.withNeighbors(b, (list) => insertSorted(list, a));
  }

  removeLink(a: NodeId, b: NodeId): void {
    if (this.incarnation.get(a)?.delete(b) === true) this.links_--;
    this.incarnation.get(b)?.delete(a);
    this.withNeighbors(a, (list) => removeFrom(list, b));
    this.withNeighbors(b, (list) => removeFrom(list, a));
  }

  /** Sorted neighbor list, frozen: a snapshot as of this call (read it again after a link changes). */
  neighbors(id: NodeId): readonly NodeId[] {
    return this.adjacency.get(id) ?? NO_NEIGHBORS;
  }

  /** Sorted, frozen (callers may keep it; it is replaced when a node comes or goes). */
  nodes(): readonly NodeId[] {
    this.sortedNodes ??= Object.freeze([...this.adjacency.keys()].sort());
    return this.sortedNodes;
  }

  links(): readonly (readonly [NodeId, NodeId])[] {
    const out: [NodeId, NodeId][] = [];
    for (const a of this.nodes()) {
      // A half kept for a node lost for good (removeNodeKeepingHalves) is no link any more.
      for (const b of this.neighbors(a)) if (a < b && this.adjacency.has(b)) out.push([a, b]);
    }
    return out;
  }

  get linkCount(): number {
    return this.links_;
  }

  /** Hop distance from root to every node it reaches (breadth-first, neighbors in sorted order). */
  distances(root: NodeId): Map<NodeId, number> {
    const dist = new Map<NodeId, number>([[root, 0]]);
    const queue: NodeId[] = [root];
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i] as NodeId;
      const d = dist.get(n) as number;
      for (const m of this.neighbors(n)) {
        if (!dist.has(m) && this.adjacency.has(m)) {
          dist.set(m, d + 1);
          queue.push(m);
        }
      }
    }
    return dist;
  }

  isConnected(): boolean {
    const all = this.nodes();
    if (all.length === 0) return true;
    return this.distances(all[0] as NodeId).size === all.length;
  }
}

const EMPTY_LINKS: ReadonlyMap<NodeId, number> = new Map();
const NO_NEIGHBORS: readonly NodeId[] = Object.freeze([]);

function insertSorted(list: NodeId[], id: NodeId): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as NodeId) > id) i--;
  list.splice(i, 0, id);
}

function removeFrom(list: NodeId[], id: NodeId): void {
  const i = list.indexOf(id);
  if (i >= 0) list.splice(i, 1);
}
