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
import { InternalError, InvalidOptionError, SynchronizerConfigurationError } from "../core/errors.js";
import { fingerprint, viewOf, type HostView } from "./fingerprint.js";
import { checkTrace, type Violation } from "../check/checker.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import type { Strategy, Update } from "../core/update.js";
import { System, type PendingEvent, type SystemOptions } from "../system.js";
import type { NodeHost } from "../runtime/node-host.js";
import { ScriptedScheduler } from "../network/sim/scripted-scheduler.js";

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
  /**
   * Faults: exactly one crash of one of these nodes at any point of the run (before the update, during its prepare,
   * while it runs, after it; with a group-commit window, between a step and its commit), and its restart at any
   * point after. Each is one more choice of the search.
   */
  readonly crash?: {
    readonly nodes: readonly NodeId[];
    /**
     * The crashed node is lost for good: instead of its restart, it is forgotten (System.forget) at any point after
     * the crash, whatever the update is doing then (prepare: the update aborts; past it: it goes on without the node).
     */
    readonly lostForGood?: boolean;
    /**
     * With lostForGood: a lost node that is the running update's root is not forgotten but taken over at this node
     * (System.takeover), which forgets it; with no update running any more it is forgotten.
     */
    readonly takeoverAt?: NodeId;
  };
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
  /** An event that changes nothing, offered alone (see Replay.idleEvent): its state is a passing one, not hashed. */
  readonly idle?: boolean;
}

interface Frame {
  readonly enabled: readonly Choice[];
  readonly sleep: ReadonlyMap<string, NodeId>;
  readonly done: Set<string>;
  /** Lanes whose event was explored from this same state on an earlier visit: not explored again, and not put to sleep either. */
  readonly skip: ReadonlySet<string>;
}

const NO_SKIP: ReadonlySet<string> = new Set();
const NOTHING_ASLEEP: ReadonlySet<string> = new Set();

/** The lane of a choice key ("a>b#3" -> "a>b"): in one state a lane has at most one enabled event. */
const laneOfKey = (key: string): string => {
  const i = key.lastIndexOf("#");
  return i < 0 ? key : key.slice(0, i);
};

const UPDATE = "update()";
const THEN = "then";
const CRASH = "crash:";
const RESTART = "restart";
const FORGET = "forget";
/** Joins the places of a choice that happens at several (see `independent`). */
const PLACES = "\u0000";
/** The place every crash choice shares. */
const THE_CRASH = "@crash";
/** A commit deadline's label, as System schedules it: the commit is an event of that node. */
const COMMIT_OF = "commit of ";
/** Where an outside action happens: it may change any node's future (a link changes neighbours), so it commutes with nothing. */
const ANYWHERE = "*";

class Replay {
  readonly sys: System;
  private readonly laneCount = new Map<string, number>();
  updateStarted = false;
  /** The next of the model's `then` actions. */
  nextAction = 0;
  steps = 0;
  /** The model's one crash: none yet, the node down, or over (restarted, or refused by the system). */
  crash: { readonly phase: "none" } | { readonly phase: "down"; readonly node: NodeId } | { readonly phase: "over" } = { phase: "none" };
  /**
   * Per node whose durable record is behind its live host (it ran steps not committed yet) or that is down: its
   * host as of its last commit, what a crash brings back (recovery rebuilds the committed host; the fault fuzzer and
   * the crash-at-every-step test check that it does). A node not here is its durable record.
   */
  readonly committed = new Map<NodeId, HostView>();
  /** A model with a crash and a commit window: a node may be behind its durable record between steps. */
  private readonly batched: boolean;
  /** No link is ever removed: a message lost on the wire to a crashed node is resent when it is back, whatever else happens. */
  private readonly noUnlink: boolean;
  /** The roots of the model's updates: where their coordinators run. */
  private readonly roots: ReadonlySet<NodeId>;

  constructor(
    private readonly model: ExploreModel,
    private readonly strategy: Strategy,
  ) {
    const options = model.systemOptions?.(strategy) ?? {};
    const window = options.groupCommitMs ?? 0;
    this.batched = model.crash !== undefined && (typeof window === "number" ? window > 0 : window.max > 0);
    this.noUnlink = !(model.then ?? []).some((a) => a.kind === "unlink");
    this.roots = new Set([model.root, ...(model.then ?? []).flatMap((a) => (a.kind === "update" ? [a.root ?? model.root] : []))]);
    this.sys = new System({ ...options, scheduler: "scripted" });
    model.build(this.sys);
    model.start(this.sys);
  }

  private keyOf(p: PendingEvent): Choice {
    const lane = p.kind === "deliver" ? `${p.from}>${p.node}` : p.kind === "request" ? `request>${p.node}` : `${p.kind}:${p.node}:${p.signal ?? ""}`;
    // A group commit is its node's event (it releases that node's outputs), not the coordinator's.
    const at = p.kind === "deadline" && p.signal?.startsWith(COMMIT_OF) === true ? p.signal.slice(COMMIT_OF.length) : p.node;
    return { key: `${lane}#${this.laneCount.get(lane) ?? 0}`, at, seq: p.seq, lane };
  }

  private host(id: NodeId): NodeHost | undefined {
    return this.sys.inspect().hosts.find((h) => h.id === id);
  }

  /**
   * Run one node's step (or commit), keeping `committed`: a node clean before it and dirty after it has the key it
   * had before as its committed one; a node clean after it is its own durable record. Without a commit window every
   * step commits as it ends: nothing to keep.
   */
  private stepAt(node: NodeId, seq: number): void {
    if (!this.batched) return this.sys.step(seq); // throws if the replay diverged (the event is not enabled)
    const host = this.host(node);
    const pre = host !== undefined && !host.dirty ? viewOf(host, this.model.stateKey) : undefined;
    this.sys.step(seq);
    if (host === undefined) return; // a delivery to a crashed node: lost on the wire
    if (!host.dirty) this.committed.delete(node);
    else if (pre !== undefined) this.committed.set(node, pre);
  }

  /** The crash's progress (which node is down is the system's; whether the one crash is still to come is not). */
  faultKey(): string {
    if (this.model.crash === undefined) return "";
    return this.crash.phase === "down" ? `down:${this.crash.node}` : this.crash.phase;
  }

  /** The number of an enabled event that will do nothing when it runs, if there is one. */
  private idleEvent(): number | undefined {
    const sched = this.sys.network.scheduler;
    if (!(sched instanceof ScriptedScheduler)) return undefined;
    const view = this.sys.inspect();
    const commits = new Map<NodeId, number[]>();
    for (const ev of sched.enabled()) {
      if (ev.kind === "deliver" && view.staleOnWire(ev.seq, ev.env)) return ev.seq;
      // Lost on the wire, and sent again when the node is back; only a removed link would make it matter.
      if (ev.kind === "deliver" && this.noUnlink && view.down.includes(ev.env.to)) return ev.seq;
      // A report to the coordinator of an update whose root is down: lost, and resent from the node's outbox when it is back.
      if (ev.kind === "deliver" && ev.env.to === CONTROL && view.coordinatorDown) return ev.seq;
      // A request at a crashed node stays open and reaches it again when it is back; a timer of a crashed
      // incarnation never fires (the restarted node re-arms its own).
      if ((ev.kind === "request" || ev.kind === "timer") && view.down.includes(ev.node)) return ev.seq;
      if (ev.kind === "timer" && view.hosts.find((h) => h.id === ev.node)?.incarnation !== ev.incarnation) return ev.seq;
      if (ev.kind === "deadline" && ev.label.startsWith(COMMIT_OF)) {
        const node = ev.label.slice(COMMIT_OF.length);
        commits.set(node, [...(commits.get(node) ?? []), ev.seq]);
      }
    }
    // A node's one live commit is its latest, if its current incarnation has one scheduled; the others are of a
    // crashed incarnation (System checks the host when the deadline fires).
    for (const [node, seqs] of commits) {
      const live = view.commitDue.includes(node) ? Math.max(...seqs) : undefined;
      const idle = seqs.find((q) => q !== live);
      if (idle !== undefined) return idle;
    }
    return undefined;
  }

  private crashChoices(): Choice[] {
    const c = this.model.crash;
    if (c === undefined || this.crash.phase === "over") return [];
    // A restart resends on every link of its node and acknowledges in its neighbours' outboxes: it commutes with nothing.
    // A forget removes links at its neighbours and tells the coordinator: it commutes with nothing either.
    if (this.crash.phase === "down") return [{ key: c.lostForGood === true ? FORGET : RESTART, at: ANYWHERE, seq: -1, lane: RESTART }];
    // A crash changes its node only: another node's step or commit leaves the crashed node's durable record as it is
    // (an acknowledgement it misses is sent again at its restart), so they commute. An update's root runs its
    // coordinator: its crash stops the coordinator too, so it commutes with no event of the coordinator either.
    return c.nodes.map((n) => {
      const places = this.roots.has(n) ? [n, CONTROL, THE_CRASH] : [n, THE_CRASH];
      return { key: `${CRASH}${n}`, at: places.join(PLACES), seq: -1, lane: `${CRASH}${n}` };
    });
  }

  private takeFault(c: Choice): void {
    if (c.key === FORGET && this.crash.phase === "down") {
      const at = this.model.crash?.takeoverAt;
      if (at !== undefined && this.sys.updating() && this.sys.inspect().coordinatorDown) this.sys.takeover(at);
      else this.sys.forget(this.crash.node);
      this.committed.delete(this.crash.node);
      this.crash = { phase: "over" };
      return;
    }
    if (c.key === RESTART && this.crash.phase === "down") {
      this.sys.restart(this.crash.node).catch(() => undefined);
      this.committed.delete(this.crash.node); // back from its record, nothing uncommitted
      this.crash = { phase: "over" };
      return;
    }
    const node = c.key.slice(CRASH.length);
    const host = this.host(node);
    if (host !== undefined && !this.committed.has(node)) {
      const view = viewOf(host, this.model.stateKey);
      if (view !== undefined) this.committed.set(node, view);
    }
    try {
      this.sys.crash(node);
      this.crash = { phase: "down", node };
    } catch (e) {
      // Documented: a synchronized system refuses crash(); its run goes on without one.
      if (!(e instanceof InvalidOptionError)) throw e;
      this.crash = { phase: "over" };
    }
  }

  choices(): Choice[] {
    const pending = this.sys.pending();
    // An event that can change nothing (a copy dropped on the wire, a commit of a crashed incarnation) commutes with
    // every other and hides nothing: it is taken alone (a singleton ample set), its orders are not explored.
    const idle = this.model.crash !== undefined ? this.idleEvent() : undefined;
    if (idle !== undefined) return pending.filter((p) => p.seq === idle).map((p) => ({ ...this.keyOf(p), idle: true }));
    const out = pending.map((p) => this.keyOf(p));
    // update() only creates the coordinator's run and its prepare messages: an event of the coordinator. Before it no
    // node event can depend on it (nothing of the update exists yet), so it commutes with every node's events.
    if (!this.updateStarted) out.push({ key: UPDATE, at: CONTROL, seq: -1, lane: UPDATE });
    else if (this.nextAction < (this.model.then?.length ?? 0) && !this.sys.updating()) {
      out.push({ key: `${THEN}#${this.nextAction}`, at: ANYWHERE, seq: -1, lane: THEN });
    }
    out.push(...this.crashChoices());
    return out;
  }

  take(c: Choice): void {
    this.steps++;
    if (c.key === UPDATE) {
      this.updateStarted = true;
      this.sys.update(this.model.update(), { strategy: this.strategy, root: this.model.root }).catch(() => undefined);
      return;
    }
    if (c.lane === THEN) {
      this.act(this.model.then?.[this.nextAction++]);
      // A configuration command commits the nodes it touches.
      for (const h of this.sys.inspect().hosts) if (!h.dirty) this.committed.delete(h.id);
      return;
    }
    if (c.key === RESTART || c.key === FORGET || c.key.startsWith(CRASH)) return this.takeFault(c);
    this.laneCount.set(c.lane, (this.laneCount.get(c.lane) ?? 0) + 1);
    if (c.at === CONTROL) this.sys.step(c.seq); // throws if the replay diverged (the event is not enabled)
    else this.stepAt(c.at, c.seq);
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
  const f = fingerprint(r.sys, model.stateKey, r.committed);
  return f === undefined ? undefined : `${f}|${r.nextAction}|${r.faultKey()}`;
}

/**
 * Two choices commute when they happen at different places. A place is a node, the coordinator, or several joined
 * by PLACES (a crash happens at its node and at the one crash the model allows, so two crashes never commute: one
 * disables the other).
 */
const independent = (a: NodeId, b: NodeId): boolean => {
  if (a === ANYWHERE || b === ANYWHERE) return false;
  if (!a.includes(PLACES) && !b.includes(PLACES)) return a !== b;
  const inB = b.split(PLACES);
  return a.split(PLACES).every((p) => !inB.includes(p));
};

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
    // Most states are reached with nothing asleep: they share one empty set (hundreds of thousands are kept).
    const asleep = sleep.size === 0 ? NOTHING_ASLEEP : new Set<string>();
    for (const k of sleep.keys()) (asleep as Set<string>).add(laneOfKey(k));
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
      // A state whose only move changes nothing is passed through: the state after it stands for it.
      const passing = enabled.length === 1 && enabled[0]?.idle === true;
      const skip = this.hashing && !passing ? this.lanesToSkip(r, enabled, sleep) : NO_SKIP;
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
