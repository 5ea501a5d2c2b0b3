import type { NodeReport, RunInfo, StrategyPrepare, UpdateCode } from "../core/control.js";
import type { ControlEnvelope } from "../core/envelope.js";
import { InternalError } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { UpdateReport } from "../core/update.js";
import { UpdateCoordinator, type CoordinatorTransport } from "../update/coordinator.js";
import { strategyModule } from "../update/registry.js";
import { UpdateRun } from "../update/update-run.js";
import { Channels, channelKey, type ChannelsSnapshot } from "./channels.js";
import type { UpdatePlan } from "./control-plane.js";

/**
 * What the coordinator journals (DESIGN.md, "Faults and durability"): its inputs, each before anything it causes
 * leaves, with the instant it ran. The coordinator is deterministic in its inputs, so replaying the journal rebuilds
 * it exactly (phase, acks, the numbered envelopes it sent), as a node host is rebuilt from its log.
 */
export type CoordinatorInput =
  | {
      readonly kind: "begin";
      readonly t: number;
      readonly run: RunInfo;
      readonly prepareData?: readonly (readonly [NodeId, StrategyPrepare])[];
      /** The update's code, which prepare ships (absent in a takeover: the nodes hold it already). */
      readonly code?: UpdateCode;
      /**
       * A takeover: the update's root (`lost`) was lost for good with its coordinator; this coordinator runs at the
       * run's new root and rebuilds the update from every live node's part instead of preparing.
       */
      readonly takeover?: { readonly lost: NodeId; readonly earlier?: readonly NodeId[] };
      /** The instance of the coordinator's channels to the nodes (their link number). */
      readonly link: number;
      /** Prepare's deadline (ms after `t`); none: prepare waits for every node. */
      readonly deadlineMs?: number;
      /** The nodes are durable: the channels are numbered, kept until acknowledged and resent. */
      readonly numbered: boolean;
    }
  | { readonly kind: "report"; readonly t: number; readonly env: ControlEnvelope }
  | { readonly kind: "deadline"; readonly t: number }
  | { readonly kind: "abort"; readonly t: number; readonly reason: string }
  | { readonly kind: "resume"; readonly t: number; readonly code: UpdateCode }
  /** A node lost for good was forgotten: the update stops waiting for it (aborted if still in prepare). */
  | { readonly kind: "forget"; readonly t: number; readonly node: NodeId }
  /** The simulator gave a stalled update up (nothing can move it any more): every node is told it is no longer in it. */
  | { readonly kind: "give-up"; readonly t: number };

/** How long a root restarted past prepare's deadline waits for the nodes' resent reports before it aborts (ms). */
export const RECOVERY_GRACE_MS = 1000;

/** Where the journal is kept: the root's durable store (a file beside it over TCP, the simulated disk in the simulator). */
export interface CoordinatorJournal {
  /** Every input since the running update began, in order (empty: no update to resume). */
  load(): readonly CoordinatorInput[];
  /** Durable when it returns. */
  append(input: CoordinatorInput): void;
  /** The update is over: nothing to resume. */
  clear(): void;
}

/** A journal in memory: a volatile root (its nodes restart empty anyway), and tests. */
export class MemoryJournal implements CoordinatorJournal {
  private entries: CoordinatorInput[] = [];
  load(): readonly CoordinatorInput[] {
    return this.entries;
  }
  append(input: CoordinatorInput): void {
    this.entries.push(input);
  }
  clear(): void {
    this.entries = [];
  }
}

export type CoordinatorOutcome = { readonly report: UpdateReport } | { readonly error: Error };

/** How a replayed journal left its update: ended or halted, with the update-end the coordinator traced when it decided (if it traces one). */
export interface ReplayedEnd {
  readonly outcome: CoordinatorOutcome;
  readonly event?: Extract<TraceEvent, { kind: "update-end" }>;
}

/** What the coordinator's host needs of the process it lives in. */
export interface CoordinatorHostEnvironment {
  now(): number;
  readonly tracing: boolean;
  record(ev: TraceEvent): void;
  /** A numbered envelope leaves for a node (its input is journaled by now). */
  send(env: ControlEnvelope): void;
  /** The node's reports are applied (and journaled) up to `seq`: it may forget them. */
  ack?(node: NodeId, seq: number): void;
  /** The update ended (completed, aborted, failed) or halted (an error; the host stays for a resume). */
  finished(outcome: CoordinatorOutcome): void;
  progress?(node: NodeId, msg: NodeReport): void;
  /** A one-shot timer on this process's clock; returns its cancel. */
  setTimer(ms: number, fire: () => void): () => void;
}

/**
 * The update's coordinator where it lives (the root's process, or the simulator's root host): the shared
 * UpdateCoordinator, its journal, its numbered channels to the nodes and prepare's deadline. Every input is journaled
 * before it runs, and what it sends leaves after; a restarted root replays the journal with nothing leaving (it left
 * when first sent) and then resends to each node what that node has not applied, from the node's own position.
 */
export class CoordinatorHost {
  readonly coordinator: UpdateCoordinator;
  /** The coordinator's channels out to each node, on `link`. */
  private readonly channels = new Channels();
  /**
   * How far each node's reports (its channel to the control plane, link 0) are applied. A node numbers its reports
   * across every coordinator it ever had, so a new coordinator starts from the first one it is sent (no gap check):
   * the session is FIFO and a node resends in order after a reconnect.
   */
  private readonly reports = new Map<NodeId, number>();
  private replaying = false;
  private cancelDeadline: (() => void) | undefined;
  /** The instant of the input running now (replay: the journaled one). */
  private t: number;
  private over = false;
  /** Rebuilt from the journal (a restarted root), not begun here. */
  private recovered = false;
  /** Replay: the update-end the coordinator traced last, and how the update ended or halted (see replayedEnd). */
  private replayedEvent: ReplayedEnd["event"];
  private replayed: ReplayedEnd | undefined;

  private constructor(
    private readonly env: CoordinatorHostEnvironment,
    private readonly journal: CoordinatorJournal,
    private readonly begin: Extract<CoordinatorInput, { kind: "begin" }>,
  ) {
    this.t = begin.t;
    const strategy = strategyModule(begin.run.strategy);
    if (strategy === undefined) throw new InternalError(`the journal names strategy "${begin.run.strategy}", which this liveswap lacks`);
    const host = this;
    const transport: CoordinatorTransport = {
      now: () => this.t,
      // Replay records nothing (the trace has those events from when they first happened) but keeps the update-end:
      // the root may have died before writing that one (see replayedEnd).
      get tracing(): boolean {
        return host.env.tracing;
      },
      record: (ev) => {
        if (!this.replaying) this.env.record(ev);
        else if (ev.kind === "update-end") this.replayedEvent = ev;
      },
      transmit: (env) => this.transmit(env),
      finished: (outcome) => this.finish(outcome),
      progress: (node, msg) => {
        if (!this.replaying) this.env.progress?.(node, msg);
      },
    };
    this.coordinator = new UpdateCoordinator(transport, new UpdateRun(begin.run), strategy, strategy.startsAtRoot);
  }

  /** Journal a planned update and prepare every node. */
  static start(env: CoordinatorHostEnvironment, journal: CoordinatorJournal, plan: UpdatePlan, code: UpdateCode, opts: { readonly link: number; readonly numbered: boolean; readonly deadlineMs?: number }): CoordinatorHost {
    const begin: CoordinatorInput = {
      kind: "begin",
      t: env.now(),
      run: plan.run,
      ...(plan.prepareData !== undefined ? { prepareData: [...plan.prepareData] } : {}),
      code,
      link: opts.link,
      numbered: opts.numbered,
      ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
    };
    journal.clear();
    journal.append(begin);
    const host = new CoordinatorHost(env, journal, begin);
    host.launch();
    return host;
  }

  /**
   * Take over a running update whose root was lost for good (its journal with it): `run` names the new root, which
   * runs this coordinator. Journaled as its begin; the coordinator forgets the lost root and asks every node its part.
   */
  static takeOver(
    env: CoordinatorHostEnvironment,
    journal: CoordinatorJournal,
    run: RunInfo,
    lost: NodeId,
    opts: { readonly link: number; readonly numbered: boolean; readonly earlier?: readonly NodeId[] },
  ): CoordinatorHost {
    // `earlier`: nodes an earlier coordinator of the update forgot (a root taken over before): none is awaited again.
    const takeover = opts.earlier !== undefined && opts.earlier.length > 0 ? { lost, earlier: opts.earlier } : { lost };
    const begin: CoordinatorInput = { kind: "begin", t: env.now(), run, takeover, link: opts.link, numbered: opts.numbered };
    journal.clear();
    journal.append(begin);
    const host = new CoordinatorHost(env, journal, begin);
    host.launch();
    return host;
  }

  /** The coordinator of the update the journal holds, rebuilt by replay; undefined when it holds none. */
  static recover(env: CoordinatorHostEnvironment, journal: CoordinatorJournal): CoordinatorHost | undefined {
    const [first, ...rest] = journal.load();
    if (first === undefined) return undefined;
    if (first.kind !== "begin") throw new InternalError(`the coordinator's journal starts with "${first.kind}", not "begin"`);
    const host = new CoordinatorHost(env, journal, first);
    host.recovered = true;
    host.replaying = true;
    host.launch();
    for (const input of rest) host.apply(input);
    host.replaying = false;
    // A halt the journal resumed after is not how the update stands.
    if (!host.over && host.run.phase !== "halted") host.replayed = undefined;
    host.t = env.now();
    host.armDeadline();
    return host;
  }

  get run(): UpdateRun {
    return this.coordinator.update;
  }

  /**
   * How the journal's replay left the update when it ended or halted there (none when a resume followed the halt, or
   * the update is still running). The root journals the input that decides an update before it traces the update-end
   * and tells its watchers, so a root that died in between has said neither: its process says both when it restarts.
   */
  get replayedEnd(): ReplayedEnd | undefined {
    return this.replayed;
  }

  /** The link number of the coordinator's channels (its instance). */
  get link(): number {
    return this.begin.link;
  }

  get deadlineMs(): number | undefined {
    return this.begin.deadlineMs;
  }

  /** A node's report arrives: applied once, in order (a resent duplicate is dropped), and acknowledged once journaled. */
  report(env: ControlEnvelope): void {
    const seq = env.seq;
    const last = this.reports.get(env.from) ?? 0;
    if (seq !== undefined && seq <= last) {
      this.env.ack?.(env.from, last);
      return;
    }
    if (seq !== undefined) this.reports.set(env.from, seq);
    // Over: a late report of the ended update changes nothing, but is taken so that the node can forget it.
    if (!this.over) this.input({ kind: "report", t: this.env.now(), env });
    if (seq !== undefined) this.env.ack?.(env.from, seq);
  }

  /** `ctl abort`: throws UpdateNotAbortableError past prepare (nothing journaled then). */
  abort(reason: string): void {
    if (this.run.phase !== "preparing") this.coordinator.operatorAbort(reason); // throws, with the phase
    this.input({ kind: "abort", t: this.env.now(), reason });
  }

  /** `ctl resume`: the halted update's nodes take the corrected code. */
  resume(code: UpdateCode): void {
    if (this.run.phase !== "halted") throw new InternalError(`update #${this.run.id}: resume() while ${this.run.phase} (caller bug)`);
    this.input({ kind: "resume", t: this.env.now(), code });
  }

  /**
   * A node lost for good is forgotten (the caller checked forgetRefusal): journaled, then the coordinator stops waiting
   * for it and tells every live node; in prepare the update aborts. Nothing to do once the update is over.
   */
  forget(node: NodeId): void {
    if (!this.over) this.input({ kind: "forget", t: this.env.now(), node });
  }

  /**
   * The simulator's stalled update (UpdateStalledError: nothing is in flight and a node is still not new): the update
   * failed, every node is told it is no longer in it ("end"), journaled like any decision so that a restarted root
   * does not resume it. Nothing to do once the update is over.
   */
  giveUp(): void {
    if (!this.over) this.input({ kind: "give-up", t: this.env.now() });
  }

  /**
   * The coordinator's ends of its channels as plain data (the explorer's fingerprint): its numbered envelopes to each
   * node on `link`, and how far it applied each node's reports (link 0).
   */
  channelsSnapshot(): ChannelsSnapshot {
    const inbound = [...this.reports.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([node, seq]) => [channelKey(node, 0), seq] as const);
    return { outbound: this.channels.snapshot().outbound, inbound };
  }

  /** How far the coordinator applied `node`'s reports (what its hello to the node says). */
  applied(node: NodeId): number {
    return this.reports.get(node) ?? 0;
  }

  /** The node applied the coordinator's envelopes up to `seq`. */
  acked(node: NodeId, seq: number): void {
    this.channels.ack(node, this.link, seq);
    this.forgetIfSettled();
  }

  /** Over, and every node has what it was sent (an abort is resent until acknowledged): nothing left to resume. */
  private forgetIfSettled(): void {
    if (this.over && this.run.live().every((n) => this.pending(n) === 0)) this.journal.clear();
  }

  /** What to send `node` again after its position `after` (a session to it opened again). */
  unacked(node: NodeId, after: number): readonly ControlEnvelope[] {
    this.channels.ack(node, this.link, after);
    // The node's position acknowledges too (a restarted root learns it so): an ended update it settles is forgotten.
    this.forgetIfSettled();
    return this.channels.unacked(node, this.link, after) as readonly ControlEnvelope[];
  }

  /** Envelopes not yet acknowledged by `node`. */
  pending(node: NodeId): number {
    return this.channels.unacked(node, this.link, 0).length;
  }

  /** Stop the timers (the process stops, or the root crashed). */
  close(): void {
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
  }

  private launch(): void {
    const b = this.begin;
    if (b.takeover !== undefined) return this.coordinator.adopt(b.takeover.lost, b.takeover.earlier ?? []);
    if (b.code === undefined) throw new InternalError(`the coordinator's journal begins update #${b.run.id} without its code`);
    this.coordinator.begin(b.code, b.prepareData !== undefined ? new Map(b.prepareData) : undefined);
    if (!this.replaying) this.armDeadline();
  }

  private input(input: CoordinatorInput): void {
    this.journal.append(input);
    this.apply(input);
  }

  private apply(input: CoordinatorInput): void {
    this.t = input.t;
    switch (input.kind) {
      case "begin":
        throw new InternalError("a second begin in the coordinator's journal");
      case "report":
        if (this.replaying && input.env.seq !== undefined) this.reports.set(input.env.from, input.env.seq);
        return this.coordinator.receive(input.env);
      case "deadline":
        return this.coordinator.deadlinePassed(this.begin.deadlineMs ?? 0);
      case "abort":
        return this.coordinator.operatorAbort(input.reason);
      case "resume":
        return this.coordinator.resume(input.code);
      case "forget":
        return this.coordinator.forget(input.node);
      case "give-up":
        this.coordinator.giveUp();
        this.over = true;
        this.replayed = undefined; // the update failed: a halt replayed before it is not how it stands
        return this.close();
    }
  }

  /** Prepare's deadline, on the process's clock from the journaled begin (a restarted root keeps the same instant). */
  private armDeadline(): void {
    const ms = this.begin.deadlineMs;
    if (ms === undefined || this.run.phase !== "preparing" || this.cancelDeadline !== undefined) return;
    // A root restarted past the deadline gives the nodes a moment to resend what they reported while it was down
    // (every node may have prepared meanwhile): it aborts only if some node is still not prepared after it.
    const remaining = this.begin.t + ms - this.env.now();
    const left = remaining > 0 ? remaining : this.recovered ? Math.min(ms, RECOVERY_GRACE_MS) : 0;
    this.cancelDeadline = this.env.setTimer(left, () => {
      this.cancelDeadline = undefined;
      if (!this.over && this.run.phase === "preparing") this.input({ kind: "deadline", t: this.env.now() });
    });
  }

  private transmit(env: ControlEnvelope): void {
    if (!this.begin.numbered) {
      if (!this.replaying) this.env.send(env);
      return;
    }
    const out = this.channels.stamp(env.link === this.link ? env : { ...env, link: this.link }) as ControlEnvelope;
    if (!this.replaying) this.env.send(out);
  }

  private finish(outcome: CoordinatorOutcome): void {
    const phase = this.run.phase;
    // Halted: the update stays (its nodes wait for a resume), and so does its journal.
    if (phase !== "halted") {
      this.over = true;
      this.close();
    }
    if (this.replaying) {
      this.replayed = { outcome, ...(this.replayedEvent !== undefined ? { event: this.replayedEvent } : {}) };
      this.replayedEvent = undefined;
      return;
    }
    this.env.finished(outcome);
    if (this.over) this.forgetIfSettled();
  }

  /** Over (completed, aborted or failed): the journal may be cleared once the nodes have what was sent them. */
  get ended(): boolean {
    return this.over;
  }
}
