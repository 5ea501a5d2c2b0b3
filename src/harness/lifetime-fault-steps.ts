/**
 * A lifetime's fault steps, applied to the live system (crash, restart,
 * partition, heal), and the recovery a join makes: every crashed node
 * restarted and every partition healed, so that an update awaited there (or
 * the final settle) can finish. Indices resolve against what exists now; a
 * step with nothing to act on is skipped, saying why, so any subsequence of a
 * lifetime's steps stays a valid lifetime (a restart whose crash the shrinker
 * dropped does nothing).
 */
import { describeError, ForgetRefusedError, NodeDownError, TakeoverRefusedError } from "../core/errors.js";
import type { FaultStep } from "./lifetime.js";
import { connected, sortedLinks } from "./lifetime-config.js";
import { pairKey, splitPair, type LifetimeRun } from "./lifetime-state.js";

export async function applyFault(run: LifetimeRun, step: FaultStep): Promise<string> {
  const during = run.sys.updating() ? " (an update runs)" : "";
  try {
    return (await fault(run, step)) + during;
  } catch (e) {
    run.unexpected(`${step.kind} refused: ${describeError(e)}`);
    return `${step.kind}: refused`;
  }
}

async function fault(run: LifetimeRun, step: FaultStep): Promise<string> {
  const { sys } = run;
  switch (step.kind) {
    case "crash": {
      // Documented: a synchronized system refuses crash() (its pulse machinery has no durable snapshot yet).
      if (run.synchronized) return "crash: skipped (a synchronized system refuses crash)";
      const id = run.nodeAt(step.node);
      if (run.isDown(id)) return `crash ${id}: skipped (already down)`;
      sys.crash(id);
      return `crash ${id}`;
    }
    case "restart": {
      const down = run.down();
      const id = down[step.node % Math.max(1, down.length)];
      if (id === undefined) return "restart: skipped (no node is down)";
      await sys.restart(id);
      return `restart ${id}`;
    }
    case "lose":
      return lose(run, step.node);
    case "partition": {
      const links = sortedLinks(run).filter(([a, b]) => !run.isPartitioned(a, b));
      const pair = links[step.link % Math.max(1, links.length)];
      if (pair === undefined) return "partition: skipped (no link left to partition)";
      sys.partition(pair[0], pair[1]);
      run.partitions.add(pairKey(pair[0], pair[1]));
      return `partition ${pair[0]}-${pair[1]}`;
    }
    case "heal": {
      const parts = [...run.partitions].sort();
      const key = parts[step.link % Math.max(1, parts.length)];
      if (key === undefined) return "heal: skipped (no link is partitioned)";
      const [a, b] = splitPair(key);
      sys.heal(a, b);
      run.partitions.delete(key);
      return `heal ${a}-${b}`;
    }
  }
}

/**
 * A crashed node lost for good: the running update's root is taken over at a live node, any other node is forgotten.
 * A refusal the system documents (a forget or takeover that would cut nodes off from the root, a neighbour down too,
 * a node outside the update), or an application that cannot lose a node (its scenario never destroys one: its
 * verdict would count what the node took with it), restarts the node instead: the lifetime goes on.
 */
async function lose(run: LifetimeRun, index: number): Promise<string> {
  const { sys } = run;
  const down = run.down();
  const id = down[index % Math.max(1, down.length)];
  if (id === undefined) return "lose: skipped (no node is down)";
  if (!run.life.reconfigure.includes("destroy")) {
    await sys.restart(id);
    return `lose ${id}: restarted instead (this application never loses a node)`;
  }
  // As a destroy step: never the last nodes, never cutting the graph (the system would refuse every later update).
  const rest = run.nodes().filter((n) => n !== id);
  if (rest.length < 2 || !connected(rest, sortedLinks(run).filter(([a, b]) => a !== id && b !== id))) {
    await sys.restart(id);
    return `lose ${id}: restarted instead (losing it would ${rest.length < 2 ? "leave too few nodes" : "cut the graph"})`;
  }
  try {
    const what = sys.inspect().root === id ? takeOver(run, id, index) : forget(run, id);
    for (const key of [...run.partitions]) if (splitPair(key).includes(id)) run.partitions.delete(key);
    return what;
  } catch (e) {
    if (!(e instanceof ForgetRefusedError || e instanceof TakeoverRefusedError || e instanceof NodeDownError)) throw e;
    await sys.restart(id);
    return `lose ${id}: refused (${e.message}); restarted instead`;
  }
}

function takeOver(run: LifetimeRun, id: string, index: number): string {
  const up = run.nodes().filter((n) => !run.isDown(n));
  const at = up[index % Math.max(1, up.length)];
  if (at === undefined) throw new TakeoverRefusedError(id, "no node is up to take the update over");
  run.sys.takeover(at);
  return `lose ${id}: the update taken over at ${at}`;
}

function forget(run: LifetimeRun, id: string): string {
  run.sys.forget(id);
  return `lose ${id}: forgotten`;
}

/** Restart every crashed node and heal every partition (in name order); what was done, one phrase each. */
export async function recoverAll(run: LifetimeRun): Promise<string[]> {
  const done: string[] = [];
  for (const id of run.down()) {
    try {
      await run.sys.restart(id);
      done.push(`restarted ${id}`);
    } catch (e) {
      run.unexpected(`restart of "${id}" refused: ${describeError(e)}`);
      return done;
    }
  }
  for (const key of [...run.partitions].sort()) {
    const [a, b] = splitPair(key);
    try {
      run.sys.heal(a, b);
      run.partitions.delete(key);
      done.push(`healed ${a}-${b}`);
    } catch (e) {
      run.unexpected(`heal of ${a}-${b} refused: ${describeError(e)}`);
      return done;
    }
  }
  return done;
}
