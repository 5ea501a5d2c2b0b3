import { randomUUID } from "node:crypto";
import type { Envelope } from "../../core/envelope.js";
import type { Codec } from "./codec.js";
import type { Connection } from "./connection.js";
import { encodeFrame } from "./frame.js";
import { SpillQueue, type OutFrame, type SpillBudget } from "./outbox-spill.js";

const ACK_EVERY = 256;
/**
 * How long a volatile channel waits to acknowledge (unless ACK_EVERY frames arrived first). An acknowledgement only
 * lets the sender forget frames it keeps for a resend; at a few hundred frames a second, 5 ms meant one ack frame
 * for nearly every data frame (5% of a replica's CPU in the realtime bench); 25 ms keeps a few more frames and sends
 * a fifth of the acks.
 */
const ACK_DELAY_MS = 25;
/**
 * Flow control: data frames wait in the channel (not in the socket) once this many bytes are buffered in the socket
 * unsent. Node buffers writes without bound; this bound keeps acks and heartbeats (written at once, outside flow
 * control) from queueing behind megabytes of data, and keeps the outbox's memory the channel's to bound.
 */
export const SOCKET_BUFFER_BYTES = 256 * 1024;
/** What an entry of the in-memory outbox costs beyond its frame's bytes (the object, its slot): counted against the bound. */
const ENTRY_OVERHEAD = 64;

/**
 * Where a durable channel's data frames go instead of its connection (the NATS transport's JetStream stream:
 * network/nats/jetstream-channels.ts): frames to a neighbour that is down wait there, not only in this outbox.
 */
export interface FrameStream {
  /**
   * Store `count` frames from `seq` on (length-prefixed, concatenated) for the peer's channel instance `instance`;
   * resolves once they are stored, rejects if they may not be. `round` counts the channel's connections: a copy
   * published again within one round is dropped by the stream.
   */
  publish(seq: number, frames: Uint8Array, instance: string, round: number, count: number): Promise<void>;
  /** This node committed what the peer's frames up to `seq` did: they may leave the stream. */
  ack(seq: number): void;
}

/** Publications a stream channel has made and not yet seen stored: its flow control. */
const STREAM_WINDOW = 64;
/**
 * A publication carries the frames waiting at the end of a turn, up to this many bytes (and STREAM_BATCH frames): a
 * JetStream publication costs the same small or large (the server stores and acknowledges each), as a socket write does.
 */
const STREAM_BATCH_BYTES = 256 * 1024;
const STREAM_BATCH = 512;
/** After a failed publication (NATS reconnecting), the channel publishes again from that frame after this pause, doubled for each failure in a row up to the last. */
const STREAM_RETRY_MS = 250;
const STREAM_RETRY_MAX_MS = 5_000;

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
 * the channel's outbox (in memory up to its bound, then spilled to disk: see
 * outbox-spill.ts) until the neighbour acknowledges it; data frames leave under
 * flow control, acks at once; after a reconnect each side
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
  /**
   * The outbox, oldest first: `mem` from `head` (frames sent and not acknowledged, then from `sentTo` frames waiting
   * for the socket), then `spill` (on disk), then `over` (in memory again: the disk quota was full). A frame enters
   * `mem` only while the others are empty and `mem` is under its bound; acknowledgements free room and refill it.
   */
  private mem: OutFrame[] = [];
  private head = 0;
  private sentTo = 0;
  private memBytes = 0;
  private spill: SpillQueue | undefined;
  private over: OutFrame[] = [];
  private overHead = 0;
  /** The connection whose socket buffer is full: data waits for its "drain". */
  private drainOn: Connection | undefined;
  private delivered = 0;
  private lastAcked = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private conn: Connection | undefined;
  private remote: string | undefined;
  /**
   * The highest number the peer's current instance acknowledged in an ack frame. A durable peer acks only what it committed,
   * so a hello of that instance saying it delivered less comes from a record older than its own commits (a node
   * started from a stale export): what it acknowledged is gone from this outbox and cannot be sent again.
   */
  private remoteAcked = 0;
  /** Publications to the stream not yet stored (stream channels only), and the pause after a failed one. */
  private inflight = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Failed publications in a row (the pause before the next attempt doubles with each). */
  private failures = 0;
  private pumpQueued = false;
  /** Publishing stopped for good (stopPublishing, close), and who waits for the publications in flight to settle. */
  private halted = false;
  private readonly idle: (() => void)[] = [];
  /** Connections after the first, and frames that arrived twice (resent after a reconnect) and were dropped. */
  reconnects = 0;
  duplicates = 0;
  private attached = 0;

  constructor(
    readonly peer: string,
    private readonly codec: Codec,
    durable?: DurableChannel,
    /** The node's spill area and quota; without one the outbox stays in memory whatever its size. */
    private readonly budget?: SpillBudget,
    /** A durable channel's stream (the NATS transport): data frames go there, not on the connection. */
    private readonly stream?: FrameStream,
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

  /** Frames sent or waiting to be, not yet acknowledged (in memory and spilled). */
  get pending(): number {
    return this.mem.length - this.head + (this.spill?.length ?? 0) + this.over.length - this.overHead;
  }

  /** Bytes of this channel's frames in spill files now. */
  get spilledBytes(): number {
    return this.budget?.spilledTo(this.peer) ?? 0;
  }

  /** Bytes of frames this channel holds in memory (its bound is the budget's memoryBytes), the quota's overflow included. */
  get memoryBytes(): number {
    let over = 0;
    for (let i = this.overHead; i < this.over.length; i++) over += (this.over[i] as OutFrame).frame.length + ENTRY_OVERHEAD;
    return this.memBytes + over;
  }

  /** The last sequence number this channel sent: a hello or an ack beyond it (with frames pending) is a lie. */
  get sent(): number {
    return this.nextSeq - 1;
  }

  /** Does a hello of the peer say it delivered less than its instance had acknowledged (see remoteAcked)? */
  staleHello(peer: ChannelHello): boolean {
    return this.remote !== undefined && this.remote === peer.chan && peer.recv < this.remoteAcked;
  }

  /** What the peer's instance acknowledged of this channel (0: nothing yet, or a new instance). */
  get acknowledged(): number {
    return this.remoteAcked;
  }

  hello(): ChannelHello {
    return { recv: this.delivered, chan: this.id, ...(this.remote !== undefined ? { seen: this.remote } : {}) };
  }

  /** Encodes first, so a message the codec refuses throws here and takes no sequence number. */
  send(lc: number, env: Envelope): void {
    this.push(lc, env);
    if (this.stream === undefined) return this.pump();
    // A stream channel publishes at the end of the turn: the frames of one step go in one publication.
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    process.nextTick(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** A durable node's frames carry the host's number (env.seq); a volatile node's, this channel's own. */
  private push(lc: number, env: Envelope): void {
    const seq = this.durable && env.seq !== undefined ? env.seq : this.nextSeq;
    const frame = encodeFrame(this.codec.encode({ kind: "data", seq, lc, env }));
    this.nextSeq = seq + 1;
    this.enqueue({ seq, frame });
  }

  /** Into memory while the outbox is under its bound and nothing waits on disk; else to disk, in order; else (quota full) memory. */
  private enqueue(f: OutFrame): void {
    const budget = this.budget;
    const overEmpty = this.overHead === this.over.length;
    if (budget === undefined || (overEmpty && (this.spill?.length ?? 0) === 0 && (this.memBytes < budget.options.memoryBytes || this.head === this.mem.length))) {
      this.mem.push(f);
      this.memBytes += f.frame.length + ENTRY_OVERHEAD;
      return;
    }
    if (overEmpty) {
      this.spill ??= new SpillQueue(budget, this.peer);
      if (this.spill.append(f)) return;
      budget.setOverQuota(this.peer, true);
    }
    this.over.push(f);
  }

  /** Acknowledgements freed memory: frames come back from disk (then from the overflow), in order, up to the bound. */
  private refill(): void {
    const budget = this.budget;
    if (budget === undefined) return;
    while (this.memBytes < budget.options.memoryBytes) {
      const f = this.spill?.shift() ?? this.takeOver();
      if (f === undefined) return;
      this.mem.push(f);
      this.memBytes += f.frame.length + ENTRY_OVERHEAD;
    }
  }

  /** The oldest frame kept in memory past the quota; the channel is no longer over quota once none is left. */
  private takeOver(): OutFrame | undefined {
    if (this.overHead === this.over.length) return undefined;
    const f = this.over[this.overHead++] as OutFrame;
    if (this.overHead === this.over.length) {
      this.over = [];
      this.overHead = 0;
      this.budget?.setOverQuota(this.peer, false);
    }
    return f;
  }

  /**
   * Write waiting data frames while the socket buffers less than SOCKET_BUFFER_BYTES; past that, wait for its drain.
   * The socket is never paused for reading: flow control holds back only what this side writes.
   */
  private pump(): void {
    if (this.stream !== undefined) return this.pumpStream(this.stream);
    const conn = this.conn;
    if (conn === undefined || conn.closed || this.drainOn === conn) return;
    const socket = conn.socket;
    while (this.sentTo < this.mem.length) {
      if (socket.writableLength >= SOCKET_BUFFER_BYTES) {
        this.drainOn = conn;
        socket.once("drain", () => {
          if (this.drainOn !== conn) return;
          this.drainOn = undefined;
          this.pump();
        });
        return;
      }
      conn.write((this.mem[this.sentTo++] as OutFrame).frame);
    }
  }

  /**
   * Publish waiting frames to the stream, up to STREAM_WINDOW unconfirmed, once the peer's instance is known (a frame
   * is addressed to it: one left for an earlier store of the peer is never applied). They stay in the outbox until the
   * peer acknowledges them, as on a connection (and are published again after a reconnection, as they are written
   * again on one); a failed publication is published again, with what followed it (the stream drops a frame it already
   * has, the receiver reorders).
   */
  private pumpStream(stream: FrameStream): void {
    const remote = this.remote;
    if (remote === undefined || this.retry !== undefined || this.halted) return;
    while (this.sentTo < this.mem.length && this.inflight < STREAM_WINDOW) {
      const f = this.mem[this.sentTo] as OutFrame;
      const batch = [f.frame];
      let bytes = f.frame.length;
      for (let next = this.mem[++this.sentTo]; next !== undefined && batch.length < STREAM_BATCH && bytes + next.frame.length <= STREAM_BATCH_BYTES; next = this.mem[++this.sentTo]) {
        batch.push(next.frame);
        bytes += next.frame.length;
      }
      this.inflight++;
      stream.publish(f.seq, batch.length === 1 ? f.frame : Buffer.concat(batch, bytes), remote, this.attached, batch.length).then(
        () => {
          this.published();
          this.failures = 0;
          this.pump();
        },
        () => {
          this.published();
          this.republishFrom(f.seq);
        },
      );
    }
  }

  /** A publication settled (stored or failed): those waiting for none to be in flight (stopPublishing) are told. */
  private published(): void {
    if (--this.inflight > 0) return;
    for (const done of this.idle.splice(0)) done();
  }

  /**
   * Publish nothing more (a removed link's channel, before its unread frames leave the stream and the rest is reported
   * lost: a publication after that would put back what is reported lost); resolves once none is in flight.
   */
  stopPublishing(): Promise<void> {
    this.halted = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
    return this.inflight === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  /** A publication failed: from that frame on, everything is published again after a pause (longer each time in a row). */
  private republishFrom(seq: number): void {
    let i = this.head;
    while (i < this.sentTo && (this.mem[i] as OutFrame).seq < seq) i++;
    this.sentTo = Math.min(this.sentTo, i);
    if (this.retry !== undefined || this.halted) return;
    const pause = Math.min(STREAM_RETRY_MAX_MS, STREAM_RETRY_MS * 2 ** this.failures++);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.pump();
    }, pause);
    this.retry.unref();
  }

  /** A durable node committed the step that applied `seq`: the peer may forget what precedes it (and the stream too). */
  ackTo(seq: number): void {
    if (seq <= this.lastAcked) return;
    this.lastAcked = seq;
    this.stream?.ack(seq);
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
      this.forgetOutbox();
      this.nextSeq = 1;
      this.delivered = 0;
      this.lastAcked = 0;
      this.remoteAcked = 0;
    }
    this.remote = peer.chan;
    if (this.conn !== undefined && this.conn !== conn) this.conn.close();
    if (this.attached++ > 0) this.reconnects++;
    this.conn = conn;
    this.drainOn = undefined;
    // Nothing was written on this connection yet; resend() writes, after the hellos (nothing here may write first).
    // A count of frames from another instance of this side (before our restart) acknowledges nothing of ours.
    this.dropAcked(peer.seen === this.id ? peer.recv : 0);
    this.sentTo = this.head;
    return lost;
  }

  /**
   * After the hellos: send again, in order, everything the peer has not acknowledged, under flow control: what is in
   * memory first, spilled frames as acknowledgements bring them back.
   */
  resend(): void {
    if (this.conn === undefined) return;
    // A stream channel publishes again too: the stream drops what it has, the receiver what it applied, and a frame
    // the stream let go of before the peer committed it (a redelivery acknowledged, a server's disk lost) is not lost.
    this.sentTo = this.head;
    // The peer's position may be past everything in memory (a durable node restarted with its outbox spilled).
    this.refill();
    this.pump();
  }

  detach(conn: Connection): void {
    if (this.conn === conn) this.conn = undefined;
    if (this.drainOn === conn) this.drainOn = undefined;
  }

  /** The peer acknowledged up to `seq`: those frames are dropped, room is refilled from disk, waiting frames go out. */
  acked(seq: number): void {
    // Only an ack frame counts: a durable peer sends it after its commit, while its hello's position may run ahead of
    // what it committed (a crash then brings it back below, rightly: that is no stale record).
    if (seq > this.remoteAcked) this.remoteAcked = seq;
    this.dropAcked(seq);
    this.refill();
    this.pump();
  }

  private dropAcked(seq: number): void {
    while (this.head < this.mem.length && (this.mem[this.head] as OutFrame).seq <= seq) {
      this.memBytes -= (this.mem[this.head] as OutFrame).frame.length + ENTRY_OVERHEAD;
      this.head++;
    }
    // Never expected (a peer acknowledges only what was written, and only frames in memory are): skip what it covers.
    if (this.head === this.mem.length) this.skipQueued(seq);
    if (this.sentTo < this.head) this.sentTo = this.head;
    if (this.head > 1024 && this.head * 2 > this.mem.length) {
      this.mem = this.mem.slice(this.head);
      this.sentTo -= this.head;
      this.head = 0;
    }
  }

  private skipQueued(seq: number): void {
    for (;;) {
      const next = this.peekQueued();
      if (next === undefined || next.seq > seq) return;
      if ((this.spill?.length ?? 0) > 0) this.spill?.shift();
      else this.takeOver();
    }
  }

  private peekQueued(): { readonly seq: number } | undefined {
    const first = this.spill?.firstSeq();
    return first !== undefined ? { seq: first } : this.over[this.overHead];
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

  /**
   * A data frame from the stream (in order: the stream's reader reorders): true if it is the next one (deliver it),
   * false if it was delivered before (the stream may let it go at once).
   */
  acceptStreamed(seq: number): boolean {
    if (seq !== this.delivered + 1) {
      if (seq <= this.delivered) this.duplicates++;
      return false;
    }
    this.delivered = seq;
    return true;
  }

  /** What is still unacknowledged (for a drop record when the channel goes away), spilled frames read back. */
  unacknowledged(): Envelope[] {
    const frames = [...this.mem.slice(this.head), ...(this.spill?.peekAll() ?? []), ...this.over.slice(this.overHead)];
    return frames.map((f) => (this.codec.decode(f.frame.subarray(4)) as { env: Envelope }).env);
  }

  /** The outbox is dropped (the peer's instance changed, or the channel closes): spill files deleted, quota given back. */
  private forgetOutbox(): void {
    this.mem = [];
    this.head = 0;
    this.sentTo = 0;
    this.memBytes = 0;
    this.spill?.clear();
    if (this.over.length > 0) this.budget?.setOverQuota(this.peer, false);
    this.over = [];
    this.overHead = 0;
  }

  close(): void {
    this.halted = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.conn?.close();
    this.conn = undefined;
    this.spill?.clear();
  }

  private sendAck(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.conn === undefined || this.delivered === this.lastAcked) return;
    this.lastAcked = this.delivered;
    this.conn.send({ kind: "ack", seq: this.delivered });
  }
}
