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
  // Per peer, its channels (one per link incarnation; almost always one): a lookup hashes the peer's id, which the
  // string caches, instead of building a "link|peer" key per message (the simulator's hottest path).
  private readonly outbound = new Map<NodeId, OutChannel[]>();
  private readonly inbound = new Map<NodeId, InChannel[]>();

  private out(to: NodeId, link: number): OutChannel | undefined {
    const list = this.outbound.get(to);
    if (list === undefined) return undefined;
    for (const ch of list) if (ch.link === link) return ch;
    return undefined;
  }

  private in(from: NodeId, link: number): InChannel | undefined {
    const list = this.inbound.get(from);
    if (list === undefined) return undefined;
    for (const ch of list) if (ch.link === link) return ch;
    return undefined;
  }

  private addIn(from: NodeId, link: number, last: number): void {
    const list = this.inbound.get(from);
    const ch: InChannel = { link, last };
    if (list === undefined) this.inbound.set(from, [ch]);
    else list.push(ch);
  }

  private addOut(to: NodeId, link: number, next: number, frames: Envelope[]): OutChannel {
    const ch: OutChannel = { to, link, next, frames, head: 0 };
    const list = this.outbound.get(to);
    if (list === undefined) this.outbound.set(to, [ch]);
    else list.push(ch);
    return ch;
  }

  /** Number an envelope leaving on its channel and keep it until acknowledged; a resent copy keeps its number. */
  stamp(env: Envelope): Envelope {
    const ch = this.out(env.to, env.link) ?? this.addOut(env.to, env.link, 1, []);
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
    const ch = this.in(env.from, env.link);
    const last = ch === undefined ? 0 : ch.last;
    if (seq <= last) return "duplicate";
    if (seq > last + 1) return "gap";
    if (ch === undefined) this.addIn(env.from, env.link, seq);
    else ch.last = seq;
    return "apply";
  }

  /** The last sequence number applied from `from` on `link` (0: none). */
  applied(from: NodeId, link: number): number {
    return this.in(from, link)?.last ?? 0;
  }

  /** Every inbound position as (channel key, position), for the acknowledgements a commit lets leave. */
  positions(): [string, number][] {
    const out: [string, number][] = [];
    for (const [peer, list] of this.inbound) for (const ch of list) out.push([channelKey(peer, ch.link), ch.last]);
    return out;
  }

  /** The receiver applied everything up to `seq`: those frames need never be sent again. */
  ack(to: NodeId, link: number, seq: number): void {
    const ch = this.out(to, link);
    if (ch === undefined) return;
    const frames = ch.frames;
    let h = ch.head;
    while (h < frames.length && ((frames[h] as Envelope).seq ?? 0) <= seq) h++;
    if (h === frames.length) {
      frames.length = 0;
      h = 0;
    } else if (h >= 64 && h * 2 >= frames.length) {
      // Compact now and then: the queue's head moves by index, so an acknowledgement costs no shift of the rest (and
      // at most 64 acknowledged envelopes wait for the collector a little longer).
      frames.splice(0, h);
      h = 0;
    }
    ch.head = h;
  }

  /** The frames to send again to `to` on `link` after the receiver's position `after`, in order. */
  unacked(to: NodeId, link: number, after: number): readonly Envelope[] {
    const ch = this.out(to, link);
    if (ch === undefined) return [];
    return live(ch).filter((f) => (f.seq ?? 0) > after);
  }

  /** The outbound channels that hold frames, (peer, link). */
  outboundChannels(): readonly { readonly to: NodeId; readonly link: number; readonly frames: number }[] {
    return this.allOut()
      .filter((c) => c.frames.length > c.head)
      .map((c) => ({ to: c.to, link: c.link, frames: c.frames.length - c.head }));
  }

  private allOut(): OutChannel[] {
    const all: OutChannel[] = [];
    for (const list of this.outbound.values()) all.push(...list);
    return all;
  }

  /**
   * Forget the channels of links that are gone (`live(peer, link)` false): their frames are never delivered on a
   * later incarnation, so keeping them would only grow the record. The control plane's channels stay.
   */
  prune(isLive: (peer: NodeId, link: number) => boolean): void {
    for (const [peer, list] of this.outbound) {
      const keep = list.filter((ch) => ch.link === 0 || peer === CONTROL || isLive(peer, ch.link));
      if (keep.length === 0) this.outbound.delete(peer);
      else if (keep.length < list.length) this.outbound.set(peer, keep);
    }
    for (const [peer, list] of this.inbound) {
      // A coordinator's channel (its own link number) is kept: a restarted root resends from this very position, and
      // a node that forgot it would apply that coordinator's envelopes again (a prepare of an ended update).
      const keep = list.filter((ch) => ch.link === 0 || peer === CONTROL || isLive(peer, ch.link));
      if (keep.length === 0) this.inbound.delete(peer);
      else if (keep.length < list.length) this.inbound.set(peer, keep);
    }
  }

  /** Test knob only (a store that does not persist the outbox): every unacknowledged frame is forgotten. */
  dropOutbox(): void {
    for (const ch of this.allOut()) {
      ch.frames.length = 0;
      ch.head = 0;
    }
  }

  /** Forget every channel to and from `peer` (it was destroyed: a node later created with its id starts from 1). */
  forgetPeer(peer: NodeId): void {
    this.outbound.delete(peer);
    this.inbound.delete(peer);
  }

  snapshot(): ChannelsSnapshot {
    return {
      outbound: this.allOut().map((c) => ({ to: c.to, link: c.link, next: c.next, frames: live(c) })),
      inbound: this.positions(),
    };
  }

  static restore(s: ChannelsSnapshot): Channels {
    const out = new Channels();
    for (const c of s.outbound) out.addOut(c.to, c.link, c.next, [...c.frames]);
    for (const [k, v] of s.inbound) {
      const { peer, link } = parseKey(k);
      out.addIn(peer, link, v);
    }
    return out;
  }

  /** What the explorer tells states apart by: positions and outbox sizes (the frames themselves are in flight or acknowledged). */
  fingerprint(): unknown {
    const out = this.allOut()
      .map((c) => [c.to, c.link, c.next, c.frames.length - c.head])
      .sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
    const inn = this.positions().sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return [out, inn];
  }
}

/** The frames not yet acknowledged, in order (a copy). */
function live(ch: OutChannel): Envelope[] {
  return ch.frames.slice(ch.head);
}

interface OutChannel {
  readonly to: NodeId;
  readonly link: number;
  next: number;
  /** Sent and not acknowledged from `head` on (the slots before it are acknowledged, awaiting compaction). */
  readonly frames: Envelope[];
  head: number;
}

interface InChannel {
  readonly link: number;
  /** The last sequence number applied. */
  last: number;
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
