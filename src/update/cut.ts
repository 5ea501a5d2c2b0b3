/**
 * cut (ours, beyond the paper): a non-blocking update at a Chandy-Lamport
 * consistent cut (docs/design.md).
 *
 * The root turns new and sends a marker on every channel; a node turns new on
 * its first marker and, in the same step, sends a marker on every channel. An
 * old message that a new node receives on a channel before that channel's
 * marker is part of the cut's channel state: it is replaced by its
 * new-equivalent and executed by the new code.
 *
 * Why it is correct. A node sends its markers in the step in which it turns new,
 * before any new message, and channels are FIFO; so on every channel the old
 * messages are exactly those before the marker and the new ones exactly those
 * after it. A node old when a message arrives has had no marker yet (its first
 * marker turns it new), so the message precedes the marker on its channel: it
 * is old, and an old node executes it. A new node executes as they are the
 * messages after a channel's marker (new), and transforms those before it (old).
 * So no node ever executes a message of the other epoch (correctness); every
 * message is executed or replaced by its new-equivalent (awareness); and the
 * marker wave reaches every node of the connected topology, each turning new on
 * its first marker and never back (termination).
 *
 * Cost: nothing is held, buffered or rolled back; two markers cross each link
 * (one per channel); H - G is the time the first marker takes to reach the
 * farthest node, the lower bound for any update started from this root. The
 * price is that every message that can be in flight needs a message mapping.
 *
 * A neighbour lost for good and forgotten mid-update (beyond the paper): its channels are gone, so a new node stops
 * waiting for its marker; an old one waits for another neighbour's (the forget is refused if none could reach it).
 */
import type { ControlMessage } from "../core/control.js";
import type { AppEnvelope } from "../core/envelope.js";
import type { NodeId } from "../core/ids.js";
import type { NodeAgent, NodePort } from "../node/agent.js";
import { PassThroughAgent } from "../node/pass-through-agent.js";
import { startAtRoot, type StrategyModule } from "./strategy.js";

class CutAgent extends PassThroughAgent implements NodeAgent {
  private turnedNew = false;
  private readonly markerFrom = new Set<NodeId>();
  /**
   * New messages that reached this node while it was old: only possible when its transfer threw at swap time (halted)
   * after a neighbour turned new; they wait for the resume, as the halted mode wants.
   */
  private readonly buffered: AppEnvelope[] = [];

  constructor(node: NodePort) {
    super(node);
  }

  override fingerprint(): unknown {
    return { turnedNew: this.turnedNew, markers: [...this.markerFrom].sort(), buffered: this.buffered.map((e) => e.id) };
  }

  override onDeliver(env: AppEnvelope): void {
    if (!this.turnedNew && env.epoch > this.node.epoch) {
      this.buffered.push(env);
      if (this.node.tracing) this.node.record({ kind: "buffer", t: this.node.now(), node: this.node.id, from: env.from, msg: env.id });
      return;
    }
    if (this.turnedNew && !this.markerFrom.has(env.from)) {
      // Channel state of the cut: an old message reaching the new code.
      for (const fresh of this.node.transform(env)) this.node.execute({ kind: "receive", env: fresh });
      return;
    }
    this.node.execute({ kind: "receive", env });
  }

  override onControl(msg: ControlMessage, from: NodeId): void {
    if (msg.kind === "start") {
      this.node.markStarted();
      this.turnNew();
    } else if (msg.kind === "marker") {
      this.markerFrom.add(from);
      this.turnNew();
    } else {
      return;
    }
    this.detachIfDone();
  }

  progress(): { readonly begun: boolean } {
    return { begun: this.turnedNew || this.markerFrom.size > 0 };
  }

  /** Halted at its swap (the transfer threw), the node retries with the corrected code. */
  onResume(): void {
    this.turnNew();
    this.detachIfDone();
  }

  /**
   * A neighbour lost for good was forgotten: its channel is gone, so nothing old can come from it any more. An old
   * node waits for a marker from its other neighbours (the forget keeps every live node reachable from the root).
   */
  onNeighborGone(): void {
    this.detachIfDone();
  }

  /** Every channel has delivered its marker: nothing old can arrive any more (a forgotten neighbour has no channel). */
  private detachIfDone(): void {
    if (this.turnedNew && this.node.neighbors().every((n) => this.markerFrom.has(n))) this.node.detach();
  }

  private turnNew(): void {
    if (this.turnedNew) return;
    // The transfer threw: the node stays old and halted, sends no marker (so every new neighbour keeps transforming
    // what it sends) and buffers what new neighbours send, until a resume.
    if (!this.node.swap()) return;
    this.turnedNew = true;
    for (const n of this.node.neighbors()) this.node.sendControl(n, { kind: "marker" });
    for (const env of this.buffered.splice(0)) this.node.execute({ kind: "receive", env });
  }
}

export const cut: StrategyModule = {
  name: "cut",
  needsConnectedTopology: true,
  startsAtRoot: true,
  unavailable: () => undefined,
  agent: (node) => new CutAgent(node),
  coordinator: startAtRoot,
};
