/**
 * Steady-state overhead: no strategy may cost anything before an update starts.
 * The same token workload runs on a plain system and on systems whose update
 * machinery is idle: each has completed an update with one strategy (to a
 * version with the same code, so the work is identical), so whatever the
 * strategy left behind would show. Events per second, as a ratio to the plain
 * system measured in the same process (target 1.0).
 */
import type { Strategy } from "../core/update.js";
import { System } from "../system.js";
import { randomConnectedGraph } from "../harness/topologies.js";
import { install, tokenUpdate, tokenV1 } from "../harness/workload.js";

export interface OverheadResult {
  /** "none" and "none (control)": two plain systems; their ratio is the measurement's noise floor. */
  readonly strategy: Strategy | "none" | "none (control)";
  readonly events: number;
  readonly eventsPerSec: number;
  /** eventsPerSec / the plain system's. */
  readonly ratio: number;
}

async function workload(sys: System, nodes: readonly string[], tokens: number, hops: number): Promise<{ events: number; ms: number }> {
  const before = sys.eventsExecuted();
  const t0 = performance.now();
  const asks: Promise<unknown>[] = [];
  for (let i = 0; i < tokens; i++) asks.push(sys.request(nodes[(i * 7919) % nodes.length] as string, { hops }));
  await Promise.all(asks);
  await sys.settle();
  return { events: sys.eventsExecuted() - before, ms: performance.now() - t0 };
}

async function system(strategy: Strategy | "none" | "none (control)", nodes: number): Promise<{ sys: System; ids: readonly string[] }> {
  const g = randomConnectedGraph(nodes, 4, 3);
  const sys = new System({ seed: 3, trace: false });
  install(sys, g, tokenV1);
  if (strategy !== "none" && strategy !== "none (control)") await sys.update(tokenUpdate, { strategy, root: g.nodes[0] as string });
  await sys.settle();
  return { sys, ids: g.nodes };
}

export async function measureOverhead(
  strategies: readonly Strategy[] = ["snapshot", "conservative", "rollback", "cut"],
  o: { readonly nodes?: number; readonly tokens?: number; readonly hops?: number; readonly rounds?: number } = {},
): Promise<OverheadResult[]> {
  const nodes = o.nodes ?? 500;
  const tokens = o.tokens ?? 500;
  const hops = o.hops ?? 400;
  const rounds = o.rounds ?? 5;
  type Name = Strategy | "none" | "none (control)";
  const all: Name[] = ["none", ...strategies, "none (control)"];
  const best = new Map<Name, { events: number; rate: number }>();
  // Interleave the systems over several rounds, the order reversed every other round (what runs early or late in
  // a round is measured differently: heap growth, JIT state), and keep each one's best.
  const built = await Promise.all(all.map(async (s) => [s, await system(s, nodes)] as const));
  await workload(built[0]?.[1].sys as System, built[0]?.[1].ids ?? [], Math.min(tokens, 50), hops); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [s, { sys, ids }] of r % 2 === 0 ? built : [...built].reverse()) {
      const w = await workload(sys, ids, tokens, hops);
      const rate = (w.events / w.ms) * 1000;
      const prev = best.get(s);
      if (prev === undefined || rate > prev.rate) best.set(s, { events: w.events, rate });
    }
  }
  for (const [, { sys }] of built) await sys.close();
  const plain = best.get("none")?.rate ?? 1;
  return all.map((s) => {
    const b = best.get(s) as { events: number; rate: number };
    return { strategy: s, events: b.events, eventsPerSec: b.rate, ratio: b.rate / plain };
  });
}
