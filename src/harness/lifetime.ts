/**
 * A lifetime: what the lifetime fuzzer draws from a seed and the shrinker
 * edits. It is plain data (a case file is its JSON), and every reference to a
 * node or a link is an index taken modulo what exists when the step runs, so
 * any subsequence of a lifetime's steps is itself a valid lifetime: that is
 * what lets the shrinker drop steps freely.
 */
import { Rng } from "../core/rng.js";
import type { LifetimeSupport, ReconfigKind, Scenario } from "./scenario.js";

export type LifetimeStep =
  /** Issue `requests` outside requests, 0..3 ms apart, at nodes drawn from `seed`; their answers are not awaited. */
  | { readonly kind: "load"; readonly requests: number; readonly seed: number }
  | { readonly kind: "sleep"; readonly ms: number }
  /**
   * Update every node from the current generation to generation `to` (lower: a back-out), from root
   * `root` (an index), with `during` requests issued while it runs (drawn from `seed`). `refuse`: first
   * offer a transfer that throws in prepare's dry run (it must be refused), then retry with the real one.
   * `halt`: the transfer throws at swap time at that node (an index), then sys.resume() with the real one.
   */
  | {
      readonly kind: "update";
      readonly to: number;
      readonly root: number;
      readonly during: number;
      readonly seed: number;
      readonly refuse: boolean;
      readonly halt: number | null;
    }
  /** A node at the current generation, of family `family` (an index), linked to the nodes `links` (indices). */
  | { readonly kind: "create"; readonly family: number; readonly links: readonly number[] }
  | { readonly kind: "link"; readonly a: number; readonly b: number }
  /** Remove link `link` (an index into the sorted links), unless that disconnects the graph. */
  | { readonly kind: "unlink"; readonly link: number }
  | { readonly kind: "destroy"; readonly node: number };

export interface Lifetime {
  /** The system's seed (message delays) and the first nodes' draws. */
  readonly seed: number;
  readonly nodes: number;
  readonly steps: readonly LifetimeStep[];
}

/** The fuzzer's salt: a lifetime's draws never line up with the system's own stream of the same seed. */
const SALT = 0x6c1f3a5d;

/** How a lifetime is drawn (the figures of `npm test` and the 1,000-run command). */
export interface LifetimeShape {
  readonly updates: { readonly min: number; readonly max: number };
  /** Chance that an update goes back to an earlier generation, when the application can. */
  readonly backOut: number;
  readonly refuse: number;
  readonly halt: number;
}

export const DEFAULT_SHAPE: LifetimeShape = { updates: { min: 2, max: 5 }, backOut: 0.2, refuse: 0.15, halt: 0.15 };

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
  return { seed, nodes, steps };
}

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
