/**
 * A random workload around one update, for property tests of the strategies:
 * tokens wander the topology (the relay fixtures) before, during and after the
 * update, which starts at a random moment from a random root.
 */
import { Rng } from "../core/rng.js";
import type { Strategy, UpdateReport } from "../core/update.js";
import type { CheckReport } from "../check/checker.js";
import { System, type SystemOptions } from "../system.js";
import { relayUpdate, relayV1 } from "../scenarios/relay.js";
import { makeTopology, type TopologyKind } from "./topologies.js";

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
  for (const n of spec.nodes) sys.create(n, relayV1);
  for (const [a, b] of spec.links) sys.link(a, b);
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
