/**
 * Durable node-to-node channels over NATS JetStream (issue 20): a durable node's data frames to a neighbour go through
 * a stream, so that frames to a node that is down (crashed, restarting, cut off) wait in the stream, on the servers'
 * disks, and survive a restart of the servers too.
 *
 * Each directed channel of a link incarnation is one subject, `liveswap.<cluster>.ch.<from>.<to>.<link>`, of one
 * work-queue stream per cluster, written by `from` alone, so the stream keeps its order. A frame carries its channel
 * sequence number (header `Liveswap-Seq`; the message id `<from>><to>/<link>#<seq>@<instance>` lets JetStream drop
 * a frame published twice) and the receiver's channel instance it is meant for (`Liveswap-For`: a frame left in the stream
 * for an earlier store of the receiver is dropped, not applied). The receiver reads through a durable pull consumer
 * of its own, delivers frames in sequence order (a frame whose publication failed and was published again comes
 * after its successors: those wait for it here), skips what its store had applied, and acknowledges a frame once its
 * store committed what the frame did (`ack`); an acknowledged frame leaves the stream.
 */
import { AckPolicy, DeliverPolicy, headers, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from "nats";
import type { NodeId } from "../../core/ids.js";
import { NatsTransportError } from "./errors.js";

const SEQ = "Liveswap-Seq";
const FOR = "Liveswap-For";
const NAME = /^[A-Za-z0-9_-]+$/;
/** How long JetStream waits for an acknowledgement before it delivers a frame again (a commit is far quicker). */
const ACK_WAIT_MS = 60_000;

/** A channel's frames as they arrive, in order, each once. */
export type FrameHandler = (seq: number, frame: Uint8Array) => void;

interface Incoming {
  /** The last sequence number handed to onFrame (a frame at or below it was applied: acknowledged and skipped). */
  delivered: number;
  /** Frames handed over and not yet acknowledged, oldest first. */
  readonly unacked: Map<number, JsMsg>;
  /** Frames that came before one they follow (published again after a failure): they wait for it. */
  readonly early: Map<number, JsMsg>;
  readonly instance: string;
  readonly onFrame: FrameHandler;
  messages?: ConsumerMessages;
  stopped: boolean;
}

export class JetStreamChannels {
  private readonly incoming = new Map<string, Incoming>();
  private closed = false;

  private constructor(
    private readonly cluster: string,
    private readonly self: NodeId,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  /** On an open NATS connection: make sure the cluster's stream exists (created by whichever node comes first). */
  static async on(nc: NatsConnection, cluster: string, self: NodeId): Promise<JetStreamChannels> {
    for (const [what, v] of [["cluster", cluster], ["node id", self]] as const) {
      if (!NAME.test(v)) throw new NatsTransportError(`the ${what} "${v}" cannot name a NATS subject; use letters, digits, "-" and "_"`);
    }
    const jsm = await nc.jetstreamManager({ timeout: 5_000 }).catch((e: unknown) => {
      throw new NatsTransportError(`NATS has no JetStream (${e instanceof Error ? e.message : String(e)}); a cluster with stores keeps its frames in a stream: start nats-server with -js and a store directory (-sd)`, { cause: e });
    });
    const c = new JetStreamChannels(cluster, self, nc.jetstream(), jsm);
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
    try {
      await this.jsm.streams.info(this.stream);
    } catch {
      await this.jsm.streams.add(config).catch(async (e: unknown) => {
        // Another node made it meanwhile: fine.
        if (!(await this.jsm.streams.info(this.stream).then(() => true, () => false))) throw e;
      });
    }
  }

  /**
   * Put frame `seq` of channel self -> `to` (link incarnation `link`) in the stream, for the receiver's channel
   * instance `instance`; resolves once JetStream stored it.
   */
  async publish(to: NodeId, link: number, seq: number, frame: Uint8Array, instance: string): Promise<void> {
    if (!NAME.test(to)) throw new NatsTransportError(`the node id "${to}" cannot name a NATS subject; use letters, digits, "-" and "_"`);
    const h = headers();
    h.set(SEQ, String(seq));
    h.set(FOR, instance);
    await this.js.publish(this.subject(this.self, to, link), frame, { msgID: `${this.self}>${to}/${link}#${seq}@${instance}`, headers: h });
  }

  /**
   * Read channel `from` -> self of link `link` from its oldest unacknowledged frame, skipping what was applied up to
   * `after` (the store's position: a frame applied but not yet acknowledged before a crash); `instance` is this side's
   * channel instance (frames for another are dropped).
   */
  async listen(from: NodeId, link: number, after: number, instance: string, onFrame: FrameHandler): Promise<void> {
    const key = `${from}/${link}`;
    if (this.incoming.has(key)) return;
    const inc: Incoming = { delivered: after, unacked: new Map(), early: new Map(), instance, onFrame, stopped: false };
    this.incoming.set(key, inc);
    const durable = this.durable(from, link);
    // This process is the channel's only reader: the consumer an earlier process left (it crashed with frames
    // delivered and not acknowledged) is made anew, so that they come again first, in order, now rather than after
    // its ack wait (and after later frames). The stream keeps every frame not acknowledged (work-queue retention).
    await this.jsm.consumers.delete(this.stream, durable).catch(() => false);
    await this.jsm.consumers.add(this.stream, { durable_name: durable, filter_subject: this.subject(from, this.self, link), ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: ACK_WAIT_MS * 1_000_000, max_ack_pending: 100_000 });
    const consumer = await this.js.consumers.get(this.stream, durable);
    if (inc.stopped) return;
    inc.messages = await consumer.consume({ max_messages: 1_000 });
    void this.pump(inc, inc.messages);
  }

  private async pump(inc: Incoming, messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      if (this.closed || inc.stopped) break;
      const seq = Number(m.headers?.get(SEQ));
      if (inc.unacked.has(seq)) {
        inc.unacked.set(seq, m); // delivered again (its ack wait passed before the commit): acknowledged with the commit
        continue;
      }
      if (!Number.isInteger(seq) || seq <= inc.delivered || m.headers?.get(FOR) !== inc.instance) {
        m.ack(); // a second copy of a frame applied before, or for an earlier store of this node: let it go
        continue;
      }
      if (seq > inc.delivered + 1) {
        inc.early.set(seq, m);
        continue;
      }
      this.hand(inc, seq, m);
      for (let next = inc.early.get(inc.delivered + 1); next !== undefined; next = inc.early.get(inc.delivered + 1)) {
        inc.early.delete(inc.delivered + 1);
        this.hand(inc, inc.delivered + 1, next);
      }
    }
  }

  private hand(inc: Incoming, seq: number, m: JsMsg): void {
    inc.delivered = seq;
    inc.unacked.set(seq, m);
    inc.onFrame(seq, m.data);
  }

  /** The node committed what channel `from`'s frames up to `seq` did: they may leave the stream. */
  ack(from: NodeId, link: number, seq: number): void {
    const inc = this.incoming.get(`${from}/${link}`);
    if (inc === undefined) return;
    for (const [s, m] of inc.unacked) {
      if (s > seq) break;
      m.ack();
      inc.unacked.delete(s);
    }
  }

  /** Stop reading channel `from` -> self of `link` (its link is gone); with `purge`, what is left of it leaves the stream. */
  async forget(from: NodeId, link: number, purge: boolean): Promise<void> {
    const key = `${from}/${link}`;
    const inc = this.incoming.get(key);
    this.incoming.delete(key);
    if (inc !== undefined) {
      inc.stopped = true;
      await inc.messages?.close();
    }
    if (!purge) return;
    await this.jsm.consumers.delete(this.stream, this.durable(from, link)).catch(() => false);
    await this.jsm.streams.purge(this.stream, { filter: this.subject(from, this.self, link) }).catch(() => undefined);
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
