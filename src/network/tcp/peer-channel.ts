import type { Envelope } from "../../core/envelope.js";
import type { Codec } from "./codec.js";
import type { Connection } from "./connection.js";
import { encodeFrame } from "./frame.js";

const ACK_EVERY = 256;
const ACK_DELAY_MS = 5;

/**
 * The FIFO channels between this node and one neighbour, kept across
 * reconnects. Every data frame gets the next sequence number and stays in
 * `unacked` until the neighbour acknowledges it; after a reconnect each side
 * says in its hello the last number it delivered, and the other resends what
 * follows, in order. The receiver delivers only the next number, so a frame
 * that arrives twice (sent on the old socket, resent on the new) runs once.
 */
export class PeerChannel {
  private nextSeq = 1;
  private unacked: { readonly seq: number; readonly frame: Buffer }[] = [];
  private head = 0;
  private delivered = 0;
  private lastAcked = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private conn: Connection | undefined;
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

  send(lc: number, env: Envelope): void {
    const seq = this.nextSeq++;
    const frame = encodeFrame(this.codec.encode({ t: "data", seq, lc, env }));
    this.unacked.push({ seq, frame });
    this.conn?.write(frame);
  }

  /** A (re)connection: the peer delivered up to `peerReceived`; resend the rest in order. */
  attach(conn: Connection, peerReceived: number): void {
    if (this.conn !== undefined && this.conn !== conn) this.conn.close();
    if (this.attached++ > 0) this.reconnects++;
    this.conn = conn;
    this.acked(peerReceived);
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
    this.conn.send({ t: "ack", seq: this.delivered });
  }
}
