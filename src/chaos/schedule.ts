/**
 * A chaos run's plan, drawn from its seed before anything starts: the updates in order (db@k -> db@k+1, each with a
 * strategy and a root) and the faults that hit each one, at offsets from the update's submission. The same seed and
 * options give the same plan, so a run that found something can be run again; what the processes and the kernel do
 * in between is not replayable, and the report says what really happened beside the plan.
 */
import { Rng } from "../core/rng.js";
import type { Strategy } from "../core/update.js";

export type ChaosFault =
  /** kill -9 of the node, started again (from its store) after `downMs`. */
  | { readonly kind: "kill"; readonly node: string; readonly atMs: number; readonly downMs: number }
  /** SIGSTOP, SIGCONT after `forMs`. */
  | { readonly kind: "pause"; readonly node: string; readonly atMs: number; readonly forMs: number }
  /** The link a - b cut both ways for `forMs`. */
  | { readonly kind: "cut"; readonly a: string; readonly b: string; readonly atMs: number; readonly forMs: number }
  /** The node cut from everyone (its links and the control plane) for `forMs`. */
  | { readonly kind: "isolate"; readonly node: string; readonly atMs: number; readonly forMs: number }
  /** The link's delay raised to minMs..maxMs (jitter) for `forMs`, then back. */
  | { readonly kind: "delay"; readonly a: string; readonly b: string; readonly atMs: number; readonly forMs: number; readonly minMs: number; readonly maxMs: number }
  /**
   * kill -9 of the `ctl update` process that submitted the update, `atMs` after its start (it may die before the
   * root took the update) or after the root took it (ctl was following it).
   */
  | { readonly kind: "kill-ctl"; readonly atMs: number; readonly from: "start" | "taken" }
  /**
   * `ctl move` of the node to another host (a free network namespace, or a new port on loopback) under the load,
   * before the update is submitted (a running update refuses moves over TCP). Planned by `moves`, not drawn per update.
   */
  | { readonly kind: "move"; readonly node: string; readonly atMs: number };

export type ChaosFaultKind = Exclude<ChaosFault["kind"], "move">;

export const FAULT_KINDS: readonly ChaosFaultKind[] = ["kill", "pause", "cut", "isolate", "delay", "kill-ctl"];

export interface PlannedUpdate {
  /** db@from -> db@(from + 1). */
  readonly from: number;
  readonly strategy: Strategy;
  readonly root: string;
  readonly faults: readonly ChaosFault[];
  /** A node moved to another host before this update is submitted (then the update follows it there). */
  readonly moveBefore?: string;
}

export interface ChaosPlan {
  readonly seed: number;
  readonly updates: readonly PlannedUpdate[];
}

/** The consistent strategies of the TCP runtime: a run mixes them unless one is chosen. */
export const CONSISTENT_STRATEGIES: readonly Strategy[] = ["cut", "conservative", "snapshot", "rollback"];

export interface PlanOptions {
  readonly seed: number;
  readonly nodes: readonly string[];
  readonly links: readonly (readonly [string, string])[];
  readonly updates: number;
  /** One strategy for every update, or a mix drawn per update. */
  readonly strategies: readonly Strategy[];
  /** The fault kinds to draw from (default all). */
  readonly faults?: readonly ChaosFaultKind[];
  /** Faults per update, at most (default 3); each update gets 1 to this many. */
  readonly faultsPerUpdate?: number;
  /** Faults begin within this long of the root taking the update (ms, default 800; kill -9 of ctl within 2,500 of its start). */
  readonly windowMs?: number;
  /** Nodes moved to another host over the run, each before a different update (default 0; at most one per update). */
  readonly moves?: number;
  /** Nodes never moved (the broken variant's wiped node: its store is wiped where the harness knows it). */
  readonly unmovable?: readonly string[];
}

/** Draw the plan. A node takes at most one process fault (kill, pause) at a time, and the root is a target like any. */
export function drawPlan(o: PlanOptions): ChaosPlan {
  const rng = new Rng(o.seed);
  const kinds = o.faults ?? FAULT_KINDS;
  const updates: PlannedUpdate[] = [];
  for (let u = 0; u < o.updates; u++) {
    const strategy = o.strategies[rng.int(0, o.strategies.length - 1)] as Strategy;
    const root = o.nodes[rng.int(0, o.nodes.length - 1)] as string;
    const count = kinds.length === 0 ? 0 : rng.int(1, Math.max(1, o.faultsPerUpdate ?? 3));
    const faults: ChaosFault[] = [];
    const busy = new Set<string>();
    for (let f = 0; f < count; f++) {
      const fault = drawFault(rng, kinds[rng.int(0, kinds.length - 1)] as ChaosFaultKind, o, busy);
      if (fault !== undefined) faults.push(fault);
    }
    faults.sort((a, b) => a.atMs - b.atMs);
    updates.push({ from: u + 1, strategy, root, faults });
  }
  return { seed: o.seed, updates: withMoves(updates, o) };
}

/**
 * Moves before `o.moves` of the updates, drawn from a stream of their own: the same seed gives the same updates and
 * faults with or without moves.
 */
function withMoves(updates: readonly PlannedUpdate[], o: PlanOptions): readonly PlannedUpdate[] {
  const rng = new Rng(o.seed * 31 + 17);
  const order = updates.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const movable = o.nodes.filter((n) => !(o.unmovable ?? []).includes(n));
  const count = movable.length === 0 ? 0 : Math.min(o.moves ?? 0, updates.length);
  const before = new Map(order.slice(0, count).map((i) => [i, movable[rng.int(0, movable.length - 1)] as string]));
  return updates.map((u, i) => (before.has(i) ? { ...u, moveBefore: before.get(i) as string } : u));
}

function drawFault(rng: Rng, kind: ChaosFaultKind, o: PlanOptions, busy: Set<string>): ChaosFault | undefined {
  const atMs = rng.int(0, o.windowMs ?? 800);
  const forMs = rng.int(300, 2_000);
  const node = o.nodes[rng.int(0, o.nodes.length - 1)] as string;
  const [a, b] = o.links[rng.int(0, Math.max(0, o.links.length - 1))] ?? [node, node];
  switch (kind) {
    case "kill":
    case "pause":
      // Two process faults on one node in one update would overlap (a stopped node killed): draw another node's.
      if (busy.has(node)) return undefined;
      busy.add(node);
      return kind === "kill" ? { kind, node, atMs, downMs: rng.int(200, 1_500) } : { kind, node, atMs, forMs };
    case "cut":
      return a === b ? undefined : { kind, a, b, atMs, forMs };
    case "isolate":
      return { kind, node, atMs, forMs };
    case "delay": {
      const minMs = rng.int(5, 20);
      return a === b ? undefined : { kind, a, b, atMs, forMs: rng.int(1_000, 3_000), minMs, maxMs: minMs + rng.int(5, 40) };
    }
    case "kill-ctl":
      return rng.int(0, 1) === 0 ? { kind, atMs: rng.int(0, 2_500), from: "start" } : { kind, atMs, from: "taken" };
  }
}

/** The plan with a kill of `node` in its first update (the broken variant's wiped node must be killed to matter). */
export function withKillOf(plan: ChaosPlan, node: string): ChaosPlan {
  const [first, ...rest] = plan.updates;
  if (first === undefined || first.faults.some((f) => f.kind === "kill" && f.node === node)) return plan;
  const faults = [...first.faults.filter((f) => !((f.kind === "kill" || f.kind === "pause") && f.node === node)), { kind: "kill" as const, node, atMs: 200, downMs: 500 }].sort((a, b) => a.atMs - b.atMs);
  return { ...plan, updates: [{ ...first, faults }, ...rest] };
}

/** A fault in words, for the report's timeline. */
export function describeFault(f: ChaosFault): string {
  switch (f.kind) {
    case "kill":
      return `kill -9 ${f.node}, restarted after ${f.downMs} ms`;
    case "pause":
      return `SIGSTOP ${f.node} for ${f.forMs} ms`;
    case "cut":
      return `cut ${f.a} - ${f.b} for ${f.forMs} ms`;
    case "isolate":
      return `isolate ${f.node} from everyone for ${f.forMs} ms`;
    case "delay":
      return `delay ${f.a} - ${f.b} ${f.minMs}-${f.maxMs} ms for ${f.forMs} ms`;
    case "kill-ctl":
      return f.from === "start" ? "kill -9 ctl update (from its start)" : "kill -9 ctl update (following the update)";
    case "move":
      return `ctl move ${f.node} to another host`;
  }
}
