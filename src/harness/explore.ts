/**
 * Exhaustive exploration of delivery orders, on the real runtime.
 *
 * Stateless search (Godefroid's VeriSoft style): a path is the sequence of
 * choices made from the initial state, and every state is reached by building
 * a fresh system and replaying its path through the scripted scheduler. At each
 * state the choices are the enabled events (the head of every channel, every
 * pending request) plus, until it happened, "call update() now": the update can
 * start at any point of the run.
 *
 * Reduction, both sound for the invariants judged at the end of a path:
 * - sleep sets: two events at different places (nodes, or the coordinator)
 *   commute, so after exploring e from a state, the other branches need not
 *   explore e first again while they only take events independent of it;
 *   "update()" is an event of the coordinator (it only creates the run and the
 *   prepare messages);
 * - state hashing: the system's fingerprint (node code, state and agent,
 *   pending events, coordinator) identifies states reached by different paths
 *   (stored compacted to a 53-bit hash, see hash53);
 *   a state already explored with a sleep set included in the current one is
 *   not explored again (the condition under which sleep sets and state caching
 *   combine soundly). The prefix of a pruned path is still judged, so a
 *   violation it already contains is not missed.
 *
 * An event's identity across paths is its position in its FIFO lane (the k-th
 * delivery on channel a->b, the k-th request at node n): FIFO makes that stable.
 */
import { InternalError, SynchronizerConfigurationError } from "../core/errors.js";
import { fingerprint } from "./fingerprint.js";
import { checkTrace, type Violation } from "../check/checker.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import type { Strategy, Update } from "../core/update.js";
import { System, type PendingEvent, type SystemOptions } from "../system.js";

export interface ExploreModel {
  readonly name: string;
  readonly description: string;
  /** Create nodes and links. */
  build(sys: System): void;
  /** The outside requests of the run, issued at the start (their order is explored too). */
  start(sys: System): void;
  update(): Update | readonly Update[];
  readonly root: NodeId;
  /**
   * What of a node's state can change what the node does next, for state
   * hashing: two states with the same key must behave the same from then on
   * (for example a log the code only appends to can be keyed as a sorted list).
   * Default: the whole state.
   */
  stateKey?(state: unknown): unknown;
  /** The application's own safety verdict at the end of a path. */
  problems?(sys: System): readonly string[];
  systemOptions?(strategy: Strategy): SystemOptions;
  /**
   * What the outside does after the update, in order: each is one more choice of the search, offered once no update
   * runs and the one before it was taken (a second update right after the first, a link right after an update, a
   * request on the new link), so every moment of it is explored too.
   */
  readonly then?: readonly ExploreAction[];
}

/** An outside action of a model after its update. */
export type ExploreAction =
  | { readonly kind: "update"; readonly update: () => Update | readonly Update[]; readonly root?: NodeId }
  | { readonly kind: "link" | "unlink"; readonly a: NodeId; readonly b: NodeId }
  | { readonly kind: "request"; readonly node: NodeId; readonly body: unknown };

export interface ExploreOptions {
  /** Sleep sets and state hashing (default true); false explores every interleaving. */
  readonly reduction?: boolean;
  /** With reduction: false keeps state hashing but drops sleep sets (a reference search for the reduction's soundness). */
  readonly sleepSets?: boolean;
  readonly maxPaths?: number;
  readonly maxTimeMs?: number;
  readonly onProgress?: (paths: number) => void;
  /** Called with every state's fingerprint as the search reaches it (tests of the reduction's soundness). */
  readonly onState?: (fingerprint: string) => void;
}

export interface ExploreResult {
  readonly model: string;
  readonly strategy: Strategy;
  readonly reduction: boolean;
  /** Every path was explored (or pruned as equivalent): no bound was hit. */
  readonly complete: boolean;
  /** Paths run to their end (a state with nothing enabled). */
  readonly paths: number;
  /** Paths cut short: sleep-set blocked or a state already explored. */
  readonly pruned: number;
  /** Distinct states seen (by fingerprint); undefined when the strategy's agents cannot be fingerprinted. */
  readonly states: number | undefined;
  /** Events executed, replays included: the work done. */
  readonly steps: number;
  readonly wallMs: number;
  readonly stateHashing: boolean;
  readonly violation?: {
    readonly path: readonly string[];
    readonly violations: readonly Violation[];
    readonly problems: readonly string[];
    readonly trace: readonly TraceEvent[];
  };
}

interface Choice {
  readonly key: string;
  /** Where it happens: a node, or the coordinator (update() itself included). */
  readonly at: NodeId;
  /** The scheduler's number for the event: replays are deterministic, so it is the same on every replay of this path. */
  readonly seq: number;
  readonly lane: string;
}

interface Frame {
  readonly enabled: readonly Choice[];
  readonly sleep: ReadonlyMap<string, NodeId>;
  readonly done: Set<string>;
  /** Lanes whose event was explored from this same state on an earlier visit: not explored again, and not put to sleep either. */
  readonly skip: ReadonlySet<string>;
}

const NO_SKIP: ReadonlySet<string> = new Set();

/** The lane of a choice key ("a>b#3" -> "a>b"): in one state a lane has at most one enabled event. */
const laneOfKey = (key: string): string => {
  const i = key.lastIndexOf("#");
  return i < 0 ? key : key.slice(0, i);
};

const UPDATE = "update()";
const THEN = "then";
/** Where an outside action happens: it may change any node's future (a link changes neighbours), so it commutes with nothing. */
const ANYWHERE = "*";

class Replay {
  readonly sys: System;
  private readonly laneCount = new Map<string, number>();
  updateStarted = false;
  /** The next of the model's `then` actions. */
  nextAction = 0;
  steps = 0;

  constructor(
    private readonly model: ExploreModel,
    private readonly strategy: Strategy,
  ) {
    this.sys = new System({ ...(model.systemOptions?.(strategy) ?? {}), scheduler: "scripted" });
    model.build(this.sys);
    model.start(this.sys);
  }

  private keyOf(p: PendingEvent): Choice {
    const lane = p.kind === "deliver" ? `${p.from}>${p.node}` : p.kind === "request" ? `request>${p.node}` : `${p.kind}:${p.node}:${p.signal ?? ""}`;
    return { key: `${lane}#${this.laneCount.get(lane) ?? 0}`, at: p.node, seq: p.seq, lane };
  }

  choices(): Choice[] {
    const out = this.sys.pending().map((p) => this.keyOf(p));
    // update() only creates the coordinator's run and its prepare messages: an event of the coordinator. Before it no
    // node event can depend on it (nothing of the update exists yet), so it commutes with every node's events.
    if (!this.updateStarted) out.push({ key: UPDATE, at: CONTROL, seq: -1, lane: UPDATE });
    else if (this.nextAction < (this.model.then?.length ?? 0) && !this.sys.updating()) {
      out.push({ key: `${THEN}#${this.nextAction}`, at: ANYWHERE, seq: -1, lane: THEN });
    }
    return out;
  }

  take(c: Choice): void {
    this.steps++;
    if (c.key === UPDATE) {
      this.updateStarted = true;
      this.sys.update(this.model.update(), { strategy: this.strategy, root: this.model.root }).catch(() => undefined);
      return;
    }
    if (c.lane === THEN) return this.act(this.model.then?.[this.nextAction++]);
    this.laneCount.set(c.lane, (this.laneCount.get(c.lane) ?? 0) + 1);
    this.sys.step(c.seq); // throws if the replay diverged (the event is not enabled)
  }

  private act(a: ExploreAction | undefined): void {
    if (a === undefined) return;
    switch (a.kind) {
      case "update":
        this.sys.update(a.update(), { strategy: this.strategy, root: a.root ?? this.model.root }).catch(() => undefined);
        return;
      case "link":
      case "unlink":
        try {
          if (a.kind === "link") this.sys.link(a.a, a.b);
          else this.sys.unlink(a.a, a.b);
        } catch (e) {
          // Documented: a synchronized system is configured before its first pulse; its life goes on without the link.
          if (!(e instanceof SynchronizerConfigurationError)) throw e;
        }
        return;
      case "request":
        this.sys.request(a.node, a.body).catch(() => undefined);
        return;
    }
  }
}

/** The state the search caches: the system's fingerprint and the outside's progress (which action comes next), which the system alone does not show. */
function stateOf(r: Replay, model: ExploreModel): string | undefined {
  const f = fingerprint(r.sys, model.stateKey);
  return f === undefined ? undefined : `${f}|${r.nextAction}`;
}

const independent = (a: NodeId, b: NodeId): boolean => a !== b && a !== ANYWHERE && b !== ANYWHERE;

/**
 * Hash compaction (as in SPIN): a visited state is stored as a 53-bit hash of
 * its fingerprint, not the fingerprint itself, which can be kilobytes. Two
 * different states collide with probability about n^2 / 2^54 for n states
 * (under 1e-4 for a million), the price of keeping the search in memory.
 */
export function hash53(s: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 ^= h1 >>> 16;
  h2 = Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35);
  return (h1 >>> 0) * 2097152 + ((h2 >>> 0) >>> 11);
}

/** One search's state: what the result counts, the visited states, and the current path with its frames. */
class Search {
  readonly started = performance.now();
  readonly reduction: boolean;
  /**
   * State caching with sleep sets (after Godefroid): per visited state, the
   * lanes asleep at every visit so far. A revisit whose sleep set covers them
   * is pruned; otherwise only the lanes asleep before and awake now are
   * explored, and the stored set shrinks to the intersection.
   */
  readonly visited = new Map<number, ReadonlySet<string>>();
  paths = 0;
  pruned = 0;
  steps = 0;
  hashing: boolean;
  violation: ExploreResult["violation"];
  readonly frames: Frame[] = [];
  readonly path: Choice[] = [];
  bounded = false;

  constructor(
    readonly model: ExploreModel,
    readonly strategy: Strategy,
    private readonly o: ExploreOptions,
  ) {
    this.reduction = o.reduction ?? true;
    this.hashing = this.reduction;
  }

  judge(r: Replay, complete: boolean): boolean {
    const report = checkTrace(r.sys.trace(), { complete });
    const problems = complete ? (this.model.problems?.(r.sys) ?? []) : [];
    if (report.ok && problems.length === 0) return false;
    this.violation = { path: this.path.map((c) => c.key), violations: report.violations, problems, trace: [...r.sys.trace()] };
    return true;
  }

  /** State hashing at the replayed state: the lanes not to explore again from it, or "prune" if the state is covered. */
  private lanesToSkip(r: Replay, enabled: readonly Choice[], sleep: ReadonlyMap<string, NodeId>): ReadonlySet<string> | "prune" {
    // The outside's progress (which action comes next) is part of the state: the system alone does not show it.
    const full = stateOf(r, this.model);
    if (full !== undefined) this.o.onState?.(full);
    if (full === undefined) {
      this.hashing = false;
      return NO_SKIP;
    }
    const fp = hash53(full);
    const seen = this.visited.get(fp);
    const asleep = new Set<string>();
    for (const k of sleep.keys()) asleep.add(laneOfKey(k));
    if (seen === undefined) {
      this.visited.set(fp, asleep);
      return NO_SKIP;
    }
    let covered = true;
    for (const lane of seen) if (!asleep.has(lane)) covered = false;
    if (covered) return "prune";
    const skip = new Set<string>();
    for (const c of enabled) if (!seen.has(c.lane)) skip.add(c.lane);
    const both = new Set<string>();
    for (const lane of seen) if (asleep.has(lane)) both.add(lane);
    this.visited.set(fp, both);
    return skip;
  }

  /** Run forward from the replayed state, always taking the first choice allowed; returns at a leaf or a prune. */
  descend(r: Replay, sleep: ReadonlyMap<string, NodeId>): void {
    for (;;) {
      const enabled = r.choices();
      if (enabled.length === 0) {
        this.paths++;
        this.judge(r, true);
        return;
      }
      const skip = this.hashing ? this.lanesToSkip(r, enabled, sleep) : NO_SKIP;
      if (skip === "prune") {
        this.pruned++;
        this.judge(r, false);
        return;
      }
      const frame: Frame = { enabled, sleep, done: new Set(), skip };
      const next = enabled.find((c) => !sleep.has(c.key) && !skip.has(c.lane));
      if (next === undefined) {
        this.pruned++; // every enabled event sleeps: this order is explored elsewhere
        this.judge(r, false);
        return;
      }
      this.frames.push(frame);
      sleep = this.take(r, frame, next);
      if (this.violation !== undefined) return;
    }
  }

  take(r: Replay, frame: Frame, c: Choice): ReadonlyMap<string, NodeId> {
    frame.done.add(c.key);
    this.path.push(c);
    r.take(c);
    if (!this.reduction || this.o.sleepSets === false) return new Map();
    const child = new Map<string, NodeId>();
    for (const [k, at] of frame.sleep) if (independent(at, c.at)) child.set(k, at);
    for (const d of frame.enabled) if (frame.done.has(d.key) && d.key !== c.key && independent(d.at, c.at)) child.set(d.key, d.at);
    return child;
  }

  /** The deepest frame with a choice left, and that choice; undefined when the search is over. */
  backtrack(): { readonly depth: number; readonly choice: Choice } | undefined {
    for (let d = this.frames.length - 1; d >= 0; d--) {
      const f = this.frames[d] as Frame;
      const c = f.enabled.find((x) => !f.done.has(x.key) && !f.sleep.has(x.key) && !f.skip.has(x.lane));
      if (c !== undefined) return { depth: d, choice: c };
    }
    return undefined;
  }

  /** A fresh system replayed along the path up to `depth`, then `choice` taken there and the rest of the path run forward. */
  branch(depth: number, choice: Choice): void {
    this.frames.length = depth + 1;
    this.path.length = depth;
    const r = new Replay(this.model, this.strategy);
    for (const k of this.path) r.take(k);
    const sleep = this.take(r, this.frames[depth] as Frame, choice);
    this.descend(r, sleep);
    this.steps += r.steps;
    r.sys.abandon();
  }

  result(): ExploreResult {
    const violation = this.violation;
    return {
      model: this.model.name,
      strategy: this.strategy,
      reduction: this.reduction,
      complete: !this.bounded && violation === undefined,
      paths: this.paths,
      pruned: this.pruned,
      states: this.hashing ? this.visited.size : undefined,
      steps: this.steps,
      wallMs: performance.now() - this.started,
      stateHashing: this.hashing,
      ...(violation !== undefined ? { violation } : {}),
    };
  }
}

export async function explore(model: ExploreModel, strategy: Strategy, o: ExploreOptions = {}): Promise<ExploreResult> {
  const maxPaths = o.maxPaths ?? 1_000_000;
  const maxTimeMs = o.maxTimeMs ?? 60_000;
  const search = new Search(model, strategy, o);
  const first = new Replay(model, strategy);
  search.descend(first, new Map());
  search.steps += first.steps;
  first.sys.abandon();
  while (search.violation === undefined) {
    const next = search.backtrack();
    if (next === undefined) break;
    if (search.paths + search.pruned >= maxPaths || performance.now() - search.started > maxTimeMs) {
      search.bounded = true;
      break;
    }
    search.branch(next.depth, next.choice);
    if ((search.paths + search.pruned) % 200 === 0) {
      o.onProgress?.(search.paths + search.pruned);
      await new Promise((res) => setImmediate(res));
    }
  }
  return search.result();
}

export interface InterleavingCount {
  /** Every maximal delivery order (and moment of update()) of the model: what a search without reduction would run. */
  readonly paths: number;
  /** Distinct states of the model (the nodes of the graph the count walks). */
  readonly states: number;
  readonly complete: boolean;
  readonly wallMs: number;
}

/**
 * How many paths the plain search would run, counted without running them:
 * the paths from a state depend only on the state, so they are summed over the
 * state graph (each state expanded once, its count kept), on the real runtime
 * like the search itself. This gives the reduction's saving exactly where the
 * plain search could never finish.
 */
export async function countInterleavings(model: ExploreModel, strategy: Strategy, o: { readonly maxTimeMs?: number } = {}): Promise<InterleavingCount> {
  const started = performance.now();
  const maxTimeMs = o.maxTimeMs ?? 600_000;
  const counts = new Map<number, number>();
  let bounded = false;
  let sinceYield = 0;
  const at = (path: readonly Choice[]): Replay => {
    const r = new Replay(model, strategy);
    for (const c of path) r.take(c);
    return r;
  };
  const count = async (path: Choice[], r: Replay): Promise<number> => {
    const full = stateOf(r, model);
    if (full === undefined) throw new InternalError(`strategy ${strategy}: its agents give no fingerprint, so interleavings cannot be counted`);
    const fp = hash53(full);
    const known = counts.get(fp);
    if (known !== undefined) return known;
    const enabled = r.choices();
    r.sys.abandon();
    let total = 0;
    if (enabled.length === 0) total = 1;
    for (const c of enabled) {
      if (performance.now() - started > maxTimeMs) {
        bounded = true;
        return Number.NaN;
      }
      path.push(c);
      total += await count(path, at(path));
      path.pop();
      if (bounded) return Number.NaN;
    }
    counts.set(fp, total);
    if (++sinceYield % 200 === 0) await new Promise((res) => setImmediate(res));
    return total;
  };
  const paths = await count([], at([]));
  return { paths, states: counts.size, complete: !bounded, wallMs: performance.now() - started };
}
