/**
 * Durable node-to-node channels over NATS JetStream (issue 20): a durable node's data frames to a neighbour go through
 * a stream, so that frames to a node that is down (crashed, restarting, cut off) wait in the stream, on the servers'
 * disks, and survive a restart of the servers too.
 *
 * Each directed channel of a link incarnation is one subject, `liveswap.<cluster>.ch.<from>.<to>.<link>`, of one
 * work-queue stream per cluster, written by `from` alone, so the stream keeps its order. A frame carries its channel
 * sequence number (header `Liveswap-Seq`) and the receiver's channel instance it is meant for (`Liveswap-For`: a
 * frame left in the stream for an earlier store of the receiver is dropped, not applied); its message id lets
 * JetStream drop a copy published twice in one round of the sender (a failed publication published again). A frame
 * larger than what the servers take in one message goes in parts (`Liveswap-Part: i/n`), put together here.
 *
 * The receiver reads through a durable pull consumer of its own (made anew by each process, and again whenever the
 * reading stops: a server restart, a leader election), delivers frames in sequence order (a frame published again
 * after a failure comes after its successors: they wait for it), skips what its store had applied, and acknowledges
 * a frame once its store committed what the frame did (`ack`); an acknowledged frame leaves the stream.
 */
import { randomUUID } from "node:crypto";
import { AckPolicy, DeliverPolicy, headers, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from "nats";
import type { NodeId } from "../../core/ids.js";
import { NatsTransportError } from "./errors.js";

const SEQ = "Liveswap-Seq";
const FOR = "Liveswap-For";
const PART = "Liveswap-Part";
/** A frame is at most 64 MiB (frame.ts): in parts of at least 4 KiB, never more than this many. */
const MAX_PARTS = 16_384;
/** How many frames a message carries (absent: one), each with its 4-byte length as on a connection. */
const COUNT = "Liveswap-Count";
const NAME = /^[A-Za-z0-9_-]+$/;
/** How long JetStream waits for an acknowledgement before it delivers a frame again (a commit is far quicker). */
const ACK_WAIT_MS = 60_000;
/** A consumer nobody reads for this long is deleted by the server (a node destroyed, a link gone while it was down). */
const INACTIVE_MS = 60 * 60_000;
/** Room left in a message for the headers, under the servers' max_payload. */
const HEADER_ROOM = 1024;
/** How long one pull for a channel's frames waits on the server (see readOnce). */
const PULL_EXPIRES_MS = 5_000;
/** Pauses between attempts to read a channel again after its reading stopped (the last one repeats). */
const RELISTEN_MS = [100, 250, 500, 1000, 2000, 5000];

/** A channel's frames as they arrive, in order, each once. */
export type FrameHandler = (seq: number, frame: Uint8Array) => void;

/**
 * A message as it came from the stream (or a frame's parts put together): the frames it carries, from `first` on, in
 * order (a sender puts the frames of a turn in one message), acknowledged together once the last was committed.
 */
interface Batch {
  readonly msgs: JsMsg[];
  readonly first: number;
  readonly frames: readonly Uint8Array[];
}

/** Messages handed over, acknowledged once the node committed up to `last`. */
interface Handed {
  readonly last: number;
  readonly msgs: JsMsg[];
}

interface Incoming {
  readonly from: NodeId;
  readonly link: number;
  /** The last sequence number handed to onFrame (a frame at or below it was applied: acknowledged and skipped). */
  delivered: number;
  /** Messages handed over and not yet acknowledged, oldest first (their `last` increasing). */
  readonly unacked: Handed[];
  /** The same, by the stream sequence of each of their messages: a message delivered again joins its own. */
  readonly byStreamSeq: Map<number, Handed>;
  /** Batches that came before one they follow (published again after a failure): they wait for it. */
  readonly early: Batch[];
  /** Parts of a frame sent in parts, until the last arrives. */
  readonly parts: Map<number, (JsMsg | undefined)[]>;
  readonly instance: string;
  readonly onFrame: FrameHandler;
  messages?: ConsumerMessages;
  stopped: boolean;
}

export class JetStreamChannels {
  private readonly incoming = new Map<string, Incoming>();
  /** This process's life: message ids of one life let JetStream drop a copy; another life's are new messages. */
  private readonly life = randomUUID().slice(0, 8);
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: string,
    private readonly self: NodeId,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly log: (line: string) => void,
    /** Copies of the stream in a NATS cluster (1 on a single server). */
    private readonly replicas: number,
  ) {}

  /** On an open NATS connection: make sure the cluster's stream exists (created by whichever node comes first). */
  static async on(nc: NatsConnection, cluster: string, self: NodeId, log: (line: string) => void = () => undefined, replicas = 1): Promise<JetStreamChannels> {
    for (const [what, v] of [["cluster", cluster], ["node id", self]] as const) {
      if (!NAME.test(v)) throw new NatsTransportError(`the ${what} "${v}" cannot name a NATS subject; use letters, digits, "-" and "_"`);
    }
    const jsm = await nc.jetstreamManager({ timeout: 5_000 }).catch((e: unknown) => {
      throw new NatsTransportError(`NATS has no JetStream (${reason(e)}); a cluster with stores keeps its frames in a stream: start nats-server with -js and a store directory (-sd)`, { cause: e });
    });
    const c = new JetStreamChannels(nc, cluster, self, nc.jetstream(), jsm, log, replicas);
    await c.ensureStream();
    return c;
  }

  private get stream(): string {
    return `LIVESWAP_${this.cluster}`;
  }

  private subject(from: NodeId, to: NodeId, link: number): string {
    return `liveswap.${this.cluster}.ch.${from}.${to}.${link}`;
  }

  private durable(from: NodeId, link: number): string {
    return `${this.self}-from-${from}-${link}`;
  }

  private async ensureStream(): Promise<void> {
    const config = { name: this.stream, subjects: [`liveswap.${this.cluster}.ch.>`], storage: StorageType.File, retention: RetentionPolicy.Workqueue, duplicate_window: 120 * 1_000_000_000, num_replicas: this.replicas };
    if (await this.jsm.streams.info(this.stream).then(() => true, () => false)) return;
    try {
      await this.jsm.streams.add(config);
    } catch (e) {
      // Another node made it meanwhile: fine.
      if (await this.jsm.streams.info(this.stream).then(() => true, () => false)) return;
      throw new NatsTransportError(`cannot create the JetStream stream ${this.stream} (${reason(e)}); check the servers' JetStream limits (max_file_store) and that this account may create streams`, { cause: e });
    }
  }

  /** The largest piece of a frame one message carries: the servers' max_payload, less room for the headers. */
  get partBytes(): number {
    return Math.max(4096, (this.nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM);
  }

  /**
   * Put frames `seq`.. of channel self -> `to` (link incarnation `link`) in the stream, for the receiver's channel
   * instance `instance`: `count` frames, each with its 4-byte length, in one message (a frame larger than a message
   * goes in parts); resolves once JetStream stored them. `round` names the sender's round of publications (a copy
   * published again in the same round is dropped by JetStream).
   */
  async publish(to: NodeId, link: number, seq: number, frame: Uint8Array, instance: string, round: number, count = 1): Promise<void> {
    if (!NAME.test(to)) throw new NatsTransportError(`the node id "${to}" cannot name a NATS subject; use letters, digits, "-" and "_"`);
    const size = this.partBytes;
    const n = Math.max(1, Math.ceil(frame.length / size));
    // A batch larger than a message (servers with a small max_payload) goes frame by frame, each in parts if need be.
    if (n > 1 && count > 1) {
      await Promise.all(split(frame, count).map((f, i) => this.publish(to, link, seq + i, f, instance, round)));
      return;
    }
    const id = `${this.self}>${to}/${link}#${seq}+${count}@${instance}~${this.life}.${round}`;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const h = headers();
      h.set(SEQ, String(seq));
      h.set(FOR, instance);
      if (count > 1) h.set(COUNT, String(count));
      if (n > 1) h.set(PART, `${i + 1}/${n}`);
      sent.push(this.js.publish(this.subject(this.self, to, link), frame.subarray(i * size, (i + 1) * size), { msgID: n > 1 ? `${id}:${i + 1}` : id, headers: h }));
    }
    try {
      await Promise.all(sent);
    } catch (e) {
      // No stream takes the subject (a server that lost its store): it is made again; the sender publishes again.
      if ((e as { code?: unknown }).code === "503") void this.ensureStream().catch(() => undefined);
      throw e;
    }
  }

  /**
   * Read channel `from` -> self of link `link` from its oldest unacknowledged frame, skipping what was applied up to
   * `after` (the store's position: a frame applied but not yet acknowledged before a crash); `instance` is this side's
   * channel instance (frames for another are dropped). Reads until `forget` or `close`, starting again whenever the
   * reading stops.
   */
  listen(from: NodeId, link: number, after: number, instance: string, onFrame: FrameHandler): void {
    const key = `${from}/${link}`;
    if (this.incoming.has(key)) return;
    const inc: Incoming = { from, link, delivered: after, unacked: [], byStreamSeq: new Map(), early: [], parts: new Map(), instance, onFrame, stopped: false };
    this.incoming.set(key, inc);
    void this.keepReading(inc);
  }

  private async keepReading(inc: Incoming): Promise<void> {
    for (let attempt = 0; !inc.stopped && !this.closed; attempt++) {
      try {
        await this.readOnce(inc);
        attempt = 0; // it read, then stopped: start again soon
      } catch (e) {
        if (inc.stopped || this.closed) return;
        if (attempt === 2) this.log(`cannot read "${inc.from}"'s frames from the stream yet (link ${inc.link}: ${reason(e)}); retrying: they wait there`);
      }
      await new Promise((r) => setTimeout(r, RELISTEN_MS[Math.min(attempt, RELISTEN_MS.length - 1)]));
    }
  }

  /** Make the consumer anew and read until the reading stops (or the channel is forgotten). */
  private async readOnce(inc: Incoming): Promise<void> {
    const durable = this.durable(inc.from, inc.link);
    // The stream itself may be gone (a server that lost its store): made again, empty.
    await this.ensureStream();
    // This process is the channel's only reader: the consumer an earlier process (or reading) left is made anew, so
    // that frames it delivered and nobody acknowledged come again first, in order, now rather than after its ack wait.
    await this.jsm.consumers.delete(this.stream, durable).catch(() => false);
    await this.jsm.consumers.add(this.stream, {
      durable_name: durable,
      filter_subject: this.subject(inc.from, this.self, inc.link),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_MS * 1_000_000,
      max_ack_pending: 100_000,
      inactive_threshold: INACTIVE_MS * 1_000_000,
    });
    if (inc.stopped || this.closed) return void (await this.jsm.consumers.delete(this.stream, durable).catch(() => false));
    const consumer = await this.js.consumers.get(this.stream, durable);
    // The reading ends (and starts again, above) if the consumer or the stream disappears, instead of waiting for it.
    // Pulls expire after PULL_EXPIRES_MS (the client's default is 30 s): the server then heartbeats every half of it, and
    // a pull lost with a server of a NATS cluster (the consumer's leader moved) is noticed after two missed heartbeats
    // and made again on the servers left, seconds rather than half a minute later.
    const messages = await consumer.consume({ max_messages: 1_000, abort_on_missing_resource: true, expires: PULL_EXPIRES_MS });
    inc.messages = messages;
    // What was waiting for a frame, or half put together, comes again from the new consumer.
    inc.early.length = 0;
    inc.parts.clear();
    if (inc.stopped || this.closed) return void (await messages.close());
    for await (const m of messages) {
      if (this.closed || inc.stopped) break;
      this.arrived(inc, m);
    }
  }

  private arrived(inc: Incoming, m: JsMsg): void {
    const handed = inc.byStreamSeq.get(m.seq);
    if (handed !== undefined) {
      handed.msgs.push(m); // delivered again (its ack wait passed before the commit): acknowledged with the commit
      return;
    }
    const first = Number(m.headers?.get(SEQ));
    if (!Number.isInteger(first) || first < 1 || m.headers?.get(FOR) !== inc.instance) {
      m.ack(); // for an earlier store of this node (or not ours): let it go
      return;
    }
    const batch = this.assemble(inc, first, m);
    if (batch === undefined) return;
    if (first > inc.delivered + 1) {
      inc.early.push(batch);
      return;
    }
    this.hand(inc, batch);
    // Batches that waited for this one, in the order they can go (a later publication's may cover an earlier's).
    for (let i = inc.early.findIndex((b) => b.first <= inc.delivered + 1); i >= 0; i = inc.early.findIndex((b) => b.first <= inc.delivered + 1)) {
      const [next] = inc.early.splice(i, 1);
      this.hand(inc, next as Batch);
    }
  }

  /** The batch `m` is (whole), or completes (its last part), or undefined (a part of one still coming). */
  private assemble(inc: Incoming, first: number, m: JsMsg): Batch | undefined {
    const part = /^(\d+)\/(\d+)$/.exec(m.headers?.get(PART) ?? "");
    if (part === null) return { msgs: [m], first, frames: split(m.data, Number(m.headers?.get(COUNT) ?? 1)) };
    const [i, n] = [Number(part[1]), Number(part[2])];
    if (n > MAX_PARTS || i < 1 || i > n) {
      m.ack(); // not a part this side would ever have sent: let it go
      return undefined;
    }
    const key = first;
    const have = inc.parts.get(key) ?? new Array<JsMsg | undefined>(n).fill(undefined);
    inc.parts.set(key, have);
    if (have[i - 1] !== undefined) m.ack(); // a second copy of that part
    else have[i - 1] = m;
    if (have.some((x) => x === undefined)) return undefined;
    inc.parts.delete(key);
    const msgs = have as JsMsg[];
    const data = new Uint8Array(msgs.reduce((a, x) => a + x.data.length, 0));
    let at = 0;
    for (const x of msgs) {
      data.set(x.data, at);
      at += x.data.length;
    }
    return { msgs, first, frames: [data] };
  }

  /** Hand over the frames of a batch not applied yet (those at or below `delivered` were), in order. */
  private hand(inc: Incoming, b: Batch): void {
    const last = b.first + b.frames.length - 1;
    if (last <= inc.delivered) {
      for (const m of b.msgs) m.ack(); // a copy of what was applied: let it go
      return;
    }
    const entry: Handed = { last, msgs: b.msgs };
    inc.unacked.push(entry);
    for (const m of b.msgs) inc.byStreamSeq.set(m.seq, entry);
    for (let seq = inc.delivered + 1; seq <= last; seq++) {
      inc.delivered = seq;
      inc.onFrame(seq, b.frames[seq - b.first] as Uint8Array);
    }
  }

  /** The node committed what channel `from`'s frames up to `seq` did: they may leave the stream. */
  ack(from: NodeId, link: number, seq: number): void {
    const inc = this.incoming.get(`${from}/${link}`);
    if (inc === undefined) return;
    while (inc.unacked.length > 0 && (inc.unacked[0] as Handed).last <= seq) {
      const done = inc.unacked.shift() as Handed;
      for (const m of done.msgs) {
        m.ack();
        inc.byStreamSeq.delete(m.seq);
      }
    }
  }

  /** Stop reading channel `from` -> self of `link` (its link is gone); what is left of it leaves the stream. */
  async forget(from: NodeId, link: number): Promise<void> {
    const key = `${from}/${link}`;
    const inc = this.incoming.get(key);
    this.incoming.delete(key);
    if (inc !== undefined) {
      inc.stopped = true;
      await inc.messages?.close();
    }
    await this.jsm.consumers.delete(this.stream, this.durable(from, link)).catch(() => false);
    await this.jsm.streams.purge(this.stream, { filter: this.subject(from, this.self, link) });
  }

  /**
   * The link to `to` is gone: what this node sent on it and `to` never read leaves the stream (so that it cannot be
   * applied after it was reported lost). Rejects when the servers cannot be asked now: the caller tries again.
   */
  async retract(to: NodeId, link: number): Promise<void> {
    await this.jsm.streams.purge(this.stream, { filter: this.subject(this.self, to, link) });
  }

  /** Frames of channel self -> `to` (link `link`) still in the stream: not yet acknowledged by `to`. */
  async pending(to: NodeId, link: number): Promise<number> {
    const subject = this.subject(this.self, to, link);
    const s = await this.jsm.streams.info(this.stream, { subjects_filter: subject });
    return s.state.subjects?.[subject] ?? 0;
  }

  /** Stop reading (the NATS connection is its owner's to close). */
  async close(): Promise<void> {
    this.closed = true;
    for (const inc of this.incoming.values()) {
      inc.stopped = true;
      await inc.messages?.close();
    }
    this.incoming.clear();
  }
}

/** A message's frames: `count` of them, each its 4-byte length (big-endian, as frame.ts writes it) and its bytes. */
function split(data: Uint8Array, count: number): Uint8Array[] {
  if (count <= 1) return [data];
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  const out: Uint8Array[] = [];
  for (let at = 0; out.length < count && at + 4 <= data.length; ) {
    const end = at + 4 + view.getUint32(at);
    out.push(data.subarray(at, end));
    at = end;
  }
  return out;
}

/** A NATS client error in words (its code, not a bare "TIMEOUT"). */
function reason(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const text = e instanceof Error ? e.message : String(e);
  if (code === "TIMEOUT" || text === "TIMEOUT") return "the servers did not answer in time (restarting, or electing a JetStream leader)";
  if (code === "503") return "nothing answered its API";
  return text;
}
