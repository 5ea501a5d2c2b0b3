/**
 * Drawing a lifetime from a seed (its data: lifetime-steps.ts): a chain of
 * updates and back-outs, configuration between and right after them, refused
 * and halted transfers, requests throughout; with a fault shape, crashes,
 * restarts, partitions and heals around and inside the updates, and a
 * group-commit window (lifetime-faults.ts), from a stream of their own.
 */
import { Rng } from "../core/rng.js";
import type { LifetimeSupport, ReconfigKind, Scenario } from "./scenario.js";
import { DEFAULT_FAULTS, drawCommitWindow, withFaults, type FaultShape } from "./lifetime-faults.js";
import type { Lifetime, LifetimeStep } from "./lifetime-steps.js";

export type { CommitWindow, FaultStep, Lifetime, LifetimeStep } from "./lifetime-steps.js";
export { isFaultStep } from "./lifetime-steps.js";

/** The fuzzer's salt: a lifetime's draws never line up with the system's own stream of the same seed. */
const SALT = 0x6c1f3a5d;

/** How a lifetime is drawn (the figures of `npm test` and the 1,000-run command). */
export interface LifetimeShape {
  readonly updates: { readonly min: number; readonly max: number };
  /** Chance that an update goes back to an earlier generation, when the application can. */
  readonly backOut: number;
  readonly refuse: number;
  readonly halt: number;
  /** Faults (crash, restart, partition, heal, a group-commit window), drawn from their own stream: absent, none. */
  readonly faults?: FaultShape;
}

export const DEFAULT_SHAPE: LifetimeShape = { updates: { min: 2, max: 5 }, backOut: 0.2, refuse: 0.15, halt: 0.15 };

/** The fault fuzzer's shape (`fuzz --lifetime --faults`): the same lifetimes, with faults around and inside every update. */
export const FAULT_SHAPE: LifetimeShape = { ...DEFAULT_SHAPE, faults: DEFAULT_FAULTS };

const anyIndex = (rng: Rng): number => rng.int(0, 1023);

export function drawLifetime(scenario: Scenario, life: LifetimeSupport, seed: number, shape: LifetimeShape = DEFAULT_SHAPE): Lifetime {
  const rng = new Rng(seed ^ SALT);
  const nodes = rng.int(scenario.nodes.min, scenario.nodes.max);
  const steps: LifetimeStep[] = [{ kind: "load", requests: rng.int(1, 8), seed: rng.uint32() }];
  let gen = 1;
  let highest = 1;
  const updates = rng.int(shape.updates.min, shape.updates.max);
  for (let u = 0; u < updates; u++) {
    steps.push(...drawConfig(life.reconfigure, rng, 0.4));
    // Back to back (no time between two updates) is where stale control messages live.
    if (rng.float() < 0.5) steps.push({ kind: "sleep", ms: rng.int(1, 25) });
    const to = drawTarget(life, rng, gen, highest, shape.backOut);
    steps.push({
      kind: "update",
      to,
      root: anyIndex(rng),
      during: rng.int(0, 6),
      seed: rng.uint32(),
      refuse: rng.float() < shape.refuse,
      halt: rng.float() < shape.halt ? anyIndex(rng) : null,
    });
    gen = to;
    highest = Math.max(highest, to);
    // Right after an update, before anything else happens: configuration and requests.
    steps.push(...drawConfig(life.reconfigure, rng, 0.5));
    if (rng.float() < 0.6) steps.push({ kind: "load", requests: rng.int(1, 6), seed: rng.uint32() });
  }
  const faults = shape.faults;
  if (faults === undefined) return { seed, nodes, steps };
  // Faults come from a stream of their own: a lifetime with faults is the one without them, with faults added.
  const frng = new Rng(seed ^ FAULT_SALT);
  const groupCommitMs = drawCommitWindow(frng, faults);
  return { seed, nodes, steps: withFaults(steps, frng, faults), ...(groupCommitMs !== 0 ? { groupCommitMs } : {}) };
}

const FAULT_SALT = 0x2b7e1516;

/** Forward to a generation never run before, or (with probability backOut) back to one the application can return to. */
function drawTarget(life: LifetimeSupport, rng: Rng, gen: number, highest: number, backOut: number): number {
  const earlier = Array.from({ length: gen - 1 }, (_, i) => i + 1).filter((j) => life.canUpdate(gen, j));
  if (earlier.length > 0 && rng.float() < backOut) return rng.pick(earlier);
  return highest + 1;
}

/** Zero to two configuration commands of the kinds the application tolerates, each with probability p. */
function drawConfig(kinds: readonly ReconfigKind[], rng: Rng, p: number): LifetimeStep[] {
  const out: LifetimeStep[] = [];
  if (kinds.length === 0) return out;
  for (let i = 0; i < 2 && rng.float() < p; i++) {
    const kind = rng.pick(kinds);
    switch (kind) {
      case "create":
        out.push({ kind, family: anyIndex(rng), links: Array.from({ length: rng.int(1, 2) }, () => anyIndex(rng)) });
        break;
      case "link":
        out.push({ kind, a: anyIndex(rng), b: anyIndex(rng) });
        break;
      case "unlink":
        out.push({ kind, link: anyIndex(rng) });
        break;
      case "destroy":
        out.push({ kind, node: anyIndex(rng) });
        break;
    }
  }
  return out;
}
