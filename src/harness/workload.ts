/**
 * Workloads: tokens wandering a graph. The property tests of the strategies
 * run the relay fixtures before, during and after an update started at a
 * random moment from a random root (runWorkload); the benchmarks run a
 * bare token program whose update changes nothing the workload could feel
 * (tokenV1, tokenUpdate).
 */
import { defineBehavior, type Behavior } from "../core/behavior.js";
import type { NodeId } from "../core/ids.js";
import { Rng } from "../core/rng.js";
import { defineUpdate, type Strategy, type Update, type UpdateReport } from "../core/update.js";
import type { CheckReport } from "../check/checker.js";
import { System, type SystemOptions } from "../system.js";
import { relayUpdate, relayV1 } from "./relay.js";
import { makeTopology, type Graph, type TopologyKind } from "./topologies.js";

export interface WorkloadCase {
  readonly kind: TopologyKind;
  readonly nodes: number;
  readonly topologySeed: number;
  readonly rootIndex: number;
  readonly seed: number;
  /** Tokens started before the update. */
  readonly tokensBefore: number;
  /** Tokens started while the update runs. */
  readonly tokensDuring: number;
  readonly maxHops: number;
  /** Virtual ms between the first tokens and update(). */
  readonly updateAfter: number;
}

export interface WorkloadOutcome {
  readonly report: UpdateReport;
  readonly check: CheckReport;
  readonly versions: readonly string[];
  readonly links: number;
  readonly system: System;
}

export async function runWorkload(strategy: Strategy, c: WorkloadCase, options: SystemOptions = {}): Promise<WorkloadOutcome> {
  const spec = makeTopology(c.kind, c.nodes, c.topologySeed);
  const sys = new System({ seed: c.seed, ...options });
  install(sys, spec, relayV1);
  const rng = new Rng(c.seed ^ 0x9e37);
  const asks: Promise<unknown>[] = [];
  const token = (label: string): void => {
    const at = rng.pick(spec.nodes);
    asks.push(sys.request(at, { kind: "send", token: label, hops: rng.int(0, c.maxHops) }));
  };
  for (let i = 0; i < c.tokensBefore; i++) token(`b${i}`);
  await sys.sleep(c.updateAfter);
  const root = spec.nodes[c.rootIndex % spec.nodes.length] as string;
  const update = sys.update(relayUpdate, { strategy, root });
  for (let i = 0; i < c.tokensDuring; i++) {
    await sys.sleep(rng.int(0, 3));
    token(`d${i}`);
  }
  const report = await update;
  await Promise.all(asks);
  await sys.settle();
  return { report, check: sys.check(), versions: sys.nodes().map((n) => sys.version(n)), links: spec.links.length, system: sys };
}

/** Every node of the graph created with one behavior, then every link, in the graph's order. */
export function install(sys: System, g: Graph, behavior: Behavior): void {
  for (const n of g.nodes) sys.create(n, behavior);
  for (const [a, b] of g.links) sys.link(a, b);
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
