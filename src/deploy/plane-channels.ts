import type { ControlEnvelope } from "../core/envelope.js";
import type { NodeId } from "../core/ids.js";
import { Channels } from "../runtime/channels.js";
import { wallNow } from "../network/tcp/lamport-clock.js";

/**
 * The control plane's ends of its channels to durable nodes (a cluster with `store:`), numbered as the nodes'
 * channels are (runtime/channels.ts): what the coordinator sends (prepare, resume, abort, end) stays in an outbox
 * until the node acknowledges it after its commit, and is sent again from the node's position when a session to it
 * opens again (the node was killed and started again); a node's reports are applied once, in order, and
 * acknowledged. The channel to a node is this control plane's instance (`link`): another `ctl` is another channel.
 * Without a store nothing is numbered (a volatile node restarts empty and could not resume a numbering).
 */
export class PlaneChannels {
  /** This control plane's instance: the link number of its channels to the nodes. */
  readonly link = Math.floor(wallNow());
  private readonly out = new Channels();
  private readonly reports = new Map<NodeId, number>();

  constructor(readonly durable: boolean) {}

  /** What this control plane says in its hello to `node`: how far it applied the node's reports, and its channel. */
  hello(node: NodeId, coordinating: boolean): { readonly recv: number; readonly chan?: string } {
    return this.durable && coordinating ? { recv: this.reports.get(node) ?? 0, chan: String(this.link) } : { recv: 0 };
  }

  /** The node answered with how far it applied this control plane's envelopes: what must be sent again. */
  resume(node: NodeId, recv: number): readonly ControlEnvelope[] {
    if (!this.durable) return [];
    this.out.ack(node, this.link, recv);
    return this.out.unacked(node, this.link, recv) as readonly ControlEnvelope[];
  }

  /** Number an envelope of the coordinator (and keep it until acknowledged). */
  stamp(env: ControlEnvelope): ControlEnvelope {
    if (!this.durable) return env;
    return this.out.stamp({ ...env, link: this.link }) as ControlEnvelope;
  }

  /** The node committed this control plane's envelopes up to `seq`. */
  acked(node: NodeId, link: number, seq: number): void {
    if (link === this.link) this.out.ack(node, link, seq);
  }

  /** A node's report: apply it unless it was applied already (a resend); the acknowledgement to send, if any. */
  report(node: NodeId, env: ControlEnvelope): { readonly apply: boolean; readonly ack?: number } {
    const seq = env.seq;
    if (!this.durable || seq === undefined) return { apply: true };
    const last = this.reports.get(node) ?? 0;
    if (seq <= last) return { apply: false, ack: last };
    this.reports.set(node, seq);
    return { apply: true, ack: seq };
  }

  /** Frames not yet acknowledged by `node` (the update waits for them). */
  pending(node: NodeId): number {
    return this.out.unacked(node, this.link, 0).length;
  }
}
