import type { CoordinatorMessage, NodeReport, StrategyPrepare, UpdateCode, VectorCut } from "../core/control.js";
import type { ControlEnvelope } from "../core/envelope.js";
import { noFigures } from "../core/control.js";
import { InternalError, UpdateAbortedError, PrepareDeadlineError, PrepareFailedError, ResumeRefusedError, UpdateHaltedError, UpdateNotAbortableError } from "../core/errors.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import { testKnobs } from "../core/test-knobs.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { UpdateReport } from "../core/update.js";
import type { CoordinatorPort, StrategyCoordinator, StrategyModule } from "./strategy.js";
import type { UpdateRun } from "./update-run.js";

/** What the coordinator needs of the process it lives in: a clock, the control plane, the trace, and someone to tell the end. */
export interface CoordinatorTransport {
  now(): number;
  readonly tracing: boolean;
  record(ev: TraceEvent): void;
  /** Put a control-plane envelope on its way to a node. */
  transmit(env: ControlEnvelope): void;
  /** The update ended: completed (a report), or aborted in prepare or failed (an error). */
  finished(outcome: { readonly report: UpdateReport } | { readonly error: Error }): void;
  /** A node's step worth showing while the update runs (ctl update's live display). */
  progress?(node: NodeId, msg: NodeReport): void;
}

/**
 * The update's coordinator on the control plane (the paper's configuration
 * manager): prepare every node, start the strategy at G, collect the nodes'
 * reports, H when the last one turned new, and the end when every node's part
 * is over. The same for every strategy and every network: it talks to the
 * nodes only by messages, so it can live in the simulator's process, in `ctl`,
 * or inside a node.
 */
export class UpdateCoordinator implements CoordinatorPort {
  private readonly acks = new Map<NodeId, VectorCut | undefined>();
  /**
   * How far onPrepared has found live nodes prepared (a prefix of run.live()), and for which list of live nodes (the
   * count of forgotten ones): each ack resumes the walk there, instead of walking every node again per ack.
   */
  private preparedPrefix = { forgotten: 0, length: 0 };
  /** While adopting (a takeover): each live node's answer. */
  private readonly parts = new Map<NodeId, NodeReport & { kind: "part" }>();
  /** Reports that arrived while adopting (a node went on meanwhile): taken, in order, once the update is adopted. */
  private adoptingReports: ControlEnvelope[] = [];
  private readonly strategyPart: StrategyCoordinator;

  constructor(
    private readonly transport: CoordinatorTransport,
    readonly update: UpdateRun,
    strategy: StrategyModule,
    private readonly startsAtRoot: boolean,
  ) {
    this.strategyPart = strategy.coordinator(this);
  }

  get run(): UpdateRun["info"] {
    return this.update.info;
  }

  now(): number {
    return this.transport.now();
  }

  send(to: NodeId, msg: CoordinatorMessage, algorithm: boolean): void {
    const run = this.update;
    if (algorithm) run.controlMessages++;
    else run.controlPlaneMessages++;
    const t = this.transport;
    if (t.tracing) t.record({ kind: "control-send", t: this.now(), node: CONTROL, to, update: run.id, signal: msg.kind, plane: true });
    t.transmit({ kind: "control", from: CONTROL, to, update: run.id, msg, link: 0, plane: true });
  }

  /** Ship the update to every node; each loads it, checks its version and dry-runs its state transfer. */
  begin(code: UpdateCode, prepareData: ReadonlyMap<NodeId, StrategyPrepare> | undefined): void {
    for (const n of this.run.nodes) {
      const strategy = prepareData?.get(n);
      this.send(n, { kind: "prepare", run: this.run, code, ...(strategy !== undefined ? { strategy } : {}) }, false);
    }
  }

  receive(env: ControlEnvelope): void {
    const t = this.transport;
    if (t.tracing) t.record({ kind: "control-receive", t: this.now(), node: CONTROL, from: env.from, update: env.update, signal: env.msg.kind, plane: true });
    if (env.update !== this.update.id) return; // a late report of an earlier update
    if (this.update.forgotten.has(env.from)) return; // sent before it was lost for good: it is no longer in the update
    const msg = env.msg as NodeReport;
    t.progress?.(env.from, msg);
    if (this.update.phase === "adopting" && msg.kind !== "part") {
      this.adoptingReports.push(env);
      return;
    }
    switch (msg.kind) {
      case "part":
        return this.onPart(env.from, msg);
      case "prepared":
        return this.onPrepared(env.from, msg.ack);
      case "refused":
        if (this.update.phase === "preparing") this.abort(new PrepareFailedError(env.from, msg.reason));
        else if (this.update.phase === "resuming") this.haltAgain(new ResumeRefusedError(this.update.id, env.from, msg.reason));
        return;
      case "swapped":
        return this.onSwapped(env.from, msg);
      case "done":
        if (!this.update.reporting) return;
        this.update.halted.delete(env.from); // a node a mapping halted after its swap: its channels went on
        this.update.figures.set(env.from, msg.figures);
        return this.completeIfDone();
      case "swap-failed":
        return this.onSwapFailed(env.from, msg.error);
      default:
        if (this.update.swapping) this.strategyPart.onReport?.(env.from, msg);
    }
  }

  /** Give the update up before any node turned new: every node disarms, nothing changed. */
  abort(error: Error): void {
    const run = this.update;
    if (run.turnedNewAt.size > 0) throw new InternalError(`update #${run.id}: cannot abort once a node turned new (strategy bug)`);
    run.phase = "aborted";
    for (const n of run.live()) this.send(n, { kind: "abort" }, false);
    this.transport.finished({ error });
  }

  /** Nodes that have not acknowledged prepare yet, sorted (empty once the update runs). */
  unprepared(): NodeId[] {
    return this.update.phase === "preparing" ? this.update.live().filter((n) => !this.acks.has(n)) : [];
  }

  /** Prepare's deadline passed: abort if some node is still not prepared (nothing changed); else nothing to do. */
  deadlinePassed(deadlineMs: number): void {
    const late = this.unprepared();
    if (late.length > 0) this.abort(new PrepareDeadlineError(this.update.id, late, deadlineMs));
  }

  /**
   * The operator gives the update up (`ctl abort`): only while it prepares. Once the strategy started, a node may be
   * turning new at this very moment (its own step, which no message can overtake), so an abort could leave old and
   * new nodes side by side: refused with the reason, and the update goes on.
   */
  operatorAbort(reason: string): void {
    const run = this.update;
    if (run.phase !== "preparing") throw new UpdateNotAbortableError(run.id, run.phase);
    this.abort(new UpdateAbortedError(run.id, reason));
  }

  /** The update failed after a node turned new: every node is told it is no longer in it (see the "end" message). */
  giveUp(): void {
    const run = this.update;
    run.phase = "failed";
    for (const n of run.live()) this.send(n, { kind: "end" }, false);
  }

  /**
   * Finish a halted update: each halted node takes the corrected code, dry-runs it on its state as it is now and
   * retries its swap where its strategy's protocol stopped. The update completes, or halts again, as before.
   */
  resume(code: UpdateCode): void {
    const run = this.update;
    if (run.phase !== "halted") throw new InternalError(`update #${run.id}: resume() while ${run.phase} (caller bug)`);
    run.phase = "resuming";
    for (const n of [...run.halted.keys()].sort()) this.send(n, { kind: "resume", code }, false);
  }

  /** The nodes the update still waits for (every node but the forgotten ones), sorted. */
  liveNodes(): readonly NodeId[] {
    return this.update.live();
  }

  /**
   * A node lost for good is forgotten (DESIGN.md, "Faults and durability"); its links are gone by now, so nothing
   * more arrives from it. In prepare the update is aborted (nothing changed; submit it again). Past prepare the update
   * no longer waits for it: every live node is told ("gone"), and each strategy's agent stops waiting for what the
   * node would have sent (a marker, m, m'); a conservative node left with no parent starts the wave of m itself. The
   * caller (System.forget, the root's update service) refuses the root (takeover is for that) and a forget that would
   * cut a live node off from the root.
   */
  forget(node: NodeId): void {
    const run = this.update;
    if (!run.nodes.includes(node) || run.forgotten.has(node) || !run.running) return;
    run.forgotten.add(node);
    if (run.phase === "preparing") {
      this.acks.delete(node);
      // Each live node drops its link to it first (starting nothing), then disarms.
      for (const n of run.live()) this.send(n, { kind: "gone", node, adopting: true }, false);
      return this.abort(new UpdateAbortedError(run.id, `node "${node}" was forgotten during prepare; submit the update again`));
    }
    if (run.phase === "adopting") {
      // Taking the update over: its part is no longer awaited (adoptFromParts tells every node it is gone).
      this.parts.delete(node);
      for (const n of run.live()) this.send(n, { kind: "gone", node, adopting: true }, false);
      if (run.live().every((n) => this.parts.has(n))) this.adoptFromParts();
      return;
    }
    run.halted.delete(node);
    run.turnedNewAt.delete(node);
    run.figures.delete(node);
    for (const n of run.live()) this.send(n, { kind: "gone", node }, false);
    this.strategyPart.onForget?.(node);
    // The forgotten node may have been the only halted one: its neighbours' protocol goes on without it.
    if (run.phase === "halted" && run.halted.size === 0) run.phase = "running";
    this.completeIfDone();
  }

  /**
   * Take the update over (DESIGN.md, "Faults and durability"): its root `lost` was lost for good with the coordinator
   * and its journal; this coordinator runs at the run's new root (this run's `info.root`). The lost root is forgotten
   * (every live node is told "gone" first, so that nothing of it is awaited any more), then every live node is asked
   * for its part ("takeover"); with every answer in, adoptFromParts() rebuilds what the lost coordinator knew and goes on.
   */
  adopt(lost: NodeId, earlier: readonly NodeId[] = []): void {
    const run = this.update;
    run.phase = "adopting";
    for (const n of earlier) run.forgotten.add(n);
    run.forgotten.add(lost);
    for (const n of run.live()) this.send(n, { kind: "gone", node: lost, adopting: true }, false);
    for (const n of run.live()) this.send(n, { kind: "takeover", root: run.info.root }, false);
  }

  /** The coordinator's state as plain data, for the explorer. */
  fingerprint(): unknown {
    const run = this.update;
    return [run.id, run.phase, [...run.forgotten].sort(), [...this.parts.keys()].sort(), [...this.acks.keys()].sort(), [...run.turnedNewAt.keys()].sort(), [...run.figures.keys()].sort(), Number.isNaN(run.startedAt), this.strategyPart.fingerprint?.() ?? null];
  }

  private onPart(from: NodeId, part: NodeReport & { kind: "part" }): void {
    const run = this.update;
    if (run.phase !== "adopting" || !run.live().includes(from)) return;
    this.parts.set(from, part);
    if (run.live().every((n) => this.parts.has(n))) this.adoptFromParts();
  }

  /**
   * Every live node answered. A node that never prepared means the lost coordinator never started the protocol (it
   * starts once every node prepared), so no node turned new: the update is aborted, nothing changed. Otherwise the
   * update runs on: what each node says it did is what the lost coordinator knew (figures of nodes done before are
   * lost with it); if the protocol reached no live node it starts again at the new root (whatever the lost root did
   * went with it: its markers never left, or were lost with its outbox), else each strategy's part picks up.
   */
  private adoptFromParts(): void {
    const run = this.update;
    const neverPrepared = [...this.parts].filter(([n, p]) => !p.prepared && p.version === run.info.from[n]).map(([n]) => n);
    if (neverPrepared.length > 0) {
      const lost = [...run.forgotten].map((n) => `"${n}"`).join(", ");
      return this.abort(new UpdateAbortedError(run.id, `its root ${lost} was lost for good before node(s) ${neverPrepared.map((n) => `"${n}"`).join(", ")} prepared; taken over at "${run.info.root}"`));
    }
    let begun = false;
    for (const [n, p] of this.parts) {
      this.acks.set(n, p.ack);
      if (p.halted !== undefined) run.halted.set(n, p.halted);
      if (p.newAt !== undefined || !p.prepared) run.turnedNewAt.set(n, p.newAt ?? this.now());
      if (!p.prepared) run.figures.set(n, noFigures()); // done before the takeover: its figures were lost with the root
      begun ||= p.begun || p.newAt !== undefined || !p.prepared;
    }
    run.preparedAt = this.now();
    run.phase = "running";
    // Every node prepared: the lost root is gone for the protocol too (a conservative node it parented starts m).
    for (const n of run.live()) for (const lost of run.forgotten) this.send(n, { kind: "gone", node: lost }, false);
    if (run.halted.size > 0) this.haltAgain(new UpdateHaltedError(run.id, [...run.halted].map(([node, error]) => ({ node, error }))));
    if (!begun) {
      if (!this.startsAtRoot) this.markStarted(this.now());
      this.strategyPart.start(this.acks);
    } else {
      this.strategyPart.adopt?.(this.parts);
    }
    this.completeIfDone();
    // What the nodes did after they answered (turned new, finished their part) counts now, in their order.
    for (const env of this.adoptingReports.splice(0)) if (this.update.running) this.receive(env);
  }

  private onPrepared(from: NodeId, ack: VectorCut | undefined): void {
    const run = this.update;
    if (run.phase !== "preparing") return;
    this.acks.set(from, ack);
    if (!this.allPrepared()) return;
    run.phase = "running";
    run.preparedAt = this.now();
    if (!this.startsAtRoot) this.markStarted(this.now());
    this.strategyPart.start(this.acks);
  }

  /** Every live node prepared (acks only grow while the live list stays; a forget starts the walk again). */
  private allPrepared(): boolean {
    const live = this.update.live();
    const forgotten = this.update.forgotten.size;
    if (this.preparedPrefix.forgotten !== forgotten) this.preparedPrefix = { forgotten, length: 0 };
    let i = this.preparedPrefix.length;
    while (i < live.length && this.acks.has(live[i] as NodeId)) i++;
    this.preparedPrefix.length = i;
    return i === live.length;
  }

  private onSwapped(from: NodeId, msg: NodeReport & { kind: "swapped" }): void {
    const run = this.update;
    if (!run.reporting) return;
    run.halted.delete(from);
    run.turnedNewAt.set(from, msg.t);
    if (msg.startedAt !== undefined && Number.isNaN(run.startedAt)) run.startedAt = msg.startedAt;
    if (msg.figures !== undefined) run.figures.set(from, msg.figures);
    this.completeIfDone();
  }

  /**
   * A node's transfer threw at swap time: the update halts (safe before live, docs/design.md). The node stays old at
   * its swap point and its strategy keeps every flow across the epoch boundary waiting; update() (or resume())
   * rejects with every node halted so far, and the coordinator stays to take the remaining reports and a resume.
   */
  private onSwapFailed(from: NodeId, error: string): void {
    const run = this.update;
    if (!run.reporting) return;
    run.halted.set(from, error);
    if (run.phase === "halted") return; // already rejected: a later failure is named by the next attempt
    this.haltAgain(new UpdateHaltedError(run.id, [...run.halted].map(([node, e]) => ({ node, error: e }))));
  }

  private haltAgain(error: Error): void {
    const run = this.update;
    run.phase = "halted";
    const t = this.transport;
    if (t.tracing) t.record({ kind: "update-end", t: this.now(), update: run.id, outcome: "halted", detail: error.message });
    t.finished({ error });
  }

  private completeIfDone(): void {
    const run = this.update;
    const over = run.complete || (!testKnobs.resolveAtCompletion && run.allNew);
    if (!over || run.phase === "halted") return;
    run.phase = "completed";
    let h = run.startedAt;
    for (const at of run.turnedNewAt.values()) if (!(at <= h)) h = at;
    run.finishedAt = h;
    run.completedAt = this.now();
    const t = this.transport;
    if (t.tracing) t.record({ kind: "update-end", t: this.now(), update: run.id, outcome: "completed" });
    t.finished({ report: run.report() });
  }

  /** G for a strategy the coordinator itself begins (naive): traced here, as a root traces its own. */
  private markStarted(at: number): void {
    const run = this.update;
    run.startedAt = at;
    const t = this.transport;
    if (t.tracing) t.record({ kind: "update-start", t: at, update: run.id, strategy: run.info.strategy, root: run.info.root, nodes: run.nodes });
  }
}
