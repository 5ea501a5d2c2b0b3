/**
 * A lifetime's fault steps, applied to the live system (crash, restart,
 * partition, heal), and the recovery a join makes: every crashed node
 * restarted and every partition healed, so that an update awaited there (or
 * the final settle) can finish. Indices resolve against what exists now; a
 * step with nothing to act on is skipped, saying why, so any subsequence of a
 * lifetime's steps stays a valid lifetime (a restart whose crash the shrinker
 * dropped does nothing).
 */
import { describeError } from "../core/errors.js";
import type { FaultStep } from "./lifetime.js";
import { sortedLinks } from "./lifetime-config.js";
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
