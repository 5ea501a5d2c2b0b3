/** Workloads for the benchmarks: a seeded random connected graph and tokens wandering it. */
import { defineBehavior, defineUpdate, type Behavior, type NodeId, type Update } from "../index.js";
import { Rng } from "../core/rng.js";

export interface Graph {
  readonly nodes: readonly NodeId[];
  readonly links: readonly (readonly [NodeId, NodeId])[];
}

/** n nodes, a random spanning tree plus random links up to the mean degree; no duplicates, no self-links. */
export function randomGraph(n: number, meanDegree: number, seed: number): Graph {
  const rng = new Rng(seed);
  const width = String(n - 1).length;
  const nodes = Array.from({ length: n }, (_, i) => `n${String(i).padStart(width, "0")}`);
  const seen = new Set<number>();
  const links: [NodeId, NodeId][] = [];
  const add = (a: number, b: number): void => {
    if (a === b) return;
    const key = a < b ? a * n + b : b * n + a;
    if (seen.has(key)) return;
    seen.add(key);
    links.push([nodes[a] as NodeId, nodes[b] as NodeId]);
  };
  for (let i = 1; i < n; i++) add(rng.int(0, i - 1), i);
  const target = Math.floor((n * meanDegree) / 2);
  while (links.length < target) add(rng.int(0, n - 1), rng.int(0, n - 1));
  return { nodes, links };
}

/** A token with a hop budget: a node forwards it to a neighbour chosen by how many tokens it has seen. */
export interface TokenRequest {
  readonly hops: number;
}

function tokenBehavior(version: string): Behavior<number, number, TokenRequest, string> {
  return defineBehavior<number, number, TokenRequest, string>({
    version,
    init: () => 0,
    receive(count, hops, _from, ctx) {
      if (hops > 0) {
        const ns = ctx.neighbors();
        ctx.send(ns[count % ns.length] as NodeId, hops - 1);
      }
      return count + 1;
    },
    request(count, req, id, ctx) {
      const ns = ctx.neighbors();
      ctx.send(ns[count % ns.length] as NodeId, req.hops);
      ctx.respond(id, "sent");
      return count;
    },
  });
}

export const tokenV1 = tokenBehavior("token@1");
/** The same code under a new version: an update that changes nothing the workload could feel. */
export const tokenV2 = tokenBehavior("token@2");
export const tokenUpdate: Update = defineUpdate<number, number, number, number>({
  from: tokenV1,
  to: tokenV2,
  state: (s) => s,
  message: (m) => [m],
});
