import { randomUUID } from "node:crypto";
import type { Envelope } from "../../core/envelope.js";
import type { Codec } from "./codec.js";
import type { Connection } from "./connection.js";
import { encodeFrame } from "./frame.js";

const ACK_EVERY = 256;
const ACK_DELAY_MS = 5;

/** What a side says of the channel in its hello. */
export interface ChannelHello {
  /** The last sequence number this side delivered from the other. */
  readonly recv: number;
  /** This side's channel instance: a new one after the process restarted or the link was made again. */
  readonly chan: string;
  /** The other side's instance this side last talked to: `recv` counts frames of that instance only. */
  readonly seen?: string;
}

/**
 * The FIFO channels between this node and one neighbour, kept across
 * reconnects. Every data frame gets the next sequence number and stays in
 * `unacked` until the neighbour acknowledges it; after a reconnect each side
 * says in its hello the last number it delivered, and the other resends what
 * follows, in order. The receiver delivers only the next number, so a frame
 * that arrives twice (sent on the old socket, resent on the new) runs once.
 * Each side also names its channel instance: when the other side's instance
 * changed (its process restarted), the numbering starts again on both sides
 * and what was still unacknowledged is reported lost with the old instance.
 */
/**
 * A durable node's channel resumes after its process restarts (DESIGN.md, "Faults and durability"): its instance is
 * its store's, its numbers are the node host's own (numbered when a frame leaves the host, kept in its durable
 * outbox), and a frame is acknowledged only once the step that applied it is committed (the daemon says when).
 */
export interface DurableChannel {
  /** The instance id, stable across the process's restarts (its store's). */
  readonly instance: string;
  /** The last number the host applied from the peer (its committed position after a recovery). */
  readonly delivered: number;
  /** The host's outbox to the peer: numbered envelopes not yet acknowledged, resent after the hellos. */
  readonly unacked: readonly Envelope[];
  /**
   * The Lamport time the outbox's frames are resent with: this process's clock now, later than their sends in an
   * earlier life, so a merged trace still puts every send before its delivery.
   */
  readonly lc: number;
}

export class PeerChannel {
  readonly id: string;
  /** Acknowledgements wait for the daemon's commit (`ackTo`) instead of leaving on a timer. */
  private readonly durable: boolean;
  private nextSeq = 1;
  private unacked: { readonly seq: number; readonly frame: Buffer; readonly env: Envelope }[] = [];
  private head = 0;
  private delivered = 0;
  private lastAcked = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private conn: Connection | undefined;
  private remote: string | undefined;
  /** Connections after the first, and frames that arrived twice (resent after a reconnect) and were dropped. */
  reconnects = 0;
  duplicates = 0;
  private attached = 0;

  constructor(
    readonly peer: string,
    private readonly codec: Codec,
    durable?: DurableChannel,
  ) {
    this.id = durable?.instance ?? randomUUID();
    this.durable = durable !== undefined;
    if (durable !== undefined) {
      this.delivered = durable.delivered;
      this.lastAcked = durable.delivered;
      for (const env of durable.unacked) this.push(durable.lc, env);
    }
  }

  get connection(): Connection | undefined {
    return this.conn;
  }

  /** Last sequence number delivered from the peer. */
  get received(): number {
    return this.delivered;
  }

  get pending(): number {
    return this.unacked.length - this.head;
  }

  /** The last sequence number this channel sent: a hello or an ack beyond it (with frames pending) is a lie. */
  get sent(): number {
    return this.nextSeq - 1;
  }

  hello(): ChannelHello {
    return { recv: this.delivered, chan: this.id, ...(this.remote !== undefined ? { seen: this.remote } : {}) };
  }

  /** Encodes first, so a message the codec refuses throws here and takes no sequence number. */
  send(lc: number, env: Envelope): void {
    const frame = this.push(lc, env);
    this.conn?.write(frame);
  }

  /** A durable node's frames carry the host's number (env.seq); a volatile node's, this channel's own. */
  private push(lc: number, env: Envelope): Buffer {
    const seq = this.durable && env.seq !== undefined ? env.seq : this.nextSeq;
    const frame = encodeFrame(this.codec.encode({ kind: "data", seq, lc, env }));
    this.nextSeq = seq + 1;
    this.unacked.push({ seq, frame, env });
    return frame;
  }

  /** A durable node committed the step that applied `seq`: the peer may forget what precedes it. */
  ackTo(seq: number): void {
    if (seq <= this.lastAcked) return;
    this.lastAcked = seq;
    this.conn?.send({ kind: "ack", seq });
  }

  /**
   * A (re)connection. Returns the envelopes lost with a previous instance of
   * the peer (sent to it, never acknowledged) when the peer restarted.
   */
  attach(conn: Connection, peer: ChannelHello): Envelope[] {
    let lost: Envelope[] = [];
    if (this.remote !== undefined && this.remote !== peer.chan) {
      lost = this.unacknowledged();
      this.unacked = [];
      this.head = 0;
      this.nextSeq = 1;
      this.delivered = 0;
      this.lastAcked = 0;
    }
    this.remote = peer.chan;
    if (this.conn !== undefined && this.conn !== conn) this.conn.close();
    if (this.attached++ > 0) this.reconnects++;
    this.conn = conn;
    // A count of frames from another instance of this side (before our restart) acknowledges nothing of ours.
    this.acked(peer.seen === this.id ? peer.recv : 0);
    return lost;
  }

  /** After the hellos: send again, in order, everything the peer has not acknowledged. */
  resend(): void {
    const conn = this.conn;
    if (conn === undefined) return;
    for (let i = this.head; i < this.unacked.length; i++) conn.write((this.unacked[i] as { frame: Buffer }).frame);
  }

  detach(conn: Connection): void {
    if (this.conn === conn) this.conn = undefined;
  }

  acked(seq: number): void {
    while (this.head < this.unacked.length && (this.unacked[this.head] as { seq: number }).seq <= seq) this.head++;
    if (this.head > 1024 && this.head * 2 > this.unacked.length) {
      this.unacked = this.unacked.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * A data frame arrived: true if it is the next one (deliver it), false if it
   * is a duplicate. A gap cannot happen on one TCP stream; if it does, the
   * connection is closed so that the reconnect resends from the right place.
   */
  accept(seq: number, conn: Connection): boolean {
    if (seq <= this.delivered) {
      this.duplicates++;
      return false;
    }
    if (seq !== this.delivered + 1) {
      conn.close();
      return false;
    }
    this.delivered = seq;
    if (this.durable) return true; // acknowledged after the commit of the step that applies it (ackTo)
    if (this.delivered - this.lastAcked >= ACK_EVERY) this.sendAck();
    else this.ackTimer ??= setTimeout(() => this.sendAck(), ACK_DELAY_MS);
    return true;
  }

  /** What is still unacknowledged (for a drop record when the channel goes away). */
  unacknowledged(): Envelope[] {
    return this.unacked.slice(this.head).map((u) => u.env);
  }

  close(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.conn?.close();
    this.conn = undefined;
  }

  private sendAck(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.conn === undefined || this.delivered === this.lastAcked) return;
    this.lastAcked = this.delivered;
    this.conn.send({ kind: "ack", seq: this.delivered });
  }
}
