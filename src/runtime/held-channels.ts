import type { Envelope } from "../core/envelope.js";
import type { NodeId } from "../core/ids.js";

/**
 * The channels a node halted because a message mapping threw on one of their messages (docs/design.md, "The life
 * of an update"): that message and everything after it on the same channel wait here, in order, for a resume that
 * brings a corrected mapping. Incoming channels are keyed by sender, outgoing ones by receiver; the failed message
 * is the first of its queue.
 */
export class HeldChannels {
  readonly incoming = new Map<NodeId, Envelope[]>();
  readonly outgoing = new Map<NodeId, Envelope[]>();

  get empty(): boolean {
    return this.incoming.size === 0 && this.outgoing.size === 0;
  }

  /** Queue `env` if its channel is halted; false if it may go on. */
  holdIn(env: Envelope): boolean {
    const q = this.incoming.get(env.from);
    if (q === undefined) return false;
    q.push(env);
    return true;
  }

  holdOut(env: Envelope): boolean {
    const q = this.outgoing.get(env.to);
    if (q === undefined) return false;
    q.push(env);
    return true;
  }

  /** Halt the channel of `failed` (incoming when `self` receives it, else outgoing), with `failed` first. */
  halt(failed: Envelope, self: NodeId): void {
    const [map, peer] = failed.to === self ? [this.incoming, failed.from] : [this.outgoing, failed.to];
    const q = map.get(peer);
    if (q === undefined) map.set(peer, [failed]);
    else q.unshift(failed);
  }

  /** Every queue, emptied, incoming first, each in channel order. */
  takeAll(): { readonly incoming: [NodeId, Envelope[]][]; readonly outgoing: [NodeId, Envelope[]][] } {
    const out = { incoming: [...this.incoming], outgoing: [...this.outgoing] };
    this.incoming.clear();
    this.outgoing.clear();
    return out;
  }
}
