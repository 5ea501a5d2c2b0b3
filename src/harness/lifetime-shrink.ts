/**
 * Shrinking a failing lifetime, greedily, in the order a reader wants it
 * small: fewest steps first (chunks, then single steps), then fewest nodes,
 * then fewest requests and the simplest update steps (no refusal, no halt, no
 * requests during it, not detached, no sleep), no group-commit window, and the
 * first node or link for a fault. A crash or partition whose restart or heal
 * was dropped still ends (the runner restarts and heals at each join and at
 * the end), and a restart or heal with nothing to end is skipped, so no
 * candidate can leave a node down or a link cut. A candidate is kept when it still fails in
 * every way the original did, so an application-level failure is not traded
 * for a lesser one. The seed stays: a lifetime is a function of all its data,
 * and every subsequence of its steps is a valid lifetime (see lifetime.ts).
 */
import type { Strategy } from "../core/update.js";
import type { Lifetime, LifetimeStep } from "./lifetime.js";
import { runLifetime, type LifetimeResult } from "./lifetime-run.js";
import type { Scenario } from "./scenario.js";

/** The kinds of failure a lifetime shows: each violated invariant, the scenario's safety, an unexpected runtime outcome. */
export function lifetimeFailureKinds(r: LifetimeResult): Set<string> {
  const kinds = new Set<string>(r.violations.map((v) => v.invariant));
  if (r.problems.length > 0) kinds.add("safety");
  if (r.errors.length > 0) kinds.add("runtime");
  return kinds;
}

/** Candidates without some of the steps: halves, quarters, ... down to single steps, later ones first. */
function fewerSteps(l: Lifetime): Lifetime[] {
  const out: Lifetime[] = [];
  const n = l.steps.length;
  for (let size = Math.max(1, Math.floor(n / 2)); size >= 1; size = size === 1 ? 0 : Math.max(1, Math.floor(size / 2))) {
    for (let start = n - size; start >= 0; start -= size) out.push({ ...l, steps: [...l.steps.slice(0, start), ...l.steps.slice(start + size)] });
  }
  return out;
}

/** One step made simpler, if it can be. */
function simpler(s: LifetimeStep): LifetimeStep[] {
  switch (s.kind) {
    case "load":
      return s.requests > 1 ? [{ ...s, requests: 1 }, { ...s, requests: Math.floor(s.requests / 2) }, { ...s, requests: s.requests - 1 }] : [];
    case "sleep":
      return s.ms > 0 ? [{ ...s, ms: 0 }, { ...s, ms: Math.floor(s.ms / 2) }] : [];
    case "update": {
      const out: LifetimeStep[] = [];
      if (s.halt !== null) out.push({ ...s, halt: null });
      if (s.refuse) out.push({ ...s, refuse: false });
      if (s.during > 0) out.push({ ...s, during: 0 }, { ...s, during: s.during - 1 });
      if (s.root !== 0) out.push({ ...s, root: 0 });
      if (s.detached === true) out.push({ ...s, detached: false });
      if (s.moveHalted !== undefined) {
        const { moveHalted: _moved, ...unmoved } = s;
        out.push(unmoved);
      }
      return out;
    }
    case "create":
      return s.links.length > 1 ? [{ ...s, links: s.links.slice(0, 1) }] : [];
    case "crash":
    case "restart":
      return s.node !== 0 ? [{ ...s, node: 0 }] : [];
    case "lose":
      return [{ kind: "restart", node: s.node }, ...(s.node !== 0 ? [{ ...s, node: 0 }] : [])];
    case "partition":
    case "heal":
      return s.link !== 0 ? [{ ...s, link: 0 }] : [];
    case "move":
      return s.node !== 0 || s.to !== 0 ? [{ ...s, node: 0, to: 0 }] : [];
    default:
      return [];
  }
}

function candidates(scenario: Scenario, l: Lifetime): Lifetime[] {
  const out = fewerSteps(l);
  if (l.nodes > scenario.nodes.min) out.push({ ...l, nodes: scenario.nodes.min }, { ...l, nodes: l.nodes - 1 });
  if (l.groupCommitMs !== undefined) {
    const { groupCommitMs: _window, ...without } = l;
    out.push(without);
    if (typeof l.groupCommitMs !== "number" && l.groupCommitMs.min !== l.groupCommitMs.max) out.push({ ...l, groupCommitMs: l.groupCommitMs.max });
  }
  l.steps.forEach((s, i) => {
    for (const t of simpler(s)) out.push({ ...l, steps: l.steps.map((x, j) => (j === i ? t : x)) });
  });
  return out;
}

export async function shrinkLifetime(scenario: Scenario, strategy: Strategy, failing: LifetimeResult, budget = 400): Promise<LifetimeResult> {
  const wanted = [...lifetimeFailureKinds(failing)];
  let best = failing;
  let tries = 0;
  for (let improved = true; improved && tries < budget; ) {
    improved = false;
    for (const c of candidates(scenario, best.lifetime)) {
      if (tries++ >= budget) break;
      const r = await runLifetime(scenario, strategy, c);
      const kinds = lifetimeFailureKinds(r);
      if (r.failed && wanted.every((k) => kinds.has(k))) {
        best = r;
        improved = true;
        break;
      }
    }
  }
  return best;
}
