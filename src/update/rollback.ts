/**
 * rollback: the paper's optimistic approach (section 5.3, Figures 5-8), made
 * precise as docs/design.md specifies.
 *
 * Old and new nodes communicate freely; inconsistency is undone instead of
 * prevented. The pieces:
 * - An event is one handler execution (a receive, an outside request, a timer)
 *   with all its sends: one vector-clock tick. State is an immutable value, so
 *   the paper's "checkpoint before every send and receive" is a reference to the
 *   state after each event, logged with the event's input.
 * - Arming happens in prepare: from then on the node ticks a vector clock, keeps
 *   checkpoints and enforces point-to-point causal delivery of old messages
 *   (Raynal-Schiper-Toueg: each message carries the sender's matrix of sends it
 *   knows of). Each node acknowledges with its vector time and matrix; the
 *   coordinator merges them into the root's, so no rollback reaches before
 *   arming. Between updates nothing of this runs.
 * - The root turns new and sends the marker m carrying the cut = its vector
 *   time (and matrix) to every neighbour. The cut is the causal past of the
 *   root's turn-new plus every node's arming point: a consistent cut.
 * - An old node delivers m only in causal order: once every old message sent to
 *   it inside the cut has been delivered. On its first m it rolls back to the
 *   state after its event cut[self], undoing at once every event concurrent with
 *   m: the paper's incompatible set. It transfers state, sends m to every
 *   neighbour, and replays through the new code, in their original order, the
 *   new-equivalents of the undone receives whose send lies inside the cut, the
 *   undone outside requests and the undone firings of timers set inside the cut.
 *   Undone receives of messages sent outside the cut are orphans: dropped, their
 *   senders undo the sends.
 * - A new node drops an old message sent outside the cut (an orphan) and
 *   executes the new-equivalent of one sent inside it (channel state of the cut:
 *   causal delivery makes this rare, not impossible). An old node holds new
 *   messages until it turns new.
 * - Output commit: an answer to an outside request produced while armed leaves
 *   only once its event can no longer be undone (at or below the cut, when the
 *   node turns new); undone answers never leave, the replay answers again.
 *
 * Why it terminates and stays correct: each node rolls back at most once, on
 * its first m; no application message triggers a rollback, so nothing
 * cascades; a new node never goes back. An old node never executes a new
 * message (held) and a new node never executes an old one (transformed or
 * dropped); every message sent is executed, transformed, or dropped with its
 * send undone (awareness).
 *
 * Where we depart from the paper (and why):
 * - The paper rolls back "to the checkpoint before the element with smallest
 *   timestamp in IS" and identifies IS per process; we roll back to cut[self],
 *   which undoes exactly the events concurrent with m (after the node's cut
 *   point) in one step.
 * - The paper both resends new-equivalents of undone sends and replays logged
 *   receives; doing both duplicates effects. We only replay: re-execution
 *   regenerates whatever the new code sends.
 * - Timers set by undone events are cancelled (their setting event is replayed
 *   or dropped with them); the paper is silent about timers.
 * - Markers are delivered causally only at old nodes; a node sends m on every
 *   channel (exactly 2 per link), so it knows it can drop its machinery once it
 *   has m from every neighbour: nothing old can arrive after that (FIFO).
 * - A neighbour lost for good may be forgotten mid-update: what it sent and
 *   nobody received is lost with it, so causal delivery stops counting its
 *   sends, and a new node stops waiting for its marker.
 */
import type { ControlMessage, RunInfo, VectorCut } from "../core/control.js";
import type { AppEnvelope } from "../core/envelope.js";
import { InternalError } from "../core/errors.js";
import type { MessageId, NodeId, RequestId } from "../core/ids.js";
import type { NodeAgent, NodePort } from "../node/agent.js";
import type { NodeInput } from "../node/swap-node.js";
import type { CoordinatorPort, StrategyCoordinator, StrategyModule } from "./strategy.js";

/** What an armed old message carries. */
interface ArmedMeta {
  /**
   * The update it was armed for. A message of an earlier (aborted) run still in flight, or kept as a stray, is plain
   * old traffic for this run: its vector time counts another run's events, indexed by another run's node list.
   */
  readonly run: number;
  /**
   * Sent by a halted node after its rollback (its transfer threw at swap time): it never rolls back again, so the
   * message is never an orphan; new nodes transform it, old ones treat it as sent inside the cut.
   */
  readonly halted?: true;
  /** The sender's vector time at the send (its event index is vt[sender]). */
  readonly vt: readonly number[];
  /** The sender's matrix of known sends (row k, column l: messages k sent to l), before this send. */
  readonly st: readonly number[];
}

/** The cut: vector time and send matrix of the root when it turned new, merged with every node's arming point. */
type Cut = VectorCut;

interface LogEntry {
  readonly event: number;
  readonly input: NodeInput;
  /** For a receive: the sender's event index of the send; undefined if sent before the sender armed. */
  readonly sentAt: number | undefined;
  /** For a timer firing: the event that set the timer; undefined if set before arming. */
  readonly timerSetAt: number | undefined;
  readonly sends: MessageId[];
  readonly timers: number[];
  readonly responses: { readonly request: RequestId; readonly result: unknown }[];
  stateAfter: unknown;
}

function maxInto(target: number[], other: readonly number[]): void {
  for (let i = 0; i < target.length; i++) {
    const o = other[i] as number;
    if (o > (target[i] as number)) target[i] = o;
  }
}

class RollbackAgent implements NodeAgent {
  private readonly index: ReadonlyMap<NodeId, number>;
  private readonly n: number;
  private readonly me: number;
  private readonly vt: number[];
  private readonly sent: number[];
  private readonly deliv: number[];
  private event = 0;
  private log: LogEntry[] = [];
  private readonly armState: unknown;
  private current: LogEntry | undefined;
  /** Old messages not yet causally deliverable, in arrival order. */
  private pendingOld: AppEnvelope[] = [];
  /** Markers not yet causally deliverable. */
  private pendingMarkers: { readonly from: NodeId; readonly cut: Cut; readonly halted: boolean }[] = [];
  /** New messages that reached this node while old. */
  private heldNew: AppEnvelope[] = [];
  private readonly timerSetAt = new Map<number, number>();
  private cancelledTimers = 0;
  private readonly markerFrom = new Set<NodeId>();
  /** Indexes of neighbours lost for good and forgotten: causal order no longer waits for their messages. */
  private readonly gone = new Set<number>();
  private cut: Cut | undefined;
  private turnedNew = false;
  private disarmed = false;
  /** Rolled back, but the transfer threw at swap time: old until a resume, never rolled back again. */
  private halted = false;

  constructor(
    private readonly node: NodePort,
    private readonly run: RunInfo,
  ) {
    const nodes = run.nodes;
    this.index = new Map(nodes.map((id, i) => [id, i]));
    this.n = nodes.length;
    this.me = this.index.get(node.id) as number;
    this.vt = new Array<number>(this.n).fill(0);
    this.sent = new Array<number>(this.n * this.n).fill(0);
    this.deliv = new Array<number>(this.n).fill(0);
    this.armState = node.state;
    // Armed neighbours' messages this node executed before its own prepare arrived are part of its past.
    for (const { from, meta } of node.takeStrayMeta()) {
      if ((meta as ArmedMeta).run === run.id) this.absorb(from, meta as ArmedMeta);
    }
  }

  fingerprint(stateKey: (state: unknown) => unknown): unknown {
    const input = (i: NodeInput): unknown => (i.kind === "receive" ? ["receive", i.env.id] : i.kind === "request" ? ["request", i.request] : ["timer", i.tag]);
    return {
      event: this.event,
      vt: this.vt,
      sent: this.sent,
      deliv: this.deliv,
      log: this.log.map((e) => [e.event, input(e.input), e.sentAt ?? null, e.timerSetAt ?? null, e.sends, e.timers.length, e.responses.map((r) => r.request), stateKey(e.stateAfter)]),
      armState: stateKey(this.armState),
      pendingOld: this.pendingOld.map((e) => e.id),
      pendingMarkers: this.pendingMarkers.map((m) => m.from),
      heldNew: this.heldNew.map((e) => e.id),
      markers: [...this.markerFrom].sort(),
      cut: this.cut ?? null,
      turnedNew: this.turnedNew,
      disarmed: this.disarmed,
      halted: this.halted,
      cancelled: this.cancelledTimers,
      gone: [...this.gone].sort((a, b) => a - b),
    };
  }

  progress(): { readonly begun: boolean } {
    return { begun: this.turnedNew || this.halted || this.pendingMarkers.length > 0 || this.cut !== undefined };
  }

  prepareAck(): Cut {
    return { vt: [...this.vt], st: [...this.sent] };
  }

  // ---- traffic ----

  onSend(env: AppEnvelope): void {
    if (this.turnedNew || this.disarmed) return this.node.transmit(env);
    const to = this.index.get(env.to) as number;
    const meta: ArmedMeta = { run: this.run.id, vt: [...this.vt], st: [...this.sent], ...(this.halted ? { halted: true as const } : {}) };
    this.sent[this.me * this.n + to] = (this.sent[this.me * this.n + to] as number) + 1;
    this.current?.sends.push(env.id);
    this.node.figures.armedMessages++;
    this.node.figures.metadataBytes += JSON.stringify(meta).length;
    this.node.transmit({ ...env, meta });
  }

  onDeliver(env: AppEnvelope): void {
    if (this.disarmed) return this.node.execute({ kind: "receive", env });
    if (this.turnedNew) return this.deliverAtNew(env);
    if (this.halted) return this.deliverHalted(env);
    if (env.epoch > this.node.epoch) {
      this.heldNew.push(env);
      this.traceBuffer(env);
      return;
    }
    const meta = this.metaOf(env);
    if (meta !== undefined && !this.deliverable(meta.st)) {
      this.pendingOld.push(env);
      this.traceBuffer(env);
      return;
    }
    this.deliverOld(env);
    this.drainPending();
  }

  onRequest(request: RequestId, body: unknown): void {
    if (this.turnedNew || this.disarmed || this.halted) return this.node.execute({ kind: "request", request, body });
    this.runEvent({ kind: "request", request, body }, undefined, undefined);
  }

  onTimer(tag: string, timer: number): void {
    if (this.turnedNew || this.disarmed || this.halted) return this.node.execute({ kind: "timer", tag });
    this.runEvent({ kind: "timer", tag }, undefined, this.timerSetAt.get(timer));
  }

  onRespond(request: RequestId, result: unknown): void {
    const e = this.current;
    if (e === undefined) this.node.respondNow(request, result);
    else e.responses.push({ request, result }); // output commit: held until the event cannot be undone
  }

  onSetTimer(delayMs: number, tag: string): void {
    const id = this.node.startTimer(delayMs, tag);
    const e = this.current;
    if (e !== undefined) {
      e.timers.push(id);
      this.timerSetAt.set(id, e.event);
    }
  }

  onControl(msg: ControlMessage, from: NodeId): void {
    if (msg.kind === "start") {
      const merged = msg.cut;
      if (merged === undefined) throw new InternalError(`rollback: the root "${this.node.id}" was started without the merged arming points`);
      maxInto(this.vt, merged.vt);
      maxInto(this.sent, merged.st);
      this.vt[this.me] = this.event;
      this.node.markStarted();
      this.turnNew({ vt: [...this.vt], st: [...this.sent] });
      return;
    }
    if (msg.kind !== "m") return;
    const cut = msg.cut;
    if (cut === undefined) throw new InternalError(`rollback: "${this.node.id}" got a marker from "${from}" without its cut`);
    // A halted sender's marker spreads the cut but does not close its channel: old messages of its still follow.
    const closes = msg.halted !== true;
    if (this.turnedNew || this.halted) {
      if (closes) this.markerFrom.add(from);
      this.maybeDetach();
      return;
    }
    this.pendingMarkers.push({ from, cut, halted: !closes });
    this.drainPending();
  }

  onAbort(): void {
    this.disarmed = true;
    for (const e of this.log) for (const r of e.responses) this.node.respondNow(r.request, r.result);
    this.log = [];
    const waiting = [...this.pendingOld, ...this.heldNew];
    this.pendingOld = [];
    this.heldNew = [];
    for (const env of waiting) this.node.execute({ kind: "receive", env });
  }

  // ---- old node ----

  private deliverable(st: readonly number[]): boolean {
    for (let k = 0; k < this.n; k++) {
      if (this.gone.has(k)) continue; // lost with a forgotten node: it will never come
      if ((this.deliv[k] as number) < (st[k * this.n + this.me] as number)) return false;
    }
    return true;
  }

  /**
   * A neighbour lost for good was forgotten: what it sent and this node never got is lost with it (its outbox is
   * gone, and its link with it), so causal order stops waiting for it; a new node stops waiting for its marker.
   */
  onNeighborGone(gone: NodeId): void {
    const k = this.index.get(gone);
    if (k !== undefined) this.gone.add(k);
    if (this.disarmed) return;
    if (this.turnedNew) return this.maybeDetach();
    if (!this.halted) this.drainPending();
  }

  private absorb(from: NodeId, meta: ArmedMeta): void {
    const f = this.index.get(from) as number;
    maxInto(this.vt, meta.vt);
    maxInto(this.sent, meta.st);
    // This message itself: the sender's count of its sends to us, including it (others may have told us already).
    const cell = f * this.n + this.me;
    this.sent[cell] = Math.max(this.sent[cell] as number, (meta.st[cell] as number) + 1);
    this.deliv[f] = (this.deliv[f] as number) + 1;
  }

  private deliverOld(env: AppEnvelope): void {
    const meta = this.metaOf(env);
    let sentAt: number | undefined;
    if (meta !== undefined) {
      this.absorb(env.from, meta);
      // A halted sender never undoes its sends: for a later rollback here the message counts as inside the cut.
      sentAt = meta.halted === true ? undefined : meta.vt[this.index.get(env.from) as number];
    }
    this.runEvent({ kind: "receive", env }, sentAt, undefined);
  }

  /** Deliver whatever causal order now allows, markers included, until nothing moves. */
  private drainPending(): void {
    let moved = true;
    while (moved && !this.turnedNew) {
      moved = false;
      const marker = this.pendingMarkers.find((m) => this.deliverable(m.cut.st));
      if (marker !== undefined) {
        this.pendingMarkers = this.pendingMarkers.filter((m) => m !== marker);
        if (!marker.halted) this.markerFrom.add(marker.from);
        this.turnNew(marker.cut);
        return;
      }
      for (let i = 0; i < this.pendingOld.length; i++) {
        const env = this.pendingOld[i] as AppEnvelope;
        if (this.deliverable((this.metaOf(env) as ArmedMeta).st)) {
          this.pendingOld.splice(i, 1);
          this.deliverOld(env);
          moved = true;
          break;
        }
      }
    }
  }

  private runEvent(input: NodeInput, sentAt: number | undefined, timerSetAt: number | undefined): void {
    const node = this.node;
    this.event++;
    this.vt[this.me] = this.event;
    const entry: LogEntry = { event: this.event, input, sentAt, timerSetAt, sends: [], timers: [], responses: [], stateAfter: undefined };
    this.current = entry;
    try {
      node.execute(input);
    } finally {
      this.current = undefined;
    }
    entry.stateAfter = node.state;
    this.log.push(entry);
    if (this.log.length > this.node.figures.peakCheckpoints) this.node.figures.peakCheckpoints = this.log.length;
    if (node.tracing) node.record({ kind: "checkpoint", t: node.now(), node: node.id, event: this.event });
  }

  // ---- turning new ----

  private turnNew(cut: Cut): void {
    const node = this.node;
    this.cut = cut;
    const keepUpTo = cut.vt[this.me] as number;
    const kept = this.log.filter((e) => e.event <= keepUpTo);
    const undone = this.log.filter((e) => e.event > keepUpTo);
    this.log = [];
    if (undone.length > 0) {
      node.rewind(kept.length > 0 ? (kept[kept.length - 1] as LogEntry).stateAfter : this.armState);
      this.node.figures.rolledBackEvents += undone.length;
      // Timers the undone events set must never fire, even once this agent is gone: the runtime cancels them.
      for (const e of undone) {
        for (const t of e.timers) {
          node.cancelTimer(t);
          this.cancelledTimers++;
        }
      }
      if (node.tracing) {
        node.record({
          kind: "rollback",
          t: node.now(),
          node: node.id,
          update: this.run.id,
          to: keepUpTo,
          undone: undone.length,
          receives: undone.flatMap((e) => (e.input.kind === "receive" ? [e.input.env.id] : [])),
          sends: undone.flatMap((e) => e.sends),
          requests: undone.flatMap((e) => (e.input.kind === "request" ? [e.input.request] : [])),
          timers: undone.flatMap((e) => (e.input.kind === "timer" ? [e.input.tag] : [])),
        });
      }
    }
    // Output commit: what the kept events answered can leave now; what the undone ones answered never will.
    for (const e of kept) for (const r of e.responses) node.respondNow(r.request, r.result);
    if (!node.swap()) return this.halt(cut, undone, keepUpTo);
    this.turnedNew = true;
    for (const nb of node.neighbors()) node.sendControl(nb, { kind: "m", cut });
    for (const e of undone) this.replay(e, keepUpTo);
    const waiting = this.pendingOld;
    this.pendingOld = [];
    for (const env of waiting) this.deliverAtNew(env);
    for (const m of this.pendingMarkers) if (!m.halted) this.markerFrom.add(m.from);
    this.pendingMarkers = [];
    const held = this.heldNew;
    this.heldNew = [];
    for (const env of held) node.execute({ kind: "receive", env });
    this.timerSetAt.clear();
    this.maybeDetach();
  }

  /**
   * The transfer threw after the rollback: the node stays old (halted) but the protocol goes on around it. It forwards
   * the marker (its neighbours roll back to the same cut and turn new), replays what it undid through its old code
   * (no rollback can undo it again, so answers leave at once), drops the orphans, and from now on tags what it sends
   * as halted so new nodes transform it instead of dropping it as an orphan. New messages wait for its resume.
   */
  private halt(cut: Cut, undone: readonly LogEntry[], keepUpTo: number): void {
    this.halted = true;
    for (const nb of this.node.neighbors()) this.node.sendControl(nb, { kind: "m", cut, halted: true });
    for (const e of undone) this.replayOld(e, keepUpTo);
    const waiting = this.pendingOld;
    this.pendingOld = [];
    for (const env of waiting) this.deliverHalted(env);
    for (const m of this.pendingMarkers) if (!m.halted) this.markerFrom.add(m.from);
    this.pendingMarkers = [];
    this.timerSetAt.clear();
  }

  /** With the corrected code the halted node turns new where it stands. */
  onResume(): void {
    if (!this.halted || !this.node.swap()) return;
    this.halted = false;
    this.turnedNew = true;
    // Now new: this marker closes each channel (nothing old of this node follows it).
    for (const nb of this.node.neighbors()) this.node.sendControl(nb, { kind: "m", cut: this.cut as Cut });
    const held = this.heldNew;
    this.heldNew = [];
    for (const env of held) this.node.execute({ kind: "receive", env });
    this.maybeDetach();
  }

  /** At a halted node: new messages wait; orphans are dropped; the rest (old, inside the cut or halted) runs as old. */
  private deliverHalted(env: AppEnvelope): void {
    if (env.epoch > this.node.epoch) {
      this.heldNew.push(env);
      this.traceBuffer(env);
      return;
    }
    const meta = this.metaOf(env);
    if (!this.insideCut(env.from, meta)) return this.dropOrphan(env);
    this.node.execute({ kind: "receive", env });
  }

  /** An undone event run again through the old code of a halted node. */
  private replayOld(e: LogEntry, keepUpTo: number): void {
    const node = this.node;
    const input = e.input;
    if (input.kind === "receive" && !this.sentInsideCut(input.env.from, e.sentAt)) return this.dropOrphan(input.env);
    if (input.kind === "timer" && e.timerSetAt !== undefined && e.timerSetAt > keepUpTo) return;
    if (node.tracing) {
      node.record(
        input.kind === "receive"
          ? { kind: "replay", t: node.now(), node: node.id, of: "receive", msg: input.env.id }
          : input.kind === "request"
            ? { kind: "replay", t: node.now(), node: node.id, of: "request", request: input.request }
            : { kind: "replay", t: node.now(), node: node.id, of: "timer", tag: input.tag },
      );
    }
    node.figures.replayedEvents++;
    node.execute(input);
  }

  private replay(e: LogEntry, keepUpTo: number): void {
    const node = this.node;
    const input = e.input;
    switch (input.kind) {
      case "receive": {
        if (!this.sentInsideCut(input.env.from, e.sentAt)) {
          this.dropOrphan(input.env);
          return;
        }
        if (node.tracing) node.record({ kind: "replay", t: node.now(), node: node.id, of: "receive", msg: input.env.id });
        this.node.figures.replayedEvents++;
        for (const fresh of node.transform(input.env)) node.execute({ kind: "receive", env: fresh });
        return;
      }
      case "request":
        if (node.tracing) node.record({ kind: "replay", t: node.now(), node: node.id, of: "request", request: input.request });
        this.node.figures.replayedEvents++;
        node.execute(input);
        return;
      case "timer":
        if (e.timerSetAt !== undefined && e.timerSetAt > keepUpTo) return; // its setting event was undone: it never fired
        if (node.tracing) node.record({ kind: "replay", t: node.now(), node: node.id, of: "timer", tag: input.tag });
        this.node.figures.replayedEvents++;
        node.execute(input);
        return;
    }
  }

  // ---- new node ----

  /** Sent inside the cut (or before its sender armed, or by a halted sender): not an orphan. */
  private insideCut(from: NodeId, meta: ArmedMeta | undefined): boolean {
    if (meta === undefined || meta.halted === true) return true;
    return this.sentInsideCut(from, meta.vt[this.index.get(from) as number]);
  }

  private sentInsideCut(from: NodeId, sentAt: number | undefined): boolean {
    const cut = this.cut as Cut;
    return sentAt === undefined || sentAt <= (cut.vt[this.index.get(from) as number] as number);
  }

  private deliverAtNew(env: AppEnvelope): void {
    const node = this.node;
    if (env.epoch >= node.epoch) return node.execute({ kind: "receive", env });
    if (!this.insideCut(env.from, this.metaOf(env))) return this.dropOrphan(env);
    // Channel state of the cut: an old message the cut includes, executed by the new code.
    for (const fresh of node.transform(env)) node.execute({ kind: "receive", env: fresh });
  }

  private dropOrphan(env: AppEnvelope): void {
    this.node.figures.orphansDropped++;
    if (this.node.tracing) this.node.record({ kind: "drop", t: this.node.now(), node: this.node.id, from: env.from, msg: env.id, reason: "orphan" });
  }

  private maybeDetach(): void {
    if (this.turnedNew && this.pendingOld.length === 0 && this.node.neighbors().every((n) => this.markerFrom.has(n))) this.node.detach();
  }

  /** The causal metadata of a message armed for this run; none for a message of an earlier run. */
  private metaOf(env: AppEnvelope): ArmedMeta | undefined {
    const meta = env.meta as ArmedMeta | undefined;
    return meta !== undefined && meta.run === this.run.id ? meta : undefined;
  }

  private traceBuffer(env: AppEnvelope): void {
    if (this.node.tracing) this.node.record({ kind: "buffer", t: this.node.now(), node: this.node.id, from: env.from, msg: env.id });
  }
}

/** The coordinator's part: the root's cut must cover every node's arming point, so merge the acknowledgements into its start. */
class RollbackCoordinator implements StrategyCoordinator {
  constructor(private readonly port: CoordinatorPort) {}

  start(acks: ReadonlyMap<NodeId, VectorCut | undefined>): void {
    const n = this.port.run.nodes.length;
    const vt = new Array<number>(n).fill(0);
    const st = new Array<number>(n * n).fill(0);
    for (const [node, ack] of acks) {
      if (ack === undefined) throw new InternalError(`rollback: node "${node}" acknowledged prepare without its arming point`);
      maxInto(vt, ack.vt);
      maxInto(st, ack.st);
    }
    this.port.send(this.port.run.root, { kind: "start", cut: { vt, st } }, false);
  }
}

export const rollback: StrategyModule = {
  name: "rollback",
  needsConnectedTopology: true,
  startsAtRoot: true,
  unavailable: () => undefined,
  agent: (node, run) => new RollbackAgent(node, run),
  coordinator: (port) => new RollbackCoordinator(port),
};
