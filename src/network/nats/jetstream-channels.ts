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
const NAME = /^[A-Za-z0-9_-]+$/;
/** How long JetStream waits for an acknowledgement before it delivers a frame again (a commit is far quicker). */
const ACK_WAIT_MS = 60_000;
/** A consumer nobody reads for this long is deleted by the server (a node destroyed, a link gone while it was down). */
const INACTIVE_MS = 60 * 60_000;
/** Room left in a message for the headers, under the servers' max_payload. */
const HEADER_ROOM = 1024;
/** Pauses between attempts to read a channel again after its reading stopped (the last one repeats). */
const RELISTEN_MS = [100, 250, 500, 1000, 2000, 5000];

/** A channel's frames as they arrive, in order, each once. */
export type FrameHandler = (seq: number, frame: Uint8Array) => void;

/** A frame as it came from the stream: its messages (one, or its parts), acknowledged together. */
interface Arrived {
  readonly msgs: JsMsg[];
  readonly data: Uint8Array;
}

interface Incoming {
  readonly from: NodeId;
  readonly link: number;
  /** The last sequence number handed to onFrame (a frame at or below it was applied: acknowledged and skipped). */
  delivered: number;
  /** Frames handed over and not yet acknowledged, oldest first. */
  readonly unacked: Map<number, JsMsg[]>;
  /** Frames that came before one they follow (published again after a failure): they wait for it. */
  readonly early: Map<number, Arrived>;
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
  ) {}

  /** On an open NATS connection: make sure the cluster's stream exists (created by whichever node comes first). */
  static async on(nc: NatsConnection, cluster: string, self: NodeId, log: (line: string) => void = () => undefined): Promise<JetStreamChannels> {
    for (const [what, v] of [["cluster", cluster], ["node id", self]] as const) {
      if (!NAME.test(v)) throw new NatsTransportError(`the ${what} "${v}" cannot name a NATS subject; use letters, digits, "-" and "_"`);
    }
    const jsm = await nc.jetstreamManager({ timeout: 5_000 }).catch((e: unknown) => {
      throw new NatsTransportError(`NATS has no JetStream (${reason(e)}); a cluster with stores keeps its frames in a stream: start nats-server with -js and a store directory (-sd)`, { cause: e });
    });
    const c = new JetStreamChannels(nc, cluster, self, nc.jetstream(), jsm, log);
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
    const config = { name: this.stream, subjects: [`liveswap.${this.cluster}.ch.>`], storage: StorageType.File, retention: RetentionPolicy.Workqueue, duplicate_window: 120 * 1_000_000_000 };
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
  private get partBytes(): number {
    return Math.max(4096, (this.nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM);
  }

  /**
   * Put frame `seq` of channel self -> `to` (link incarnation `link`) in the stream, for the receiver's channel
   * instance `instance`, in parts if it is larger than a message; resolves once JetStream stored it. `round` names the
   * sender's round of publications (a copy published again in the same round is dropped by JetStream).
   */
  async publish(to: NodeId, link: number, seq: number, frame: Uint8Array, instance: string, round: number): Promise<void> {
    if (!NAME.test(to)) throw new NatsTransportError(`the node id "${to}" cannot name a NATS subject; use letters, digits, "-" and "_"`);
    const size = this.partBytes;
    const n = Math.max(1, Math.ceil(frame.length / size));
    const id = `${this.self}>${to}/${link}#${seq}@${instance}~${this.life}.${round}`;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const h = headers();
      h.set(SEQ, String(seq));
      h.set(FOR, instance);
      if (n > 1) h.set(PART, `${i + 1}/${n}`);
      sent.push(this.js.publish(this.subject(this.self, to, link), frame.subarray(i * size, (i + 1) * size), { msgID: n > 1 ? `${id}:${i + 1}` : id, headers: h }));
    }
    await Promise.all(sent);
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
    const inc: Incoming = { from, link, delivered: after, unacked: new Map(), early: new Map(), parts: new Map(), instance, onFrame, stopped: false };
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
    const messages = await consumer.consume({ max_messages: 1_000 });
    inc.messages = messages;
    // What was waiting for a frame, or half put together, comes again from the new consumer.
    inc.early.clear();
    inc.parts.clear();
    if (inc.stopped || this.closed) return void (await messages.close());
    for await (const m of messages) {
      if (this.closed || inc.stopped) break;
      this.arrived(inc, m);
    }
  }

  private arrived(inc: Incoming, m: JsMsg): void {
    const seq = Number(m.headers?.get(SEQ));
    const held = inc.unacked.get(seq);
    if (held !== undefined) {
      held.push(m); // delivered again (its ack wait passed before the commit): acknowledged with the commit
      return;
    }
    if (!Number.isInteger(seq) || seq <= inc.delivered || m.headers?.get(FOR) !== inc.instance) {
      m.ack(); // a second copy of a frame applied before, or for an earlier store of this node: let it go
      return;
    }
    const whole = this.assemble(inc, seq, m);
    if (whole === undefined) return;
    if (seq > inc.delivered + 1) {
      inc.early.set(seq, whole);
      return;
    }
    this.hand(inc, seq, whole);
    for (let next = inc.early.get(inc.delivered + 1); next !== undefined; next = inc.early.get(inc.delivered + 1)) {
      inc.early.delete(inc.delivered + 1);
      this.hand(inc, inc.delivered + 1, next);
    }
  }

  /** The frame `m` is (a whole one), or completes (its last part), or undefined (a part of one still coming). */
  private assemble(inc: Incoming, seq: number, m: JsMsg): Arrived | undefined {
    const part = /^(\d+)\/(\d+)$/.exec(m.headers?.get(PART) ?? "");
    if (part === null) return { msgs: [m], data: m.data };
    const [i, n] = [Number(part[1]), Number(part[2])];
    const have = inc.parts.get(seq) ?? new Array<JsMsg | undefined>(n).fill(undefined);
    inc.parts.set(seq, have);
    if (have[i - 1] !== undefined) m.ack(); // a second copy of that part
    else have[i - 1] = m;
    if (have.some((x) => x === undefined)) return undefined;
    inc.parts.delete(seq);
    const msgs = have as JsMsg[];
    const data = new Uint8Array(msgs.reduce((a, x) => a + x.data.length, 0));
    let at = 0;
    for (const x of msgs) {
      data.set(x.data, at);
      at += x.data.length;
    }
    return { msgs, data };
  }

  private hand(inc: Incoming, seq: number, a: Arrived): void {
    inc.delivered = seq;
    inc.unacked.set(seq, a.msgs);
    inc.onFrame(seq, a.data);
  }

  /** The node committed what channel `from`'s frames up to `seq` did: they may leave the stream. */
  ack(from: NodeId, link: number, seq: number): void {
    const inc = this.incoming.get(`${from}/${link}`);
    if (inc === undefined) return;
    for (const [s, msgs] of inc.unacked) {
      if (s > seq) break;
      for (const m of msgs) m.ack();
      inc.unacked.delete(s);
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

/** A NATS client error in words (its code, not a bare "TIMEOUT"). */
function reason(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const text = e instanceof Error ? e.message : String(e);
  if (code === "TIMEOUT" || text === "TIMEOUT") return "the servers did not answer in time (restarting, or electing a JetStream leader)";
  if (code === "503") return "nothing answered its API";
  return text;
}
