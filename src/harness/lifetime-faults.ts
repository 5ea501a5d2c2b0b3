/**
 * Faults in a lifetime (DESIGN.md "Faults and durability"): around each
 * update, episodes of a crash and its restart, or of a partition and its
 * heal, each starting before the update, right after update() is called
 * (during prepare) or at a virtual-time offset while it runs, and ending after
 * a drawn delay or at the next join (where the runner restarts and heals what
 * is left, see lifetime-run.ts). An update with faults after it is detached:
 * the steps that follow run while it runs. Now and then a load or a
 * configuration command runs with a node down or a link cut too.
 */
import type { Rng } from "../core/rng.js";
import type { CommitWindow, LifetimeStep } from "./lifetime-steps.js";

export interface FaultShape {
  /** Chance that an update gets fault episodes. */
  readonly perUpdate: number;
  /** At most this many episodes per update (1..max). */
  readonly maxEpisodes: number;
  /** Chance that an episode is a crash (else a partition). */
  readonly crash: number;
  /** Chance that the crashed node is the update's root. */
  readonly root: number;
  /** Chance that a crashed node is lost for good (forgotten, or its update taken over) rather than restarted. */
  readonly lose?: number;
  /** Chance that a lifetime runs with a group-commit window (else every step commits as it ends). */
  readonly commitWindow: number;
  /** Chance that a step other than an update (a load, a configuration command) runs with a node down or a link cut. */
  readonly between: number;
  /**
   * Chance of a node move (docs/design.md "Moving a node"): before a step other than an update (a third of them
   * interrupted by a crash of the node right away), inside an update's episodes (refused while it runs, carried out
   * once it is over), and of the halted node while an update is halted. Absent: no moves.
   */
  readonly move?: number;
}

export const DEFAULT_FAULTS: FaultShape = { perUpdate: 0.8, maxEpisodes: 2, crash: 0.7, root: 0.35, lose: 0.2, commitWindow: 0.5, between: 0.1, move: 0.25 };

/** 0, or a window of whole virtual ms: a step becomes durable (and its outputs leave) that much later. */
export function drawCommitWindow(rng: Rng, shape: FaultShape): CommitWindow {
  if (rng.float() >= shape.commitWindow) return 0;
  const min = rng.int(0, 2);
  return { min, max: min + rng.int(1, 6) };
}

/** A step at a virtual-time offset from the moment its update is called (or, before it, from the episode's start). */
interface Timed {
  readonly at: number;
  readonly step: LifetimeStep;
}

type UpdateStep = Extract<LifetimeStep, { kind: "update" }>;

/** The lifetime's steps with fault episodes drawn around its updates. */
export function withFaults(steps: readonly LifetimeStep[], rng: Rng, shape: FaultShape): LifetimeStep[] {
  const out: LifetimeStep[] = [];
  for (const step of steps) {
    if (step.kind !== "update") {
      out.push(...drawMove(rng, shape), ...around(step, rng, shape));
      continue;
    }
    const s = step.halt !== null && shape.move !== undefined && rng.float() < shape.move ? { ...step, moveHalted: rng.int(0, 1023) } : step;
    if (rng.float() >= shape.perUpdate) {
      out.push(s);
      continue;
    }
    const before: Timed[] = [];
    const after: Timed[] = [];
    const episodes = rng.int(1, shape.maxEpisodes);
    for (let e = 0; e < episodes; e++) drawEpisode(s, rng, shape, before, after);
    out.push(...timeline(before));
    out.push(after.length > 0 ? { ...s, detached: true } : s);
    out.push(...timeline(after));
  }
  return out;
}

/** A step other than an update, perhaps with a node down or a link cut while it runs (ended after it, or at the next join). */
function around(s: LifetimeStep, rng: Rng, shape: FaultShape): LifetimeStep[] {
  if (rng.float() >= shape.between) return [s];
  const crash = rng.float() < shape.crash;
  const start: LifetimeStep = crash ? { kind: "crash", node: rng.int(0, 1023) } : { kind: "partition", link: rng.int(0, 1023) };
  const end: LifetimeStep = crash ? { kind: "restart", node: 0 } : { kind: "heal", link: 0 };
  return rng.float() < 0.5 ? [start, s, end] : [start, s];
}

/** A move of a node, perhaps interrupted at once by a crash of it (and perhaps restarted right after), or nothing. */
function drawMove(rng: Rng, shape: FaultShape): LifetimeStep[] {
  if (shape.move === undefined || rng.float() >= shape.move) return [];
  const node = rng.int(0, 1023);
  const move: LifetimeStep = { kind: "move", node, to: rng.int(0, 1023) };
  if (rng.float() >= 1 / 3) return [move];
  // The crash step indexes every node as the move does: the same node, whose record is still travelling.
  const crash: LifetimeStep = { kind: "crash", node };
  return rng.float() < 0.5 ? [move, crash, { kind: "restart", node: 0 }] : [move, crash];
}

/** One crash (and restart) or partition (and heal): where it starts and where it ends. */
function drawEpisode(u: UpdateStep, rng: Rng, shape: FaultShape, before: Timed[], after: Timed[]): void {
  const crash = rng.float() < shape.crash;
  const start: LifetimeStep = crash ? { kind: "crash", node: rng.float() < shape.root ? u.root : rng.int(0, 1023) } : { kind: "partition", link: rng.int(0, 1023) };
  // A crashed node is restarted, or (now and then) lost for good: forgotten, or its update taken over.
  const lost = crash && shape.lose !== undefined && rng.float() < shape.lose;
  const end: LifetimeStep = lost ? { kind: "lose", node: rng.int(0, 1023) } : crash ? { kind: "restart", node: 0 } : { kind: "heal", link: 0 };
  const when = rng.pick(["before", "prepare", "during"] as const);
  const lasts = rng.int(0, 40);
  // Ends: after a delay (which may fall after the update completed), or left to the next join.
  const ending = rng.pick(["delay", "delay", "join"] as const);
  if (when === "before") {
    before.push({ at: 0, step: start });
    if (ending === "join") return;
    // Over before the update starts, or still on while it runs.
    if (rng.float() < 0.5) before.push({ at: lasts, step: end });
    else after.push({ at: lasts, step: end });
    return;
  }
  const at = when === "prepare" ? 0 : rng.int(1, 30);
  after.push({ at, step: start });
  if (ending === "delay") after.push({ at: at + lasts, step: end });
  // A move while the update runs is refused; one drawn after it ended is carried out.
  const moves = drawMove(rng, shape);
  const moveAt = moves.length > 0 ? at + rng.int(0, 60) : 0;
  for (const m of moves) after.push({ at: moveAt, step: m }); // one instant: a crash drawn with it follows it
}

/** Timed steps in time order (stable: an end never precedes its start), with sleeps between them. */
function timeline(items: readonly Timed[]): LifetimeStep[] {
  const out: LifetimeStep[] = [];
  let now = 0;
  for (const t of [...items].sort((a, b) => a.at - b.at)) {
    if (t.at > now) out.push({ kind: "sleep", ms: t.at - now });
    now = Math.max(now, t.at);
    out.push(t.step);
  }
  return out;
}
