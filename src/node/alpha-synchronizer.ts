import type { ControlMessage, PulseEnvelope } from "../core/control.js";
import type { AppEnvelope } from "../core/envelope.js";
import { InternalError } from "../core/errors.js";
import type { NodeId, RequestId } from "../core/ids.js";
import type { NodeAgent, NodePort } from "./agent.js";
import type { NodeInput } from "./swap-node.js";

/** What the synchronizer strategy hooks into a node's pulses. */
export interface PulseUpdate {
  /** Called when the node enters pulse `swapAt`, before anything of that pulse runs; false if the swap failed. */
  swap(): boolean;
  /** The new-equivalents of an old message generated in the previous pulse and not sent yet. */
  transform(env: AppEnvelope): AppEnvelope[];
  /** Swapped: the strategy's part at this node is over. */
  done(): void;
}

/**
 * The alpha synchronizer (Awerbuch; the paper's section 4 after [6]) as the
 * agent of every node of a `synchronizer: true` system.
 *
 * In pulse p a node sends exactly one envelope to every neighbour, carrying the
 * application messages it generated during pulse p-1 (possibly none), and it
 * executes the messages of the pulse-p envelopes it receives. It enters pulse
 * p+1 once it has the pulse-p envelope of every neighbour; a pulse-(p+1)
 * envelope that arrives earlier is buffered and executed only in pulse p+1.
 * Neighbours are therefore never more than one pulse apart. Outside requests
 * and timers wait for the next pulse boundary and run as the last events of the
 * pulse that ends there.
 *
 * Ours: pulses run only while there is work. A node whose pulse is complete
 * enters the next one only if it has something to send or run, a neighbour is
 * already ahead (and waits for it), or an update's pulse is still ahead. An idle
 * system therefore stops pulsing, and settle() can return.
 */
export class AlphaSynchronizer implements NodeAgent {
  pulse = 0;
  /** Neighbours whose envelope of the current pulse has arrived (pulse 0 is complete by definition). */
  private readonly got = new Set<NodeId>();
  private complete = true;
  /** Envelopes of pulse + 1 that arrived early, in arrival order. */
  private readonly early: { readonly from: NodeId; readonly env: PulseEnvelope }[] = [];
  private readonly outbox = new Map<NodeId, AppEnvelope[]>();
  private readonly waiting: NodeInput[] = [];
  private swapAt: number | undefined;
  private update: PulseUpdate | undefined;
  private advancing = false;
  /**
   * The transfer threw at the swap pulse (halted): the node sends nothing of that pulse and executes nothing more, so
   * its neighbours wait for its envelope (a synchronous system waits as one) and no old message reaches new code;
   * what arrives meanwhile waits here in arrival order, until a resume.
   */
  private paused: { readonly from: NodeId; readonly msg: ControlMessage }[] | undefined;

  constructor(private readonly node: NodePort) {}

  /** Everything that decides what this node's pulses do next (the explorer's state hashing). */
  fingerprint(): unknown {
    const input = (i: NodeInput): unknown => (i.kind === "receive" ? ["receive", i.env.id] : i.kind === "request" ? ["request", i.request] : ["timer", i.tag]);
    const envs = (xs: readonly AppEnvelope[]): unknown => xs.map((e) => [e.id, e.epoch, e.body]);
    return {
      pulse: this.pulse,
      got: [...this.got].sort(),
      complete: this.complete,
      early: this.early.map((e) => [e.from, e.env.pulse, envs(e.env.messages), e.env.swapAt ?? null]),
      outbox: [...this.outbox].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([to, xs]) => [to, envs(xs)]),
      waiting: this.waiting.map(input),
      swapAt: this.swapAt ?? null,
      armed: this.update !== undefined,
      paused: this.paused?.map((p) => [p.from, p.msg.kind === "pulse" ? p.msg.envelope.pulse : p.msg.kind]) ?? null,
    };
  }

  /** Arm for an update; `swapAt` is known now (root) or learned from a neighbour's envelope. */
  arm(update: PulseUpdate): void {
    this.update = update;
  }

  /** The root fixes the pulse; every envelope from now on carries it. */
  fixSwapPulse(pulse: number): void {
    this.learn(pulse);
    this.advance();
  }

  get knownSwapPulse(): number | undefined {
    return this.swapAt;
  }

  onAbort(): void {
    this.update = undefined;
    this.swapAt = undefined;
  }

  onSend(env: AppEnvelope): void {
    let box = this.outbox.get(env.to);
    if (box === undefined) {
      box = [];
      this.outbox.set(env.to, box);
    }
    box.push(env);
  }

  onDeliver(env: AppEnvelope): void {
    // Application messages travel inside pulse envelopes; a bare one can only come from before pulses ran.
    this.node.execute({ kind: "receive", env });
  }

  onRequest(request: RequestId, body: unknown): void {
    this.waiting.push({ kind: "request", request, body });
    this.advance();
  }

  onTimer(tag: string): void {
    this.waiting.push({ kind: "timer", tag });
    this.advance();
  }

  onControl(msg: ControlMessage, from: NodeId): void {
    if (msg.kind !== "pulse") return;
    if (this.paused !== undefined) {
      this.paused.push({ from, msg });
      return;
    }
    const pe = msg.envelope;
    if (pe.swapAt !== undefined) this.learn(pe.swapAt);
    if (pe.pulse === this.pulse) {
      this.accept(from, pe);
    } else if (pe.pulse === this.pulse + 1) {
      this.early.push({ from, env: pe });
    } else {
      throw new InternalError(`synchronizer: "${this.node.id}" at pulse ${this.pulse} got the pulse-${pe.pulse} envelope of "${from}" (neighbours drifted apart)`);
    }
    this.advance();
  }

  private learn(pulse: number): void {
    if (this.swapAt !== undefined || this.update === undefined) return;
    if (pulse <= this.pulse) {
      throw new InternalError(`synchronizer: "${this.node.id}" learned the swap pulse ${pulse} at pulse ${this.pulse}, too late to swap at it`);
    }
    this.swapAt = pulse;
  }

  private accept(from: NodeId, pe: PulseEnvelope): void {
    this.got.add(from);
    for (const env of pe.messages) this.node.execute({ kind: "receive", env });
    if (this.got.size === this.node.neighbors().length) this.complete = true;
  }

  private hasWork(): boolean {
    return this.outbox.size > 0 || this.waiting.length > 0 || this.early.length > 0 || (this.swapAt !== undefined && this.pulse < this.swapAt);
  }

  /** Enter the next pulses while the current one is complete and there is a reason to go on. */
  private advance(): void {
    if (this.advancing) return; // executions inside a pulse may call back (requests, timers): the loop below handles them
    this.advancing = true;
    try {
      while (this.paused === undefined && this.complete && this.hasWork()) this.enterNextPulse();
    } finally {
      this.advancing = false;
    }
  }

  private enterNextPulse(): void {
    const node = this.node;
    // Requests and timers run at the boundary, as the last events of the pulse that ends: what they send leaves with
    // the next envelopes like everything else generated in that pulse.
    for (const input of this.waiting.splice(0)) node.execute(input);
    this.pulse += 1;
    this.got.clear();
    this.complete = node.neighbors().length === 0;
    if (node.tracing) node.record({ kind: "pulse", t: node.now(), node: node.id, pulse: this.pulse });
    if (this.pulse === this.swapAt && !this.swapHere()) {
      this.paused = [];
      return;
    }
    this.sendPulse();
  }

  /** A halted node retries its swap with the corrected code, then runs the pulse it stopped in. */
  resume(): void {
    const waiting = this.paused;
    if (waiting === undefined || !this.swapHere()) return;
    this.paused = undefined;
    this.sendPulse();
    for (const { from, msg } of waiting) this.onControl(msg, from);
    this.advance();
  }

  /** This pulse's envelope to every neighbour, then the early envelopes of this pulse. */
  private sendPulse(): void {
    const node = this.node;
    for (const n of node.neighbors()) {
      const messages = this.outbox.get(n) ?? [];
      const pe: PulseEnvelope = this.swapAt !== undefined ? { pulse: this.pulse, messages, swapAt: this.swapAt } : { pulse: this.pulse, messages };
      node.sendControl(n, { kind: "pulse", envelope: pe }, this.pulse);
    }
    this.outbox.clear();
    for (const { from, env } of this.early.splice(0)) this.accept(from, env);
  }

  /** False if the transfer threw (the node stays old, halted). */
  private swapHere(): boolean {
    const u = this.update;
    if (u === undefined) return true;
    if (!u.swap()) return false;
    // What the old code generated in the last old pulse leaves in this pulse's envelopes: send its new-equivalents.
    for (const [to, box] of this.outbox) this.outbox.set(to, box.flatMap((env) => u.transform(env)));
    this.swapAt = undefined;
    this.update = undefined;
    u.done();
    return true;
  }
}
