/**
 * A lifetime's configuration steps, applied to the live system: each resolves
 * its indices against what exists now, and skips (saying why) what would be
 * meaningless or break the application's assumptions (a self-link, a
 * duplicate link, a graph cut in two, fewer nodes than the scenario's
 * minimum), and what would remove a crashed node's link (refused by the
 * runtime, documented: a crashed node's links stay as they were until it is
 * back, its replay must see the topology it ran under). A partitioned link
 * may be removed: what was lost over it is dropped. A command the runtime refuses is
 * unexpected: between updates every one of these must be accepted.
 */
import { describeError } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { LifetimeStep } from "./lifetime.js";
import { isNamed } from "./error-name.js";
import { pairKey, splitPair, type LifetimeRun } from "./lifetime-state.js";

type ConfigStep = Extract<LifetimeStep, { kind: "create" | "link" | "unlink" | "destroy" }>;

export function applyConfig(run: LifetimeRun, step: ConfigStep): string {
  if (!run.life.reconfigure.includes(step.kind)) return `${step.kind}: skipped (the application does not tolerate it)`;
  try {
    return configure(run, step);
  } catch (e) {
    // Documented: a system that runs in pulses is configured before its first pulse, never after.
    if (isNamed(e, "SynchronizerConfigurationError")) return `${step.kind}: refused as documented (a synchronized system is configured before its first pulse)`;
    // Documented: a family whose nodes were all gone when a back-out ran stays retired at its old version.
    if (step.kind === "create" && isNamed(e, "RetiredVersionError")) return "create: refused as documented (the version is retired)";
    run.unexpected(`${step.kind} at generation ${run.gen} refused: ${describeError(e)}`);
    return `${step.kind}: refused`;
  }
}

function configure(run: LifetimeRun, step: ConfigStep): string {
  const { sys } = run;
  switch (step.kind) {
    case "create": {
      const behaviors = run.life.behaviorsAt(run.gen);
      const behavior = behaviors[step.family % behaviors.length];
      if (behavior === undefined) return "create: skipped (no behavior)";
      const peers = [...new Set(step.links.map((i) => run.nodeAt(i)))].filter((p) => !run.isDown(p));
      if (peers.length === 0) return "create: skipped (every node it would link to is down)";
      const id = `c${++run.created}`;
      sys.create(id, behavior);
      for (const p of peers) sys.link(id, p);
      return `create ${id} (${behavior.version}) linked to ${peers.join(", ")}`;
    }
    case "link": {
      const [a, b] = [run.nodeAt(step.a), run.nodeAt(step.b)];
      if (a === b || sys.neighbors(a).includes(b)) return `link ${a}-${b}: skipped (${a === b ? "same node" : "already linked"})`;
      if (run.isDown(a) || run.isDown(b)) return `link ${a}-${b}: skipped (${run.isDown(a) ? a : b} is down)`;
      sys.link(a, b);
      return `link ${a}-${b}`;
    }
    case "unlink": {
      const links = sortedLinks(run);
      const pair = links[step.link % Math.max(1, links.length)];
      if (pair === undefined) return "unlink: skipped (no link)";
      const [a, b] = pair;
      const untouchable = blocked(run, [[a, b]]);
      if (untouchable !== undefined) return `unlink ${a}-${b}: skipped (${untouchable})`;
      if (!connected(run.nodes(), links.filter((l) => l !== pair))) return `unlink ${a}-${b}: skipped (it would cut the graph)`;
      sys.unlink(a, b);
      // A partitioned link removed is no longer partitioned (what was lost over it is dropped).
      const was = run.partitions.delete(pairKey(a, b));
      return `unlink ${a}-${b}${was ? " (partitioned)" : ""}`;
    }
    case "destroy": {
      const id = run.nodeAt(step.node);
      const rest = run.nodes().filter((n) => n !== id);
      if (rest.length < 2) return `destroy ${id}: skipped (too few nodes)`;
      const untouchable = run.isDown(id) ? `${id} is down` : blocked(run, sortedLinks(run).filter(([a, b]) => a === id || b === id));
      if (untouchable !== undefined) return `destroy ${id}: skipped (${untouchable})`;
      if (!connected(rest, sortedLinks(run).filter(([a, b]) => a !== id && b !== id))) return `destroy ${id}: skipped (it would cut the graph)`;
      sys.destroy(id);
      for (const key of [...run.partitions]) if (splitPair(key).includes(id)) run.partitions.delete(key);
      return `destroy ${id}`;
    }
  }
}

/** Why these links must not be removed now (an end is down: the runtime refuses it, documented), if they must not. */
function blocked(run: LifetimeRun, links: readonly (readonly [NodeId, NodeId])[]): string | undefined {
  for (const [a, b] of links) if (run.isDown(a) || run.isDown(b)) return `${run.isDown(a) ? a : b} is down`;
  return undefined;
}

export function sortedLinks(run: LifetimeRun): (readonly [NodeId, NodeId])[] {
  return run.sys
    .links()
    .map(([a, b]) => (a < b ? ([a, b] as const) : ([b, a] as const)))
    .sort(([a1, b1], [a2, b2]) => (a1 === a2 ? (b1 < b2 ? -1 : b1 > b2 ? 1 : 0) : a1 < a2 ? -1 : 1));
}

/** Every node reachable from the first over the links: the strategies' control messages travel the links. */
export function connected(nodes: readonly NodeId[], links: readonly (readonly [NodeId, NodeId])[]): boolean {
  if (nodes.length === 0) return true;
  const reached = new Set<NodeId>([nodes[0] as NodeId]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [a, b] of links) {
      if (reached.has(a) !== reached.has(b)) {
        reached.add(a).add(b);
        grew = true;
      }
    }
  }
  return nodes.every((n) => reached.has(n));
}
