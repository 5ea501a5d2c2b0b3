import type { Behavior } from "../core/behavior.js";
import type { ChannelSignal, ControlMessage, NodeReport, RunInfo, UpdateCode, UpdateFigures } from "../core/control.js";
import type { AppEnvelope, ControlEnvelope, Envelope } from "../core/envelope.js";
import { describeError, InternalError } from "../core/errors.js";
import { CONTROL, messageId, type NodeId, type RequestId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Update } from "../core/update.js";
import type { NodeAgent, NodePort } from "../node/agent.js";
import { PassThroughAgent } from "../node/pass-through-agent.js";
import { Fault, SwapNode, type Effects, type NodeInput, type NodeSurroundings, type RunOutcome } from "../node/swap-node.js";
import { prepareNode, revalidate, timeSwapStep, type Participation, type PrepareEnvironment } from "./prepare.js";
import { testKnobs } from "../core/test-knobs.js";
import { Channels } from "./channels.js";
import { HOST_RECORD_FORMAT, SNAPSHOT_EVERY, type Ack, type HostOutput, type HostSnapshot, type LogEntry } from "./host-record.js";
import type { NodeStore, StoredRecord } from "./node-store.js";
import { RequestRecords } from "./request-records.js";
import { RecordFormatError } from "../core/errors.js";
import type { Behavior as AnyBehavior } from "../core/behavior.js";

/**
 * When what a step produced leaves the node. "open": at once, the network committing every step as it ends (a disk
 * with no commit latency: nothing can happen between a step and its commit). "batch": at the node's next group commit
 * (a crash before it loses the step and everything it produced). "replay": never (recovery re-runs committed steps,
 * whose outputs left when they were first committed).
 */
export type OutputGate = "open" | "batch" | "replay";

/**
 * What a network gives the hosts it drives: a clock, channels, timers, the
 * trace, outside requests' answers, and the loading of update code. The
 * simulated network and the TCP daemon each implement it; a host never knows
 * which it has.
 */
export interface HostEnvironment extends NodeSurroundings, PrepareEnvironment {
  readonly tracing: boolean;
  transmit(env: Envelope): void;
  /** `timer` is the host's own id for it (a replay after a crash gives the same ids). */
  startTimer(node: NodeId, incarnation: number, delayMs: number, tag: string, timer: number): void;
  record(ev: TraceEvent): void;
  /**
   * Optional, the simulator's: record the send (by `env.from`) or the delivery (to `env.to`) of `env` at `t` without
   * building its event object (see TraceLog). Used only where `record` would take the event at once (gate open).
   */
  traceEnvelope?(kind: "send" | "deliver", t: number, env: AppEnvelope): void;
  /** An outside request was answered. */
  answer(node: NodeId, request: RequestId, result: unknown): void;
  /** An outside request cannot be answered: its handler threw or is missing. */
  fail(node: NodeId, request: RequestId, reason: string): void;
  /** A retried request is older than the node's retention window and unknown to it: it must not run (again). */
  expired?(node: NodeId, request: RequestId): void;
  /**
   * A commit released its trace events: write them (a process's trace file) before the commit, and return a bookmark
   * (the file's length) that commits with the batch.
   */
  traced?(): unknown;
  /** A wall clock (ms) to time the step in which the node swaps (TCP); absent where time is virtual. */
  wallClock?(): number;
  /** The CPU ms this process has used (TCP): beside the wall clock, what of a swap's step was work. */
  cpuClock?(): number;
  /** Start counting garbage-collection pauses (TCP); the function returned stops and gives their ms since. */
  gcWatch?(): () => number;
  /**
   * A neighbour was lost for good and forgotten during an update ("gone"): remove this node's link to it, as the live
   * side of an unlink does, outside the configuration lock, in this node's step (over TCP its link table; in the
   * simulator its half of the link). Idempotent: a replay runs it again.
   */
  dropNeighbor?(node: NodeId, gone: NodeId): void;
  /** This node's part in update `update` began (prepared), with its figures, updated in place until it ends (metrics). */
  partBegun?(update: number, figures: UpdateFigures): void;
}

/**
 * The node host: one node as every network runs it. It takes an input (an
 * envelope, a timer, an outside request), applies the protocol rules that do
 * not depend on the strategy (a message of a removed link is dropped, a
 * recreated node's old timers never fire, an armed neighbour's early message
 * is kept as a stray, prepare is validated here, control messages of another
 * update are ignored), runs the agent and the handler, performs the effects,
 * and reports to the coordinator by message at the end of the step.
 */
export class NodeHost implements NodePort {
  readonly node: SwapNode;
  /** This node's live links (neighbour -> incarnation). */
  readonly links: ReadonlyMap<NodeId, number>;
  agent: NodeAgent;
  readonly baseAgent: NodeAgent;
  /** The update this node takes part in, from its prepare to the end of its part. */
  private part: Participation | undefined;
  /** An update whose code is being loaded (asynchronously, over TCP). */
  private loading: number | undefined;
  /**
   * Armed neighbours' messages that reached this node before it armed for their update (`run`, when the strategy's
   * metadata names it): that update's agent absorbs them when this node arms for it.
   */
  private strays: { readonly from: NodeId; readonly meta: unknown; readonly run: number | undefined }[] = [];
  /** Timers that must not fire; kept here, not in an agent, so that they stay cancelled after the agent is gone. */
  private cancelledTimers: Set<number> = NO_CANCELLED;
  /** Timers set and not yet fired nor cancelled, with their due time: an update may map their tags at the swap. */
  private pendingTimers: Map<number, PendingTimer> = NO_TIMERS;
  /** Messages this node id has sent, over every incarnation (ids stay unique when a node is recreated). */
  messagesSent: number;
  /** Versions this node's updates replaced: an old image of them must never rejoin (RetiredVersionError). */
  private readonly retired = new Set<string>();
  /** This node's ends of its channels: sequence numbers, the outbox, applied positions (rebuilt by replay). */
  channels = new Channels();
  /** Outside requests it accepted, with their answers: a retry never runs twice. */
  requests = new RequestRecords();
  private nextTimer = 0;
  /**
   * Keep the input log and number the channels (the durable record's machinery). A network that keeps no store for
   * its nodes (a TCP node without `store:`) turns it off: its transport numbers frames itself.
   */
  durability = true;
  /** The network's environment; `env` is this host's gate in front of it (output commit, replay). */
  private readonly outer: HostEnvironment;
  private readonly env: HostEnvironment;
  private gate: OutputGate;
  /** While replaying its log after a crash: the instant the replayed entry first ran. */
  private replayAt: number | undefined;
  /** Inputs run since the last commit. */
  private journal: LogEntry[] = [];
  /** Outputs waiting for the commit (gate "batch"). */
  private outputs: HostOutput[] = [];
  private sinceSnapshot = 0;
  /** A new node's first commit writes this snapshot of it before init (its log starts with init). */
  private genesis: HostSnapshot | undefined;
  /** What the network keeps in this node's snapshots beside the host's own record (over TCP: links, store instance). */
  snapshotExtra: (() => unknown) | undefined;
  /** The code of the update that brought the current version (kept in snapshots: a recovery loads it again). */
  versionCode: UpdateCode | undefined;
  /** The code of the update this node prepared or resumed with: its version's code once it swaps. */
  private preparedCode: UpdateCode | undefined;
  /** The run of the last update this node prepared for (kept in its snapshots): what a takeover starts from. */
  private lastRun: RunInfo | undefined;
  /** The version and epoch of its last commit: what a crash leaves. */
  durableVersion: string;
  durableEpoch: number;

  constructor(
    readonly id: NodeId,
    behavior: Behavior,
    epoch: number,
    readonly incarnation: number,
    env: HostEnvironment,
    baseAgent: (port: NodePort) => NodeAgent = (port) => new PassThroughAgent(port),
    messagesSent = 0,
    gate: OutputGate = "open",
  ) {
    this.outer = env;
    this.gate = gate;
    this.env = this.gatedEnvironment(env);
    this.messagesSent = messagesSent;
    this.node = new SwapNode(id, behavior, undefined, epoch, this.env);
    this.links = env.linksOf(id);
    this.baseAgent = baseAgent(this);
    this.agent = this.baseAgent;
    this.durableVersion = behavior.version;
    this.durableEpoch = epoch;
    this.genesis = { format: HOST_RECORD_FORMAT, kind: "genesis", version: behavior.version, epoch, messagesSent };
  }

  /**
   * The environment the node, its agents and prepare see: the network's, except that what leaves the node passes the
   * output gate, time is the replayed entry's during a replay, and open requests are this node's own records. One
   * small object per host whose methods live on a shared prototype: a literal of closures cost about 1.5 KB a node.
   */
  private gatedEnvironment(outer: HostEnvironment): HostEnvironment {
    const env = new NodeHost.Gated(this, outer);
    if (outer.dropNeighbor !== undefined) env.dropNeighbor = (n: NodeId, gone: NodeId) => outer.dropNeighbor?.(n, gone);
    const clock = outer.wallClock;
    if (clock !== undefined) env.wallClock = () => clock.call(outer);
    const cpu = outer.cpuClock;
    if (cpu !== undefined) env.cpuClock = () => cpu.call(outer);
    const gc = outer.gcWatch;
    if (gc !== undefined) env.gcWatch = () => gc.call(outer);
    return env;
  }

  /** The class of gatedEnvironment's objects: inside NodeHost, so that it reaches the host's gate and outputs. */
  private static readonly Gated = class GatedEnvironment implements HostEnvironment {
    dropNeighbor?: (node: NodeId, gone: NodeId) => void;
    wallClock?: () => number;
    cpuClock?: () => number;
    gcWatch?: () => () => number;

    constructor(
      private readonly host: NodeHost,
      private readonly outer: HostEnvironment,
    ) {}

    get tracing(): boolean {
      return this.host.tracing;
    }
    now(): number {
      return this.host.replayAt ?? this.outer.now();
    }
    neighbors(n: NodeId): readonly NodeId[] {
      return this.outer.neighbors(n);
    }
    linksOf(n: NodeId): ReadonlyMap<NodeId, number> {
      return this.outer.linksOf(n);
    }
    hasOpenRequest(_n: NodeId, rid: RequestId): boolean {
      return this.host.requests.isOpen(rid);
    }
    loadCode(code: UpdateCode): ReturnType<HostEnvironment["loadCode"]> {
      return this.outer.loadCode(code);
    }
    transmit(e: Envelope): void {
      const host = this.host;
      host.emitTransmit(host.durability ? host.channels.stamp(e) : e);
    }
    startTimer(node: NodeId, incarnation: number, delayMs: number, tag: string, timer: number): void {
      if (this.host.gate !== "replay") this.outer.startTimer(node, incarnation, delayMs, tag, timer);
    }
    record(ev: TraceEvent): void {
      const host = this.host;
      if (host.gate === "open") this.outer.record(ev);
      else if (host.gate === "batch") host.outputs.push({ kind: "record", ev });
    }
    answer(_n: NodeId, rid: RequestId, result: unknown): void {
      this.host.requests.answered(rid, result);
      this.host.emit({ kind: "answer", request: rid, result });
    }
    fail(_n: NodeId, rid: RequestId, reason: string): void {
      this.host.requests.failed(rid, reason);
      this.host.emit({ kind: "fail", request: rid, reason });
    }
  };

  private emitTransmit(env: Envelope): void {
    if (this.gate === "open") this.outer.transmit(env);
    else if (this.gate === "batch") {
      if (!testKnobs.controlAfterCommit && env.kind === "control" && !env.plane) return this.outer.transmit(env);
      this.outputs.push({ kind: "transmit", env });
    }
  }

  private emit(out: HostOutput): void {
    if (this.gate === "open") this.releaseOutput(out);
    else if (this.gate === "batch") this.outputs.push(out);
  }

  private releaseOutput(out: HostOutput): void {
    const o = this.outer;
    switch (out.kind) {
      case "transmit":
        return o.transmit(out.env);
      case "record":
        return o.record(out.ev);
      case "answer":
        return o.answer(this.id, out.request, out.result);
      case "fail":
        return o.fail(this.id, out.request, out.reason);
      case "expired":
        if (o.expired !== undefined) return o.expired(this.id, out.request);
        return o.fail(this.id, out.request, "the request is older than the node's retention window; it may or may not have run and will not run again");
    }
  }

  private log(entry: LogEntry): void {
    if (this.gate !== "replay" && this.durability) this.journal.push(entry);
  }

  // ---- durability: commit, snapshot, recovery ----

  /** Steps run and not yet committed (a crash now would lose them). */
  get uncommitted(): number {
    return this.journal.length;
  }

  /** What its uncommitted steps produced, waiting for the commit (the explorer's fingerprint: it leaves then). */
  get heldOutputs(): readonly HostOutput[] {
    return this.outputs;
  }

  /** Has something to commit (a group commit is due). */
  get dirty(): boolean {
    return this.journal.length > 0 || this.outputs.length > 0 || this.genesis !== undefined;
  }

  /**
   * Make every step since the last commit durable in `store` (one write), then let what they produced leave: the
   * output commit. Returns the acknowledgements the commit allows (the last position applied per inbound channel).
   */
  commit(store: NodeStore, forceSnapshot = false): readonly Ack[] {
    const genesis = this.genesis;
    if (genesis !== undefined) {
      this.genesis = undefined;
      const extra = this.snapshotExtra?.();
      store.commit({ entries: [], snapshot: extra === undefined ? genesis : { ...genesis, extra } });
    }
    const entries = this.journal;
    if (entries.length > 0) this.journal = [];
    this.sinceSnapshot += entries.length;
    const snapshot = (forceSnapshot || this.sinceSnapshot >= SNAPSHOT_EVERY) && this.quiet ? this.snapshot() : undefined;
    if (snapshot !== undefined) this.sinceSnapshot = 0;
    const outputs = this.outputs;
    if (outputs.length > 0) this.outputs = [];
    // The trace goes first, and the network's bookmark of it (a trace file's length) commits with the batch: a crash
    // after the commit keeps the lines of what committed, a recovery cuts away those of what did not.
    for (const out of outputs) if (out.kind === "record") this.releaseOutput(out);
    const mark = this.outer.traced?.();
    const batch = snapshot === undefined ? { entries } : { entries, snapshot };
    store.commit(mark === undefined ? batch : { ...batch, mark });
    this.durableVersion = this.node.version;
    this.durableEpoch = this.node.epoch;
    for (const out of outputs) if (out.kind !== "record") this.releaseOutput(out);
    return acksOf(entries);
  }

  /** No update here and an agent that can state its own state: the node can be snapshotted. */
  private get quiet(): boolean {
    return this.part === undefined && this.loading === undefined && this.agent === this.baseAgent && this.baseAgent.snapshot !== undefined;
  }

  private snapshot(): HostSnapshot {
    this.channels.prune((peer, link) => this.links.get(peer) === link);
    return {
      format: HOST_RECORD_FORMAT,
      kind: "quiet",
      version: this.node.version,
      epoch: this.node.epoch,
      state: this.node.state,
      messagesSent: this.messagesSent,
      retired: [...this.retired],
      timers: [...this.pendingTimers].map(([id, t]) => [id, t.tag, t.due] as const),
      nextTimer: this.nextTimer,
      strays: [...this.strays],
      channels: this.channels.snapshot(),
      requests: this.requests.snapshot(),
      agent: this.baseAgent.snapshot?.() ?? null,
      code: this.versionCode ?? null,
      ...(this.lastRun !== undefined ? { lastRun: this.lastRun } : {}),
      ...(this.snapshotExtra !== undefined ? { extra: this.snapshotExtra() } : {}),
    };
  }

  /**
   * A node back from a crash: its last snapshot, then its log replayed with every output held back (they left when
   * first committed), then its pending timers re-armed for their remaining time (overdue ones at once, in due order).
   */
  static recover(
    id: NodeId,
    record: StoredRecord,
    incarnation: number,
    env: HostEnvironment,
    behaviorOf: (version: string) => AnyBehavior,
    baseAgent: ((port: NodePort) => NodeAgent) | undefined,
    gate: OutputGate,
  ): NodeHost {
    const s = record.snapshot as HostSnapshot | undefined;
    if (s === undefined || typeof s !== "object") throw new RecordFormatError(`node "${id}"`, "none", [HOST_RECORD_FORMAT], "its store holds no snapshot");
    if (s.format !== HOST_RECORD_FORMAT) throw new RecordFormatError(`node "${id}"`, String(s.format), [HOST_RECORD_FORMAT]);
    const host = new NodeHost(id, behaviorOf(s.version), s.epoch, incarnation, env, baseAgent, s.messagesSent, "replay");
    host.genesis = undefined;
    if (s.kind === "quiet") host.restoreQuiet(s);
    for (const e of record.log) host.replay(e as LogEntry);
    host.sinceSnapshot = record.log.length;
    if (!testKnobs.persistOutbox) host.channels.dropOutbox(); // a deliberately broken store (test knob)
    host.replayAt = undefined;
    host.gate = gate;
    host.durableVersion = host.node.version;
    host.durableEpoch = host.node.epoch;
    host.rearmTimers();
    return host;
  }

  private restoreQuiet(s: HostSnapshot & { kind: "quiet" }): void {
    this.node.state = s.state;
    if (s.code !== null && s.code !== undefined) this.versionCode = s.code as UpdateCode;
    if (s.lastRun !== undefined) this.lastRun = s.lastRun;
    for (const v of s.retired) this.retired.add(v);
    if (s.timers.length > 0) this.pendingTimers = new Map();
    for (const [id, tag, due] of s.timers) this.pendingTimers.set(id, { tag, due });
    this.nextTimer = s.nextTimer;
    this.strays = [...s.strays];
    this.channels = Channels.restore(s.channels);
    this.requests = RequestRecords.restore(s.requests);
    this.baseAgent.restore?.(s.agent);
  }

  private replay(e: LogEntry): void {
    this.replayAt = e.t;
    switch (e.kind) {
      case "init":
        this.initialize();
        return;
      case "deliver":
        return this.deliver(e.env);
      case "request":
        return this.request(e.request, e.body, e.issued);
      case "timer":
        return this.timer(e.tag, e.timer, this.incarnation);
    }
  }

  private rearmTimers(): void {
    const now = this.outer.now();
    const timers = [...this.pendingTimers].sort((a, b) => a[1].due - b[1].due || a[0] - b[0]);
    for (const [id, t] of timers) this.outer.startTimer(this.id, this.incarnation, Math.max(0, t.due - now), t.tag, id);
  }

  /**
   * The last sequence number from `from` on `link` this node applied in a committed step: what a reconnecting sender
   * may forget. Its live position may be further on, in steps a crash would undo.
   */
  appliedDurably(from: NodeId, link: number): number {
    for (const e of this.journal) if (e.kind === "deliver" && e.env.from === from && e.env.link === link && e.env.seq !== undefined) return e.env.seq - 1;
    return this.channels.applied(from, link);
  }

  /**
   * The frames this node must send again to `to` on `link` after the receiver's position `after`. A frame of a step
   * not committed yet is not among them: it leaves with that commit (output commit), and a crash before it unsends it.
   */
  resendTo(to: NodeId, link: number, after: number): readonly Envelope[] {
    this.channels.ack(to, link, after);
    const frames = this.channels.unacked(to, link, after);
    if (this.outputs.length === 0) return frames;
    const held = new Set<Envelope>();
    for (const o of this.outputs) if (o.kind === "transmit") held.add(o.env);
    return frames.filter((f) => !held.has(f));
  }

  get epoch(): number {
    return this.node.epoch;
  }

  get version(): string {
    return this.node.version;
  }

  get state(): unknown {
    return this.node.state;
  }

  get tracing(): boolean {
    // What the gated environment answers, read without its accessor (a hot path: every input and send asks).
    return this.outer.tracing && this.gate !== "replay";
  }

  /** The update this node takes part in (prepared or loading it), if any. */
  get updateId(): number | undefined {
    const p = this.part;
    return p !== undefined && !p.ended ? p.run.id : this.loading;
  }

  /** Armed for an update (prepared and not yet finished). */
  get armed(): boolean {
    return this.part !== undefined;
  }

  /** It has turned new in the update it takes part in. */
  get swappedInUpdate(): boolean {
    return this.part?.swappedAt !== undefined;
  }

  /** The versions this node's updates replaced, in the order it left them. */
  retiredVersions(): readonly string[] {
    return [...this.retired];
  }

  /**
   * The run of the update this node takes part in, or of the last one it took part in (its part may be over while
   * the update is not: its coordinator died before the others finished). A takeover rebuilds a coordinator from it.
   */
  partRun(): RunInfo | undefined {
    return this.part?.run ?? this.lastRun;
  }

  /** What `ctl status` shows of this node's part in an update. */
  participationStatus(): { readonly id: number; readonly strategy: string; readonly prepared: boolean; readonly new: boolean; readonly root?: NodeId } | null {
    const p = this.part;
    if (p !== undefined && !p.ended) return { id: p.run.id, strategy: p.run.strategy, prepared: true, new: p.swappedAt !== undefined, root: p.run.root };
    return this.loading === undefined ? null : { id: this.loading, strategy: "(loading)", prepared: false, new: false };
  }

  get figures(): UpdateFigures {
    const p = this.part;
    if (p === undefined) throw new InternalError(`node "${this.id}": figures outside an update (strategy bug)`);
    return p.figures;
  }

  now(): number {
    return this.env.now();
  }

  neighbors(): readonly NodeId[] {
    return this.env.neighbors(this.id);
  }

  record(ev: TraceEvent): void {
    this.env.record(ev);
  }

  /** Run init; its effects (first sends, first timers) are performed like any handler's. */
  initialize(): RunOutcome {
    this.log({ kind: "init", t: this.env.now() });
    const out = this.node.initialize();
    if (!(out instanceof Fault)) this.perform(out);
    return out;
  }

  // ---- inputs, from whichever network drives the host ----

  deliver(env: Envelope): void {
    if ((env.kind === "app" || !env.plane) && this.links.get(env.from) !== env.link) {
      // Recorded at once, not at the next commit: the drop changes nothing here, and once a crash lost its record
      // nothing could bring the message again (its link is gone), so the trace would never say what became of it.
      // A strategy's signal on a removed link (a forgotten neighbour's marker still on the wire) is dropped too.
      if (env.kind === "app" && this.env.tracing) this.outer.record({ kind: "drop", t: this.env.now(), node: this.id, from: env.from, msg: env.id, reason: "unlinked" });
      return;
    }
    // Each numbered frame is applied once, in order: a resent duplicate or a frame ahead of a resent one is not.
    if (env.seq !== undefined && this.channels.accept(env) !== "apply") return;
    // The check before the call spares the entry's allocation where nothing is journaled (no store).
    if (this.durability) this.log({ kind: "deliver", t: this.env.now(), env });
    // A channel halted by a mapping that threw keeps its order: what follows waits behind the failed message.
    if (env.kind === "control" ? !env.plane : true) {
      if (this.part?.held.holdIn(env) === true) return this.traceHeld(env);
    }
    if (env.kind === "control") return this.step(() => this.control(env));
    if (env.meta !== undefined) {
      // An armed neighbour's message before this node armed for its update: that update's agent will want to know.
      const run = runOf(env.meta);
      if (run === undefined ? this.agent === this.baseAgent : run !== this.part?.run.id) this.strays.push({ from: env.from, meta: env.meta, run });
    }
    // Outside an update nothing reports: the hot path stays a plain call.
    if (this.part === undefined) this.agent.onDeliver(env);
    else this.step(() => this.agent.onDeliver(env));
  }

  /**
   * An outside request, perhaps a retry (`issued`: when the client first sent it): an id this node accepted before is
   * never run again; it gets the recorded answer, or waits for the one execution.
   */
  request(request: RequestId, body: unknown, issued: number = this.env.now()): void {
    const verdict = this.requests.arrive(request, issued);
    switch (verdict.kind) {
      case "run":
        break;
      case "wait":
        return;
      case "answer":
        return this.emit({ kind: "answer", request, result: verdict.result });
      case "fail":
        return this.emit({ kind: "fail", request, reason: verdict.reason });
      case "expired":
        return this.emit({ kind: "expired", request });
    }
    this.requests.accept(request, issued);
    this.log({ kind: "request", t: this.env.now(), request, body, issued });
    this.step(() => this.agent.onRequest(request, body));
  }

  /** A timer fired; `incarnation` tells a recreated node's timers from its predecessor's. */
  timer(tag: string, timer: number, incarnation: number): void {
    if (incarnation !== this.incarnation) return;
    this.pendingTimers.delete(timer);
    if (this.cancelledTimers.size > 0 && this.cancelledTimers.delete(timer)) return;
    if (this.durability) this.log({ kind: "timer", t: this.env.now(), tag, timer });
    this.step(() => this.agent.onTimer(tag, timer));
  }

  // ---- NodePort: what agents do ----

  execute(input: NodeInput): void {
    this.traceInput(input);
    const out = this.node.run(input);
    if (out instanceof Fault) {
      if (this.part !== undefined) this.part.figures.faults++; // the UpdateReport counts faults during an update
      if (this.env.tracing) {
        this.env.record({ kind: "fault", t: this.env.now(), node: this.id, during: out.during, error: out.error, ...(input.kind === "receive" ? { msg: input.env.id } : {}) });
      }
      if (input.kind === "request") this.env.fail(this.id, input.request, out.error);
      return;
    }
    this.perform(out);
  }

  transmit(env: AppEnvelope): void {
    if (this.part?.held.holdOut(env) === true) return this.traceHeld(env);
    this.env.transmit(env);
  }

  /** A message queued behind one a mapping could not map: it waits with its channel (hold out, buffer in). */
  private traceHeld(env: Envelope): void {
    if (!this.env.tracing || env.kind !== "app") return;
    const t = this.env.now();
    this.env.record(env.to === this.id ? { kind: "buffer", t, node: this.id, from: env.from, msg: env.id } : { kind: "hold", t, node: this.id, to: env.to, msg: env.id });
  }

  sendControl(to: NodeId, msg: ChannelSignal, pulse?: number): void {
    const p = this.part;
    const update = p?.run.id ?? 0;
    if (p !== undefined) p.figures.controlMessages++;
    if (this.env.tracing) {
      this.env.record({ kind: "control-send", t: this.env.now(), node: this.id, to, update, signal: msg.kind, plane: false, ...(pulse !== undefined ? { pulse } : {}) });
    }
    const env: ControlEnvelope = { kind: "control", from: this.id, to, update, msg, link: this.links.get(to) ?? 0, plane: false };
    if (p?.held.holdOut(env) === true) return;
    this.env.transmit(env);
  }

  report(msg: NodeReport, algorithm: boolean): void {
    this.toCoordinator(this.participation("report"), msg, algorithm);
  }

  swap(): boolean {
    const p = this.participation("swap");
    // Halted, the node waits for the corrected code: its strategy may try again (a later marker), the transfer not.
    if (p.halted !== undefined) return false;
    let next: unknown;
    let timers: readonly TimerRemap[];
    const clock = this.env.wallClock;
    const start = clock?.();
    try {
      next = p.update.state(this.node.state, { self: this.id, neighbors: [...this.neighbors()] });
      // Part of the same atomic step: a timer mapping that throws halts the swap as the transfer does.
      timers = this.remapTimers(p.update);
    } catch (e) {
      p.figures.faults++;
      if (this.env.tracing) this.env.record({ kind: "fault", t: this.env.now(), node: this.id, during: "state-transfer", error: describeError(e) });
      p.halted = describeError(e);
      this.toCoordinator(p, { kind: "swap-failed", error: p.halted }, false);
      return false;
    }
    const transferred = clock?.();
    const from = this.node.version;
    this.node.swap(p.update.to, next);
    this.versionCode = this.preparedCode;
    this.applyTimerRemaps(timers);
    this.retired.add(from);
    this.retired.delete(p.update.to.version); // a back-out makes an earlier version current again
    const t = this.env.now();
    if (this.env.tracing) this.env.record({ kind: "swap", t, node: this.id, update: p.run.id, from, to: p.update.to.version, epoch: this.node.epoch });
    p.swappedAt = t;
    p.swapStep = true;
    if (clock !== undefined && start !== undefined && transferred !== undefined) p.swapMarks = { start, transferred, end: clock() };
    return true;
  }

  transform(env: AppEnvelope): AppEnvelope[] {
    const p = this.participation("transform");
    // The message was written by its sender's old code, so the update of the sender's version maps it.
    const senderVersion = p.run.from[env.from];
    const mapping = senderVersion === undefined ? undefined : p.updates.get(senderVersion)?.message;
    let bodies: unknown[];
    try {
      bodies = mapping === undefined ? [env.body] : mapping(env.body, { from: env.from, to: env.to });
      if (!Array.isArray(bodies)) throw new TypeError(`message() returned ${typeof bodies}, expected an array of new messages`);
    } catch (e) {
      p.figures.faults++;
      if (this.env.tracing) this.env.record({ kind: "fault", t: this.env.now(), node: this.id, during: "message-mapping", error: describeError(e), msg: env.id });
      this.haltChannel(p, env, `the message mapping threw on ${env.id} from "${env.from}" to "${env.to}": ${describeError(e)}`);
      return [];
    }
    const epoch = env.epoch + 1;
    const out: AppEnvelope[] = bodies.map((body, i) => ({ kind: "app", id: messageId(`${env.id}~${i + 1}`), from: env.from, to: env.to, epoch, body, link: env.link }));
    p.figures.transformedMessages++;
    if (this.env.tracing) {
      this.env.record({ kind: "transform", t: this.env.now(), node: this.id, from: env.from, to: env.to, msg: env.id, into: out.map((e) => e.id), epoch });
    }
    return out;
  }

  /**
   * A mapping threw: the message and its channel wait (never dropped) and the update halts, as when a transfer throws;
   * a resume with a corrected mapping maps it again and lets the channel go on in order.
   */
  private haltChannel(p: Participation, env: AppEnvelope, error: string): void {
    this.traceHeld(env);
    p.held.halt(env, this.id);
    if (p.halted !== undefined) return;
    p.halted = error;
    // Turned new in this very step: the coordinator must learn that first (its "swapped" leaves at the end of the step).
    if (p.swappedAt !== undefined && !p.swapReported) p.haltToReport = error;
    else this.toCoordinator(p, { kind: "swap-failed", error }, false);
  }

  /** After a resume: the failed messages mapped again with the corrected mapping, then their channels in order. */
  private releaseChannels(p: Participation): void {
    const { incoming, outgoing } = p.held.takeAll();
    for (const [, queue] of incoming) this.release(p, queue, (fresh) => this.execute({ kind: "receive", env: fresh }), (env) => this.deliverNow(env));
    for (const [, queue] of outgoing) this.release(p, queue, (fresh) => this.transmit(fresh), (env) => this.transmitNow(env));
  }

  private release(p: Participation, queue: readonly Envelope[], mapped: (env: AppEnvelope) => void, next: (env: Envelope) => void): void {
    const [failed, ...rest] = queue;
    if (failed === undefined || failed.kind !== "app") return;
    const fresh = this.transform(failed);
    if (p.halted !== undefined) {
      // Halted again: the rest waits behind the failed message, still first of its queue.
      for (const env of rest) if (!(failed.to === this.id ? p.held.holdIn(env) : p.held.holdOut(env))) next(env);
      return;
    }
    for (const env of fresh) mapped(env);
    for (const env of rest) next(env);
  }

  private deliverNow(env: Envelope): void {
    if (env.kind === "control") return this.control(env);
    this.agent.onDeliver(env);
  }

  private transmitNow(env: Envelope): void {
    if (this.part?.held.holdOut(env) === true) return this.traceHeld(env);
    if (this.env.tracing && env.kind === "app") this.env.record({ kind: "release", t: this.env.now(), node: this.id, to: env.to, msg: env.id });
    this.env.transmit(env);
  }

  detach(): void {
    this.agent = this.baseAgent;
    const p = this.part;
    if (p !== undefined) {
      p.detached = true;
      this.forgetStrays(p.run.id);
    }
  }

  rewind(state: unknown): void {
    this.node.state = state;
  }

  respondNow(request: RequestId, result: unknown): void {
    if (this.env.tracing) this.env.record({ kind: "respond", t: this.env.now(), node: this.id, request });
    this.env.answer(this.id, request, result);
  }

  startTimer(delayMs: number, tag: string): number {
    const id = ++this.nextTimer;
    this.env.startTimer(this.id, this.incarnation, delayMs, tag, id);
    if (this.pendingTimers === NO_TIMERS) this.pendingTimers = new Map();
    this.pendingTimers.set(id, { tag, due: this.env.now() + delayMs });
    return id;
  }

  cancelTimer(timer: number): void {
    if (this.cancelledTimers === NO_CANCELLED) this.cancelledTimers = new Set();
    this.cancelledTimers.add(timer);
    this.pendingTimers.delete(timer);
  }

  /** The new tags of every pending timer whose tag the update maps (in the order the timers were set). */
  private remapTimers(update: Update): TimerRemap[] {
    const map = update.timer;
    if (map === undefined) return [];
    const out: TimerRemap[] = [];
    for (const [id, { tag, due }] of this.pendingTimers) {
      const tags = map(tag, { self: this.id });
      if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) throw new TypeError(`timer("${tag}") returned ${JSON.stringify(tags)}, expected an array of tags`);
      if (tags.length === 1 && tags[0] === tag) continue;
      out.push({ id, due, tags });
    }
    return out;
  }

  /** A mapped timer is replaced by one timer per new tag, due when it was (or at once, if overdue). */
  private applyTimerRemaps(remaps: readonly TimerRemap[]): void {
    const now = this.env.now();
    for (const r of remaps) {
      this.cancelTimer(r.id);
      for (const tag of r.tags) this.startTimer(Math.max(0, r.due - now), tag);
    }
  }

  /** Strays kept so far (the explorer's fingerprint: they decide what a rollback agent will absorb). */
  get strayMeta(): readonly { readonly from: NodeId; readonly meta: unknown }[] {
    return this.strays;
  }

  /** The strays of the update this node arms for (or of no named update); those of a later update stay. */
  takeStrayMeta(): readonly { readonly from: NodeId; readonly meta: unknown }[] {
    const run = this.part?.run.id;
    const out = this.strays.filter((s) => s.run === undefined || s.run === run);
    this.strays = this.strays.filter((s) => !(s.run === undefined || s.run === run));
    return out;
  }

  /** Strays of this update and earlier ones are of no use any more (it ended here, or this node left it). */
  private forgetStrays(update: number): void {
    if (this.strays.length > 0) this.strays = this.strays.filter((s) => s.run !== undefined && s.run > update);
  }

  markStarted(): void {
    const p = this.participation("markStarted");
    const t = this.env.now();
    p.startedAt = t;
    if (this.env.tracing) this.env.record({ kind: "update-start", t, update: p.run.id, strategy: p.run.strategy, root: p.run.root, nodes: p.run.nodes });
  }

  // ---- internals ----

  /** Run one input, then tell the coordinator what this step changed (turned new, part over), timing a swap's step. */
  private step(run: () => void): void {
    const clock = this.env.wallClock;
    // Only a step of a node not new yet can be its swap's: the others read no clock.
    const t0 = this.part !== undefined && this.part.swappedAt === undefined && clock !== undefined ? clock() : undefined;
    const cpu0 = t0 !== undefined ? this.env.cpuClock?.() : undefined;
    const gcStop = t0 !== undefined ? this.env.gcWatch?.() : undefined;
    let gcMs: number | undefined;
    try {
      run();
    } finally {
      // Stopped even when the step throws (a runtime invariant or a failpoint): a profiler is never left running.
      gcMs = gcStop?.();
    }
    const p = this.part;
    if (p === undefined) return;
    if (p.swapStep && t0 !== undefined) timeSwapStep(p, this.env, t0, cpu0, gcMs);
    p.swapStep = false;
    this.reportProgress(p);
  }

  /** "swapped" once the node turned new (with its figures if its part ended in the same step), then "done". */
  private reportProgress(p: Participation): void {
    const over = p.detached && p.held.empty;
    if (p.swappedAt !== undefined && !p.swapReported) {
      p.swapReported = true;
      if (over) this.endPart(p);
      this.toCoordinator(p, {
        kind: "swapped",
        t: p.swappedAt,
        ...(p.startedAt !== undefined ? { startedAt: p.startedAt } : {}),
        ...(over ? { figures: this.finalFigures(p) } : {}),
      }, false);
      if (p.haltToReport !== undefined) {
        this.toCoordinator(p, { kind: "swap-failed", error: p.haltToReport }, false);
        delete p.haltToReport;
      }
      return;
    }
    if (over && p.swapReported) {
      this.endPart(p);
      this.toCoordinator(p, { kind: "done", t: this.env.now(), figures: this.finalFigures(p) }, false);
    }
  }

  /** The figures as the final report carries them: that report counts itself. */
  private finalFigures(p: Participation): UpdateFigures {
    p.figures.controlPlaneMessages++;
    return { ...p.figures };
  }

  private endPart(p: Participation): void {
    if (this.part === p) this.part = undefined;
  }

  private control(env: ControlEnvelope): void {
    const msg = env.msg;
    if (this.env.tracing) {
      const pulse = msg.kind === "pulse" ? msg.envelope.pulse : undefined;
      this.env.record({ kind: "control-receive", t: this.env.now(), node: this.id, from: env.from, update: env.update, signal: msg.kind, plane: env.plane, ...(pulse !== undefined ? { pulse } : {}) });
    }
    if (msg.kind === "prepare") return this.onPrepare(env.update, msg);
    if (msg.kind === "abort") return this.onAbort(env.update);
    if (msg.kind === "resume") return this.onResume(env.update, msg.code);
    if (msg.kind === "gone") return this.onGone(env.update, msg.node, msg.adopting !== true);
    if (msg.kind === "takeover") return this.onTakeover(env.update);
    if (msg.kind === "end") {
      if (this.part?.run.id === env.update) this.part.ended = true;
      this.forgetStrays(env.update);
      return;
    }
    // Pulses belong to the system, not to an update; anything else must be of the update this node is armed for.
    if (msg.kind !== "pulse" && testKnobs.checkUpdateIds && env.update !== this.part?.run.id) return;
    this.agent.onControl(msg, env.from);
  }

  private onPrepare(update: number, msg: ControlMessage & { kind: "prepare" }): void {
    if (update === this.updateId) return; // a duplicate prepare of the update this node already takes
    this.resolvedBelow(update, msg.run.root);
    const p = this.part;
    const busyWith = p !== undefined && !p.ended && testKnobs.refuseSecondPrepare ? p.run.id : undefined;
    this.loading = update;
    prepareNode(this, this.env, msg, busyWith, (outcome) => {
      if (this.loading !== update) return; // aborted while the code loaded
      this.loading = undefined;
      if (outcome.kind === "refused") {
        this.forgetStrays(update);
        this.env.transmit(this.coordinatorEnvelope(update, { kind: "refused", reason: outcome.reason }));
        return;
      }
      const part = outcome.part;
      this.part = part;
      this.outer.partBegun?.(update, part.figures); // the network's environment (metrics): the gated one does not pass it
      this.lastRun = part.run;
      this.preparedCode = msg.code;
      const strategy = outcome.strategy;
      this.agent = strategy.agent(this, part.run, msg.strategy);
      this.forgetStrays(update); // what the strategy did not take is of no use to it
      this.toCoordinator(part, { kind: "prepared", ...(this.agent.prepareAck !== undefined ? { ack: this.agent.prepareAck() } : {}) }, false);
    });
  }

  /**
   * A prepare of a later update tells the node every earlier one is resolved (DESIGN.md, "Faults and durability"): a
   * root's coordinator starts an update only once its one before ended. An earlier update this node is armed for and never
   * turned new in can only have been aborted, its abort lost with a coordinator that died: it is disarmed as an abort
   * would. A node that turned new, or is halted, is in an unresolved update: the prepare is refused as before.
   */
  private resolvedBelow(update: number, root: NodeId): void {
    const p = this.part;
    if (p === undefined || p.ended || p.run.id >= update || p.swappedAt !== undefined || p.halted !== undefined) return;
    // Only the same root's coordinator knows its earlier update ended (it runs one at a time); another root's may not.
    if (p.run.root !== root) return;
    this.onAbort(p.run.id);
  }

  /** A halted node takes the corrected code and its strategy retries the swap where it stopped. */
  private onResume(update: number, code: UpdateCode): void {
    const p = this.part;
    if (p === undefined || p.run.id !== update || p.halted === undefined) return;
    revalidate(this, this.env, p, code, (outcome) => {
      if (this.part !== p) return;
      if (outcome.kind === "refused") return this.toCoordinator(p, { kind: "refused", reason: outcome.reason }, false);
      this.preparedCode = code;
      p.update = outcome.update;
      p.updates = outcome.updates;
      delete p.halted;
      this.step(() => {
        if (p.swappedAt === undefined) this.agent.onResume?.();
        this.releaseChannels(p);
      });
    });
  }

  /**
   * A neighbour was lost for good and forgotten: this node's link to it goes in this step (a replay of the earlier
   * steps still has it) and, if this node is still in that update, its agent stops waiting for the neighbour.
   */
  private onGone(update: number, gone: NodeId, running: boolean): void {
    if (this.links.has(gone)) this.env.dropNeighbor?.(this.id, gone);
    if (this.part?.run.id === update) this.agent.onNeighborGone?.(gone, running);
  }

  /**
   * A new coordinator took the update over (its root was lost for good): tell it this node's part, from what the node
   * holds (its durable record rebuilt it after any crash). A node whose part is over answers with its version.
   */
  private onTakeover(update: number): void {
    const p = this.part;
    if (p === undefined || p.run.id !== update || p.ended) {
      this.env.transmit(this.coordinatorEnvelope(update, { kind: "part", prepared: false, version: this.node.behavior.version, begun: false }));
      return;
    }
    const progress = this.agent.progress?.() ?? { begun: false };
    const ack = this.agent.prepareAck?.();
    this.toCoordinator(p, {
      kind: "part",
      prepared: true,
      version: this.node.behavior.version,
      ...(p.swappedAt !== undefined ? { newAt: p.swappedAt } : {}),
      ...(p.halted !== undefined ? { halted: p.halted } : {}),
      begun: progress.begun || p.swappedAt !== undefined,
      ...(progress.drained !== undefined ? { drained: progress.drained } : {}),
      ...(ack !== undefined ? { ack } : {}),
    }, false);
  }

  private onAbort(update: number): void {
    if (this.loading === update) this.loading = undefined;
    if (this.part?.run.id !== update) return;
    this.agent.onAbort?.();
    this.part = undefined;
    this.agent = this.baseAgent;
    this.forgetStrays(update);
  }

  private participation(what: string): Participation {
    const p = this.part;
    if (p === undefined) throw new InternalError(`node "${this.id}": ${what}() without a prepared update (strategy bug)`);
    return p;
  }

  private toCoordinator(p: Participation, msg: NodeReport, algorithm: boolean): void {
    if (algorithm) p.figures.controlMessages++;
    else if (msg.kind !== "done" && !(msg.kind === "swapped" && msg.figures !== undefined)) p.figures.controlPlaneMessages++;
    this.env.transmit(this.coordinatorEnvelope(p.run.id, msg));
  }

  private coordinatorEnvelope(update: number, msg: NodeReport): ControlEnvelope {
    if (this.env.tracing) this.env.record({ kind: "control-send", t: this.env.now(), node: this.id, to: CONTROL, update, signal: msg.kind, plane: true });
    return { kind: "control", from: this.id, to: CONTROL, update, msg, link: 0, plane: true };
  }

  private traceInput(input: NodeInput): void {
    // this.tracing, not env.tracing: the gated environment's accessor costs a generic property load per input.
    if (!this.tracing) return;
    const env = this.env;
    const t = env.now();
    switch (input.kind) {
      case "receive": {
        const e = input.env;
        const direct = this.outer.traceEnvelope;
        if (direct !== undefined && this.gate === "open" && e.to === this.id) direct.call(this.outer, "deliver", t, e);
        else env.record({ kind: "deliver", t, node: this.id, from: e.from, msg: e.id, epoch: e.epoch });
        return;
      }
      case "request":
        env.record({ kind: "request", t, node: this.id, request: input.request });
        return;
      case "timer":
        env.record({ kind: "timer", t, node: this.id, tag: input.tag });
        return;
    }
  }

  private traceSend(app: AppEnvelope): void {
    const direct = this.outer.traceEnvelope;
    const t = this.env.now();
    if (direct !== undefined && this.gate === "open") direct.call(this.outer, "send", t, app);
    else this.env.record({ kind: "send", t, node: this.id, to: app.to, msg: app.id, epoch: app.epoch });
  }

  private perform(effects: Effects | undefined): void {
    if (effects === undefined) return;
    const env = this.env;
    if (effects.sends !== undefined) for (const s of effects.sends) {
      const id = messageId(`${this.id}.${++this.messagesSent}`);
      const epoch = this.node.epoch;
      // A durable host numbers every envelope it sends (Channels.stamp sets seq in place): made with its seq slot, the
      // envelope keeps one shape, where adding seq later gave every envelope a second shape (and a property array).
      const app: AppEnvelope = this.durability
        ? ({ kind: "app", id, from: this.id, to: s.to, epoch, body: s.body, link: s.link, seq: undefined } as unknown as AppEnvelope)
        : { kind: "app", id, from: this.id, to: s.to, epoch, body: s.body, link: s.link };
      if (this.tracing) this.traceSend(app);
      this.agent.onSend(app);
    }
    const agent = this.agent;
    if (effects.responses !== undefined) for (const r of effects.responses) {
      if (agent.onRespond !== undefined) agent.onRespond(r.request, r.result);
      else this.respondNow(r.request, r.result);
    }
    if (effects.timers !== undefined) for (const tm of effects.timers) {
      if (agent.onSetTimer !== undefined) agent.onSetTimer(tm.delayMs, tm.tag);
      else this.startTimer(tm.delayMs, tm.tag);
    }
  }
}

/** The update an armed message's metadata names (rollback's does), if any. */
function runOf(meta: unknown): number | undefined {
  const run = typeof meta === "object" && meta !== null ? (meta as { run?: unknown }).run : undefined;
  return typeof run === "number" ? run : undefined;
}

/** A pending timer the update maps: it is replaced by one timer per tag, due when it was. */
interface TimerRemap {
  readonly id: number;
  readonly due: number;
  readonly tags: readonly string[];
}

const NO_ACKS: readonly Ack[] = [];

interface PendingTimer {
  readonly tag: string;
  readonly due: number;
}

// A host's timer tables until its first timer (most nodes never set one): never written, a host makes its own first.
const NO_TIMERS = new Map<number, PendingTimer>();
const NO_CANCELLED = new Set<number>();

/** The last position applied per inbound channel among committed entries: what the commit lets the node acknowledge. */
function acksOf(entries: readonly LogEntry[]): readonly Ack[] {
  let out: Ack[] | undefined;
  for (const e of entries) {
    if (e.kind !== "deliver" || e.env.seq === undefined) continue;
    const { from, link, seq } = e.env;
    out ??= [];
    const i = out.findIndex((a) => a.from === from && a.link === link);
    if (i >= 0) out[i] = { from, link, seq };
    else out.push({ from, link, seq });
  }
  return out ?? NO_ACKS;
}
