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
export class PeerChannel {
  readonly id = randomUUID();
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
  ) {}

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

  hello(): ChannelHello {
    return { recv: this.delivered, chan: this.id, ...(this.remote !== undefined ? { seen: this.remote } : {}) };
  }

  /** Encodes first, so a message the codec refuses throws here and takes no sequence number. */
  send(lc: number, env: Envelope): void {
    const frame = encodeFrame(this.codec.encode({ kind: "data", seq: this.nextSeq, lc, env }));
    const seq = this.nextSeq++;
    this.unacked.push({ seq, frame, env });
    this.conn?.write(frame);
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
