/**
 * Node-to-node channels over NATS JetStream (issue 20's transport; the daemon's wiring is the next step): each
 * directed channel a -> b is one subject, `liveswap.<cluster>.ch.<a>.<b>`, of one stream per cluster, written by a
 * alone, so the stream keeps its order. A frame carries its channel sequence number (header `Liveswap-Seq`, and the
 * message id `<a>><b>#<seq>` that JetStream deduplicates a republished frame by). b reads its incoming channel through
 * a durable pull consumer of its own and acknowledges a frame only when its store committed what the frame did
 * (`ack`): a node that crashes reads again from its oldest unacknowledged frame, and drops what it had applied by
 * sequence number. Messages to a node that is down wait in the stream (file storage: they survive a restart of the
 * server too). Work-queue retention deletes a frame once acknowledged, so the stream holds what is in flight only.
 */
import { AckPolicy, connect, DeliverPolicy, headers, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from "nats";
import type { NodeId } from "../../core/ids.js";
import { NatsTransportError } from "./errors.js";

export interface JetStreamChannelsOptions {
  /** NATS servers (`nats://host:4222`), tried in turn. */
  readonly servers: readonly string[];
  /** The cluster's name: its stream and subjects (letters, digits, `-`, `_`). */
  readonly cluster: string;
  readonly self: NodeId;
  /** A frame of channel `from` -> self, in order, each sequence number once (unless `ack` was not called before a restart). */
  readonly onFrame: (from: NodeId, seq: number, frame: Uint8Array) => void;
  /** How long JetStream waits for an ack before it redelivers (default 60 s: a commit is far quicker). */
  readonly ackWaitMs?: number;
}

const SEQ = "Liveswap-Seq";
const NAME = /^[A-Za-z0-9_-]+$/;

interface Incoming {
  readonly from: NodeId;
  /** The last sequence number delivered to onFrame (what a redelivery at or below it is). */
  delivered: number;
  /** Frames delivered and not yet acknowledged, by sequence number. */
  readonly unacked: Map<number, JsMsg>;
  messages?: ConsumerMessages;
}

export class JetStreamChannels {
  private readonly incoming = new Map<NodeId, Incoming>();
  private closed = false;

  private constructor(
    private readonly o: JetStreamChannelsOptions,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  /** Connect, and make sure the cluster's stream exists (created by whichever node comes first). */
  static async open(o: JetStreamChannelsOptions): Promise<JetStreamChannels> {
    for (const [what, v] of [["cluster", o.cluster], ["node id", o.self]] as const) {
      if (!NAME.test(v)) throw new NatsTransportError(`the ${what} "${v}" cannot name a NATS subject; use letters, digits, "-" and "_"`);
    }
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: [...o.servers], name: `liveswap-${o.cluster}-${o.self}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    } catch (e) {
      throw new NatsTransportError(`cannot reach NATS at ${o.servers.join(", ")} (${e instanceof Error ? e.message : String(e)}); check that nats-server runs there with JetStream (-js)`, { cause: e });
    }
    const jsm = await nc.jetstreamManager().catch((e: unknown) => {
      void nc.close();
      throw new NatsTransportError(`NATS at ${o.servers.join(", ")} has no JetStream (${e instanceof Error ? e.message : String(e)}); start nats-server with -js and a store directory (-sd)`, { cause: e });
    });
    const c = new JetStreamChannels(o, nc, nc.jetstream(), jsm);
    await c.ensureStream();
    return c;
  }

  private get stream(): string {
    return `LIVESWAP_${this.o.cluster}`;
  }

  private subject(from: NodeId, to: NodeId): string {
    return `liveswap.${this.o.cluster}.ch.${from}.${to}`;
  }

  private async ensureStream(): Promise<void> {
    const config = { name: this.stream, subjects: [`liveswap.${this.o.cluster}.ch.>`], storage: StorageType.File, retention: RetentionPolicy.Workqueue, duplicate_window: 120 * 1_000_000_000 };
    try {
      await this.jsm.streams.info(this.stream);
    } catch {
      await this.jsm.streams.add(config).catch(async (e: unknown) => {
        // Another node made it meanwhile: fine.
        if (!(await this.jsm.streams.info(this.stream).then(() => true, () => false))) throw e;
      });
    }
  }

  /** Put frame `seq` of channel self -> `to` in the stream; resolves once JetStream stored it (durably). */
  async send(to: NodeId, seq: number, frame: Uint8Array): Promise<void> {
    if (!NAME.test(to)) throw new NatsTransportError(`the node id "${to}" cannot name a NATS subject; use letters, digits, "-" and "_"`);
    const h = headers();
    h.set(SEQ, String(seq));
    await this.js.publish(this.subject(this.o.self, to), frame, { msgID: `${this.o.self}>${to}#${seq}`, headers: h });
  }

  /**
   * Read channel `from` -> self from its oldest unacknowledged frame, skipping what was delivered up to `after` (the
   * node's committed position: a frame applied but not yet acknowledged before a crash).
   */
  async listen(from: NodeId, after: number): Promise<void> {
    if (this.incoming.has(from)) return;
    const inc: Incoming = { from, delivered: after, unacked: new Map() };
    this.incoming.set(from, inc);
    const durable = `${this.o.self}-from-${from}`;
    const subject = this.subject(from, this.o.self);
    // This process is the channel's only reader: the consumer an earlier process left (it crashed with frames
    // delivered and not acknowledged) is made anew, so that they come again first, in order, now rather than after
    // its ack wait (and after later frames). The stream keeps every frame not acknowledged (work-queue retention).
    await this.jsm.consumers.delete(this.stream, durable).catch(() => false);
    await this.jsm.consumers.add(this.stream, { durable_name: durable, filter_subject: subject, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: (this.o.ackWaitMs ?? 60_000) * 1_000_000, max_ack_pending: 100_000 });
    const consumer = await this.js.consumers.get(this.stream, durable);
    inc.messages = await consumer.consume({ max_messages: 1_000 });
    void this.pump(inc, inc.messages);
  }

  private async pump(inc: Incoming, messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      if (this.closed) break;
      const seq = Number(m.headers?.get(SEQ));
      if (!Number.isInteger(seq) || seq <= inc.delivered) {
        m.ack(); // applied before (a redelivery), or not ours: nothing to do with it but let it go
        continue;
      }
      inc.delivered = seq;
      inc.unacked.set(seq, m);
      this.o.onFrame(inc.from, seq, m.data);
    }
  }

  /** The node committed what channel `from`'s frames up to `seq` did: they may leave the stream. */
  ack(from: NodeId, seq: number): void {
    const inc = this.incoming.get(from);
    if (inc === undefined) return;
    for (const [s, m] of inc.unacked) {
      if (s > seq) break;
      m.ack();
      inc.unacked.delete(s);
    }
  }

  /** Frames of channel self -> `to` still in the stream (not yet acknowledged by `to`). */
  async pending(to: NodeId): Promise<number> {
    const info = await this.jsm.consumers.info(this.stream, `${to}-from-${this.o.self}`).catch(() => undefined);
    if (info !== undefined) return info.num_pending + info.num_ack_pending;
    const s = await this.jsm.streams.info(this.stream, { subjects_filter: this.subject(this.o.self, to) });
    return s.state.subjects?.[this.subject(this.o.self, to)] ?? 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const inc of this.incoming.values()) await inc.messages?.close();
    await this.nc.drain().catch(() => this.nc.close());
  }
}
