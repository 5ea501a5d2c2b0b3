import type { Behavior } from "../core/behavior.js";
import type { AppEnvelope, ControlEnvelope } from "../core/envelope.js";
import { CONTROL, messageId, type NodeId, type RequestId } from "../core/ids.js";
import { describeError } from "../core/errors.js";
import type { Update } from "../core/update.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Network } from "../core/network.js";
import { DirectAgent } from "../node/pass-through-agent.js";
import type { NodeAgent, NodePort, StrategyModule } from "../update/strategy.js";
import type { UpdateRun } from "../update/update-run.js";
import { Fault, SwapNode, type Effects, type NodeInput, type NodeSurroundings, type RunOutcome } from "../node/swap-node.js";

/** What a node's runtime needs from the system hosting it. */
export interface NodeHost extends NodeSurroundings {
  readonly network: Network;
  readonly tracing: boolean;
  record(ev: TraceEvent): void;
  /** An outside request was answered. */
  answer(node: NodeId, request: RequestId, result: unknown): void;
  /** An outside request cannot be answered: its handler threw or is missing. */
  fail(node: NodeId, request: RequestId, reason: string): void;
  /** The update being prepared or run, with the strategy that runs it and its coordinator. */
  currentUpdate(): { readonly run: UpdateRun; readonly strategy: StrategyModule; readonly coordinator: { markStarted(): void } } | undefined;
}

interface Prepared {
  readonly run: UpdateRun;
  readonly update: Update;
}

/**
 * A node as the runtime runs it: the swap-enabled node, the agent that filters
 * its traffic, and the plumbing that turns handler effects into envelopes.
 */
export class NodeRuntime implements NodePort {
  readonly node: SwapNode;
  /** This node's live links (neighbor -> incarnation): checks a delivery's link in one lookup. */
  readonly links: ReadonlyMap<NodeId, number>;
  agent: NodeAgent;
  /** The agent between updates: pass-through, or the pulse machinery of a synchronized system. */
  readonly baseAgent: NodeAgent;
  private prepared: Prepared | undefined;
  private strays: { readonly from: NodeId; readonly meta: unknown }[] = [];
  /** Timers that must not fire; kept here, not in an agent, so that they stay cancelled after the agent is gone. */
  private readonly cancelledTimers = new Set<number>();
  /** Messages this node id has sent, over every incarnation (ids stay unique when a node is recreated). */
  messagesSent: number;

  constructor(
    readonly id: NodeId,
    behavior: Behavior,
    epoch: number,
    readonly incarnation: number,
    private readonly host: NodeHost,
    baseAgent: (port: NodePort) => NodeAgent = (port) => new DirectAgent(port),
    messagesSent = 0,
  ) {
    this.messagesSent = messagesSent;
    this.node = new SwapNode(id, behavior, undefined, epoch, host);
    this.links = host.linksOf(id);
    this.baseAgent = baseAgent(this);
    this.agent = this.baseAgent;
  }

  get epoch(): number {
    return this.node.epoch;
  }

  get version(): string {
    return this.node.version;
  }

  get tracing(): boolean {
    return this.host.tracing;
  }

  now(): number {
    return this.host.now();
  }

  neighbors(): readonly NodeId[] {
    return this.host.neighbors(this.id);
  }

  record(ev: TraceEvent): void {
    this.host.record(ev);
  }

  /** Run init; its effects (first sends, first timers) are performed like any handler's. */
  initialize(): RunOutcome {
    const out = this.node.initialize();
    if (!(out instanceof Fault)) this.perform(out);
    return out;
  }

  // ---- from the network, through the agent ----

  deliver(env: AppEnvelope): void {
    if (env.meta !== undefined && this.agent === this.baseAgent && this.host.currentUpdate() !== undefined) {
      // An armed neighbour's message reached this node before its own prepare: its strategy will want to know.
      this.strays.push({ from: env.from, meta: env.meta });
    }
    this.agent.onDeliver(env);
  }

  request(request: RequestId, body: unknown): void {
    this.agent.onRequest(request, body);
  }

  timer(tag: string, timer: number): void {
    if (this.cancelledTimers.size > 0 && this.cancelledTimers.delete(timer)) return;
    this.agent.onTimer(tag, timer);
  }

  control(env: ControlEnvelope): void {
    if (this.host.tracing) {
      const pulse = env.signal === "pulse" ? (env.data as { pulse?: number } | undefined)?.pulse : undefined;
      this.host.record({
        kind: "control-receive",
        t: this.host.now(),
        node: this.id,
        from: env.from,
        update: env.update,
        signal: env.signal,
        plane: env.plane,
        ...(pulse !== undefined ? { pulse } : {}),
      });
    }
    if (env.plane && env.signal === "prepare") return this.onPrepare(env);
    if (env.plane && env.signal === "abort") {
      if (this.prepared?.run.id === env.update) {
        this.agent.onAbort?.();
        this.prepared = undefined;
        this.agent = this.baseAgent;
        this.strays = [];
      }
      return;
    }
    this.agent.onControl(env);
  }

  // ---- NodePort: what agents do ----

  execute(input: NodeInput): void {
    const host = this.host;
    if (host.tracing) {
      const t = host.now();
      switch (input.kind) {
        case "receive":
          host.record({ kind: "deliver", t, node: this.id, from: input.env.from, msg: input.env.id, epoch: input.env.epoch });
          break;
        case "request":
          host.record({ kind: "request", t, node: this.id, request: input.request });
          break;
        case "timer":
          host.record({ kind: "timer", t, node: this.id, tag: input.tag });
          break;
      }
    }
    const out = this.node.run(input);
    if (out instanceof Fault) {
      if (host.tracing) {
        host.record({
          kind: "fault",
          t: host.now(),
          node: this.id,
          during: out.during,
          error: out.error,
          ...(input.kind === "receive" ? { msg: input.env.id } : {}),
        });
      }
      if (input.kind === "request") host.fail(this.id, input.request, out.error);
      return;
    }
    this.perform(out);
  }

  transmit(env: AppEnvelope): void {
    this.host.network.transmit(env);
  }

  sendControl(to: NodeId, signal: string, data?: unknown, pulse?: number): void {
    const run = this.prepared?.run;
    const update = run?.id ?? 0;
    if (run) run.controlMessages++;
    if (this.host.tracing) {
      this.host.record({ kind: "control-send", t: this.host.now(), node: this.id, to, update, signal, plane: false, ...(pulse !== undefined ? { pulse } : {}) });
    }
    this.host.network.transmit({ kind: "control", from: this.id, to, update, signal, data, link: this.links.get(to) ?? 0, plane: false });
  }

  report(signal: string, data: unknown, algorithm: boolean): void {
    const run = this.prepared?.run;
    if (run === undefined) throw new Error(`node "${this.id}": report("${signal}") without a prepared update (strategy bug)`);
    this.toCoordinator(run, signal, data, algorithm);
  }

  swap(): boolean {
    const p = this.prepared;
    if (p === undefined) throw new Error(`node "${this.id}": swap() without a prepared update (strategy bug)`);
    const host = this.host;
    let next: unknown;
    try {
      next = p.update.state(this.node.state, { self: this.id, neighbors: this.neighbors() });
    } catch (e) {
      if (host.tracing) host.record({ kind: "fault", t: host.now(), node: this.id, during: "state-transfer", error: describeError(e) });
      this.report("swap-failed", { error: describeError(e) }, false);
      return false;
    }
    const from = this.node.version;
    this.node.swap(p.update.to, next);
    const t = host.now();
    if (host.tracing) host.record({ kind: "swap", t, node: this.id, update: p.run.id, from, to: p.update.to.version, epoch: this.node.epoch });
    this.report("swapped", { t }, false);
    return true;
  }

  transform(env: AppEnvelope): AppEnvelope[] {
    const p = this.prepared;
    if (p === undefined) throw new Error(`node "${this.id}": transform() without a prepared update (strategy bug)`);
    const host = this.host;
    // The message was written by its sender's old code, so the sender's update maps it.
    const mapping = p.run.plan.get(env.from)?.message;
    let bodies: unknown[];
    try {
      bodies = mapping === undefined ? [env.body] : mapping(env.body, { from: env.from, to: env.to });
      if (!Array.isArray(bodies)) throw new TypeError(`message() returned ${typeof bodies}, expected an array of new messages`);
    } catch (e) {
      if (host.tracing) {
        host.record({ kind: "fault", t: host.now(), node: this.id, during: "message-mapping", error: describeError(e), msg: env.id });
        host.record({ kind: "drop", t: host.now(), node: this.id, from: env.from, msg: env.id, reason: "incompatible" });
      }
      return [];
    }
    const out: AppEnvelope[] = bodies.map((body, i) => ({
      kind: "app",
      id: messageId(`${env.id}~${i + 1}`),
      from: env.from,
      to: env.to,
      epoch: env.epoch + 1,
      body,
      link: env.link,
    }));
    p.run.transformedMessages++;
    if (host.tracing) {
      host.record({ kind: "transform", t: host.now(), node: this.id, from: env.from, to: env.to, msg: env.id, into: out.map((e) => e.id), epoch: env.epoch + 1 });
    }
    return out;
  }

  detach(): void {
    this.agent = this.baseAgent;
    this.prepared = undefined;
    this.strays = [];
  }

  get state(): unknown {
    return this.node.state;
  }

  rewind(state: unknown): void {
    this.node.state = state;
  }

  respondNow(request: RequestId, result: unknown): void {
    if (this.host.tracing) this.host.record({ kind: "respond", t: this.host.now(), node: this.id, request });
    this.host.answer(this.id, request, result);
  }

  startTimer(delayMs: number, tag: string): number {
    return this.host.network.startTimer(this.id, this.incarnation, delayMs, tag);
  }

  cancelTimer(timer: number): void {
    this.cancelledTimers.add(timer);
  }

  /**
   * An armed neighbour's message that reached this node before it knew of the
   * update (over TCP the node learns of it only from its own prepare): kept
   * for the strategy as a stray, exactly as if the update had been known.
   */
  addStray(from: NodeId, meta: unknown): void {
    this.strays.push({ from, meta });
  }

  takeStrayMeta(): readonly { readonly from: NodeId; readonly meta: unknown }[] {
    const out = this.strays;
    this.strays = [];
    return out;
  }

  markStarted(): void {
    // On the simulated network the coordinator shares the process; over TCP this becomes a report with the time.
    const current = this.host.currentUpdate();
    if (current !== undefined && current.run === this.prepared?.run) current.coordinator.markStarted();
  }

  // ---- internals ----

  private perform(effects: Effects | undefined): void {
    if (effects === undefined) return;
    const host = this.host;
    if (effects.sends !== undefined) for (const s of effects.sends) {
      const env: AppEnvelope = {
        kind: "app",
        id: messageId(`${this.id}.${++this.messagesSent}`),
        from: this.id,
        to: s.to,
        epoch: this.node.epoch,
        body: s.body,
        link: s.link,
      };
      if (host.tracing) host.record({ kind: "send", t: host.now(), node: this.id, to: s.to, msg: env.id, epoch: env.epoch });
      this.agent.onSend(env);
    }
    const agent = this.agent;
    if (effects.responses !== undefined) for (const r of effects.responses) {
      if (agent.onRespond !== undefined) agent.onRespond(r.request, r.result);
      else this.respondNow(r.request, r.result);
    }
    if (effects.timers !== undefined) for (const tm of effects.timers) {
      if (agent.onSetTimer !== undefined) agent.onSetTimer(tm.delayMs, tm.tag);
      else host.network.startTimer(this.id, this.incarnation, tm.delayMs, tm.tag);
    }
  }

  private onPrepare(env: ControlEnvelope): void {
    const current = this.host.currentUpdate();
    if (current === undefined || current.run.id !== env.update) return; // an aborted update's late prepare
    const { run, strategy } = current;
    const update = run.plan.get(this.id);
    const refuse = (reason: string): void => this.toCoordinator(run, "refused", { reason }, false);
    if (update === undefined) return refuse(`node "${this.id}" is not in the update's plan`);
    if (update.from.version !== this.node.version) {
      return refuse(`it runs "${this.node.version}" but its update converts from "${update.from.version}"`);
    }
    let copy: unknown;
    try {
      copy = structuredClone(this.node.state);
    } catch (e) {
      return refuse(`its state does not survive structuredClone (${describeError(e)})`);
    }
    try {
      update.state(copy, { self: this.id, neighbors: [...this.neighbors()] });
    } catch (e) {
      if (this.host.tracing) this.host.record({ kind: "fault", t: this.host.now(), node: this.id, during: "state-transfer", error: describeError(e) });
      return refuse(`the state transfer threw on a copy of its state: ${describeError(e)}`);
    }
    this.prepared = { run, update };
    this.agent = strategy.agent(this, run, (env.data as { strategy?: unknown } | undefined)?.strategy);
    this.toCoordinator(run, "prepared", { ack: this.agent.prepareAck?.() }, false);
  }

  private toCoordinator(run: UpdateRun, signal: string, data: unknown, algorithm: boolean): void {
    if (algorithm) run.controlMessages++;
    else run.controlPlaneMessages++;
    if (this.host.tracing) this.host.record({ kind: "control-send", t: this.host.now(), node: this.id, to: CONTROL, update: run.id, signal, plane: true });
    this.host.network.transmit({ kind: "control", from: this.id, to: CONTROL, update: run.id, signal, data, link: 0, plane: true });
  }
}
