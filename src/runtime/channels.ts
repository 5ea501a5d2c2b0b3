import type { Envelope } from "../core/envelope.js";
import { CONTROL, type NodeId } from "../core/ids.js";

/**
 * A node's ends of its channels, numbered for exactly-once delivery across
 * crashes and partitions (DESIGN.md, "Faults and durability"). Every envelope
 * a node puts on a channel gets the channel's next sequence number and stays
 * in the outbox until the receiver acknowledges that it applied it (after its
 * own commit); a receiver applies only the next number, drops a duplicate (a
 * resent frame it applied) and a gap (a frame that overtook a resent one:
 * the resent stream brings it again, in order). A channel is one direction of
 * one link incarnation, or of the control plane (link 0), so a link removed
 * and made again starts from 1.
 */
export class Channels {
  private readonly outbound = new Map<string, OutChannel>();
  private readonly inbound = new Map<string, number>();

  /** Number an envelope leaving on its channel and keep it until acknowledged; a resent copy keeps its number. */
  stamp(env: Envelope): Envelope {
    const key = channelKey(env.to, env.link);
    let ch = this.outbound.get(key);
    if (ch === undefined) {
      ch = { to: env.to, link: env.link, next: 1, frames: [] };
      this.outbound.set(key, ch);
    }
    // The sender owns an envelope until it leaves: numbering it in place spares a copy per message; an envelope
    // that already left once (a strategy re-sending the same object) gets a numbered copy.
    const out = (env.seq === undefined ? env : { ...env }) as { seq?: number } & Envelope;
    out.seq = ch.next++;
    ch.frames.push(out);
    return out;
  }

  /** What to do with an arriving numbered envelope; "apply" moves the channel's position on. */
  accept(env: Envelope): "apply" | "duplicate" | "gap" {
    const seq = env.seq;
    if (seq === undefined) return "apply";
    const key = channelKey(env.from, env.link);
    const last = this.inbound.get(key) ?? 0;
    if (seq <= last) return "duplicate";
    if (seq > last + 1) return "gap";
    this.inbound.set(key, seq);
    return "apply";
  }

  /** The last sequence number applied from `from` on `link` (0: none). */
  applied(from: NodeId, link: number): number {
    return this.inbound.get(channelKey(from, link)) ?? 0;
  }

  /** Every inbound position, for the acknowledgements a commit lets leave. */
  positions(): IterableIterator<[string, number]> {
    return this.inbound.entries();
  }

  /** The receiver applied everything up to `seq`: those frames need never be sent again. */
  ack(to: NodeId, link: number, seq: number): void {
    const ch = this.outbound.get(channelKey(to, link));
    if (ch === undefined) return;
    let n = 0;
    while (n < ch.frames.length && ((ch.frames[n] as Envelope).seq ?? 0) <= seq) n++;
    if (n > 0) ch.frames.splice(0, n);
  }

  /** The frames to send again to `to` on `link` after the receiver's position `after`, in order. */
  unacked(to: NodeId, link: number, after: number): readonly Envelope[] {
    const ch = this.outbound.get(channelKey(to, link));
    if (ch === undefined) return [];
    return ch.frames.filter((f) => (f.seq ?? 0) > after);
  }

  /** The outbound channels that hold frames, (peer, link). */
  outboundChannels(): readonly { readonly to: NodeId; readonly link: number; readonly frames: number }[] {
    return [...this.outbound.values()].filter((c) => c.frames.length > 0).map((c) => ({ to: c.to, link: c.link, frames: c.frames.length }));
  }

  /**
   * Forget the channels of links that are gone (`live(peer, link)` false): their frames are never delivered on a
   * later incarnation, so keeping them would only grow the record. The control plane's channels stay.
   */
  prune(live: (peer: NodeId, link: number) => boolean): void {
    for (const [key, ch] of this.outbound) if (ch.link !== 0 && ch.to !== CONTROL && !live(ch.to, ch.link)) this.outbound.delete(key);
    for (const key of this.inbound.keys()) {
      const { peer, link } = parseKey(key);
      // A coordinator's channel (its own link number) is kept: a restarted root resends from this very position, and
      // a node that forgot it would apply that coordinator's envelopes again (a prepare of an ended update).
      if (link !== 0 && peer !== CONTROL && !live(peer, link)) this.inbound.delete(key);
    }
  }

  /** Test knob only (a store that does not persist the outbox): every unacknowledged frame is forgotten. */
  dropOutbox(): void {
    for (const ch of this.outbound.values()) ch.frames.length = 0;
  }

  /** Forget every channel to and from `peer` (it was destroyed: a node later created with its id starts from 1). */
  forgetPeer(peer: NodeId): void {
    for (const [key, ch] of this.outbound) if (ch.to === peer) this.outbound.delete(key);
    for (const key of this.inbound.keys()) if (parseKey(key).peer === peer) this.inbound.delete(key);
  }

  snapshot(): ChannelsSnapshot {
    return {
      outbound: [...this.outbound.values()].map((c) => ({ to: c.to, link: c.link, next: c.next, frames: [...c.frames] })),
      inbound: [...this.inbound.entries()],
    };
  }

  static restore(s: ChannelsSnapshot): Channels {
    const out = new Channels();
    for (const c of s.outbound) out.outbound.set(channelKey(c.to, c.link), { to: c.to, link: c.link, next: c.next, frames: [...c.frames] });
    for (const [k, v] of s.inbound) out.inbound.set(k, v);
    return out;
  }

  /** What the explorer tells states apart by: positions and outbox sizes (the frames themselves are in flight or acknowledged). */
  fingerprint(): unknown {
    const out = [...this.outbound.values()].map((c) => [c.to, c.link, c.next, c.frames.length]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
    const inn = [...this.inbound.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return [out, inn];
  }
}

interface OutChannel {
  readonly to: NodeId;
  readonly link: number;
  next: number;
  readonly frames: Envelope[];
}

export interface ChannelsSnapshot {
  readonly outbound: readonly { readonly to: NodeId; readonly link: number; readonly next: number; readonly frames: readonly Envelope[] }[];
  readonly inbound: readonly (readonly [string, number])[];
}

export function channelKey(peer: NodeId, link: number): string {
  return `${link}|${peer}`;
}

function parseKey(key: string): { readonly peer: NodeId; readonly link: number } {
  const bar = key.indexOf("|");
  return { link: Number(key.slice(0, bar)), peer: key.slice(bar + 1) };
}

/** The control plane as a peer: the coordinator's channel is link 0. */
export const PLANE_PEER: NodeId = CONTROL;
