import type net from "node:net";
import type { Duplex } from "node:stream";
import type { ControlEnvelope, Envelope } from "../../core/envelope.js";
import { asError, describeError, messageOf, WireFormatError } from "../../core/errors.js";
import { failpoint } from "../../core/failpoints.js";
import { CONTROL, type NodeId } from "../../core/ids.js";
import type { Network } from "../../core/network.js";
import type { Codec } from "./codec.js";
import { codecMismatch, helloCodec } from "./codec-choice.js";
import { Connection } from "./connection.js";
import { FrameTooLargeToSendError, MAX_FRAME_BYTES } from "./frame.js";
import { SpillBudget, type BusyState, type OutboxOptions } from "./outbox-spill.js";
import { DEFAULT_HEARTBEAT, PeerLiveness, type HeartbeatOptions } from "./heartbeat.js";
import { PeerChannel, type DurableChannel, type FrameStream } from "./peer-channel.js";
import { checkWireMessage } from "./wire-check.js";
import { dial, listenOn, peerName, type Listening, type SocketTransport, type TlsMaterial } from "./sockets.js";
import { wallNow, type LamportClock } from "./lamport-clock.js";
import { WIRE_FORMAT, wireFormatMismatch, type Command, type PeerStatus, type WireMessage } from "./protocol.js";

/**
 * Durable channels' data through a stream instead of the connections (the NATS transport's JetStream:
 * network/nats/jetstream-channels.ts), by neighbour and link incarnation. Hellos, acknowledgements, heartbeats and
 * the control plane stay on the connections.
 */
export interface StreamCarrier {
  /** Resolves once the stream can be used (the daemon waits for it before it starts). */
  ready(): Promise<void>;
  /**
   * `count` frames from `seq` on (each length-prefixed, as on a connection) in one publication. `round`: the sender's
   * round of publications (its connections to the peer so far): a copy within one is dropped.
   */
  publish(to: NodeId, link: number, seq: number, frames: Uint8Array, instance: string, round: number, count: number): Promise<void>;
  /** Read channel `from` -> self of `link` after `after`, for this side's channel instance `instance`, in order, until forgotten. */
  listen(from: NodeId, link: number, after: number, instance: string, onFrame: (seq: number, frame: Uint8Array) => void): void;
  ack(from: NodeId, link: number, seq: number): void;
  /** Stop reading a channel whose link is gone, and let go of what is left of it. */
  forget(from: NodeId, link: number): Promise<void>;
  /** What this node sent on a link now gone and the peer never read leaves the stream (rejects if it cannot now). */
  retract(to: NodeId, link: number): Promise<void>;
}

export interface TcpNetworkOptions {
  readonly self: NodeId;
  readonly address: string;
  /** The link's codec, as codec-choice.ts's wireCodec gives it (the handshake frames in JSON whatever the codec). */
  readonly codec: Codec;
  readonly tls?: TlsMaterial;
  /** What carries the connections when not TCP (the NATS transport); addresses are then that transport's. */
  readonly sockets?: SocketTransport;
  /** Where durable channels' data frames go instead (the NATS transport's JetStream), if anywhere. */
  readonly stream?: StreamCarrier;
  readonly clock: LamportClock;
  /** An envelope from a neighbour (in channel order) or from the control plane. */
  readonly onEnvelope: (env: Envelope) => void;
  readonly onTimer: (node: NodeId, incarnation: number, tag: string, timer: number) => void;
  readonly onCommand: (session: ControlSession, id: number, cmd: Command) => void;
  /** Messages sent to a neighbour that will never arrive: its process restarted before acknowledging them, or the link went away. */
  readonly onLost?: (envs: readonly Envelope[], reason: "destroyed" | "unlinked") => void;
  /** Something worth a line in the node's log (refused peers, reconnects). */
  readonly log?: (line: string) => void;
  /** A neighbour acknowledged our frames up to `seq` (a durable node prunes its outbox). */
  readonly onAcked?: (peer: NodeId, seq: number) => void;
  /** A control plane acknowledged the node's plane envelopes up to `seq` (a durable node prunes its outbox). */
  readonly onPlaneAck?: (link: number, seq: number) => void;
  /**
   * A control plane connected, naming its instance (`chan`): a durable node answers with its applied position on that
   * plane channel and resends its reports the plane has not acknowledged (`recv`: the last it applied).
   */
  readonly onControlHello?: (session: ControlSession, chan: string | undefined, recv: number) => number;
  /** A neighbour's hello names the instance of our channel it last talked to: a reason to refuse it, if any. */
  readonly checkPeer?: (peer: NodeId, seen: string | undefined) => string | undefined;
  /** A neighbour refused this node for good (`fenced`: it came back from a stale record): the node must stop. */
  readonly onFenced?: (peer: NodeId, reason: string) => void;
  /**
   * What this node says of itself in every hello: its location epoch (deploy/node-location.ts; absent: 0), and, when
   * it was started from a record, the version it runs (`imported`).
   */
  readonly identity?: () => { readonly loc: number; readonly imported?: string };
  /**
   * A neighbour's hello: why it is refused for good (an older location of a node that moved, or a record of a version
   * this node retired), or undefined to take it.
   */
  readonly fenceHello?: (peer: NodeId, hello: { readonly loc: number; readonly imported?: string }) => string | undefined;
  /** After our hello answered the control plane's: resend the reports it has not applied (after `recv`). */
  readonly onControlResumed?: (session: ControlSession, recv: number) => void;
  /** Bounds of the outboxes to neighbours, and where they spill (default: a temporary directory made on first use). */
  readonly outbox?: Partial<OutboxOptions> & { readonly spillDir?: string };
  /** Heartbeats on every connection and the suspicion timeout (default DEFAULT_HEARTBEAT: 1 s, suspected after 10 s). */
  readonly heartbeat?: HeartbeatOptions;
  /**
   * A neighbour became suspected (silent past the timeout; its connection is closed and redialled), or was heard
   * again; `silentMs`: how long it had been silent (suspected), or how long it was out of reach in all (heard again).
   */
  readonly onSuspect?: (peer: NodeId, suspected: boolean, silentMs: number) => void;
  /**
   * A neighbour says it no longer has our link of incarnation `link` (unlinked while this node was down): drop it.
   * True once it is gone here (or was), false when the node cannot drop it yet (it is told again later).
   */
  readonly onUnlinked?: (peer: NodeId, link: number) => boolean;
}

/** A connection from the control plane (`liveswap ctl`, a test's cluster client). */
export class ControlSession {
  constructor(
    readonly conn: Connection,
    readonly name: string,
  ) {}
  /**
   * A reply that cannot be sent (over the frame limit, or a value the codec refuses) fails its one command instead:
   * what a node is asked to send never takes down the node or the connection.
   */
  reply(id: number, value: unknown): void {
    try {
      this.conn.send({ kind: "reply", id, ok: true, value });
    } catch (e) {
      this.fail(id, e instanceof FrameTooLargeToSendError ? new FrameTooLargeToSendError(e.bytes, `the answer to this command`) : asError(e));
    }
  }
  fail(id: number, error: Error): void {
    const { code, detail } = error as { code?: unknown; detail?: unknown };
    this.conn.send({ kind: "reply", id, ok: false, error: error.message, ...(typeof code === "string" ? { code } : {}), ...(typeof detail === "string" ? { detail } : {}) });
  }
  /**
   * The pieces of a long answer to command `id` ("trace-chunk" frames), each sent once the previous ones left the
   * socket's buffer; returns how many were sent (the reply that follows says so). Stops if the connection closes.
   */
  async sendPieces(id: number, pieces: Iterable<string>): Promise<number> {
    let seq = 0;
    for (const text of pieces) {
      if (this.conn.closed) break;
      if (!this.conn.send({ kind: "trace-chunk", id, seq: seq++, text })) await this.conn.drained();
    }
    return seq;
  }
}

const RETRY_MS = [20, 50, 100, 200, 500, 1000];
/** How long a dialled neighbour has to answer our hello before the connection is dropped and dialled again. */
const HELLO_TIMEOUT_MS = 5_000;
/**
 * The largest frame taken before a connection's hello: a hello is a few hundred bytes, and a stranger's length prefix
 * must not make this process buffer 64 MiB for it.
 */
const HELLO_MAX_FRAME_BYTES = 64 * 1024;
/** How long an accepted connection may go without a hello (longer than a dialler waits for ours: a loaded caller is slow). */
const ACCEPT_HELLO_MS = 10_000;

/**
 * The network of one node process: one TCP (or TLS) connection per link, FIFO
 * kept across reconnects by the peer channels, control sessions, and timers
 * on the event loop. It implements the same Network interface as the
 * simulated network; the node runtime and the strategies above it cannot tell.
 * The node with the smaller id dials, the other accepts.
 */
export class TcpNetwork implements Network {
  private readonly channels = new Map<NodeId, PeerChannel>();
  private readonly addresses = new Map<NodeId, string>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly sessions = new Set<ControlSession>();
  /** Every open socket, accepted or dialled, so that close() leaves none behind (half-open, mid-handshake, idle). */
  private readonly sockets = new Set<Duplex>();
  /** Channels of removed links, kept until what they sent is acknowledged. */
  private readonly draining = new Map<NodeId, PeerChannel>();
  private readonly refusedLogged = new Set<string>();
  private readonly formatLogged = new Set<string>();
  /** Durable links removed here, by neighbour: a reconnection of that incarnation is refused as unlinked (see tellUnlinked). */
  private readonly unlinked = new Map<NodeId, { readonly link: number; readonly address: string }>();
  /** Durable channels whose frames this process reads from the stream (see readStream). */
  private readonly reading = new WeakSet<PeerChannel>();
  private controller: ControlSession | undefined;
  private server: Listening | undefined;
  private nextTimer = 0;
  private closed = false;
  private readonly heartbeat: HeartbeatOptions;
  /** Who is suspected (heartbeats: heartbeat.ts), judged every interval while the network runs. */
  private readonly liveness: PeerLiveness;
  private livenessTimer: NodeJS.Timeout | undefined;

  private readonly spill: SpillBudget;

  constructor(private readonly o: TcpNetworkOptions) {
    this.spill = new SpillBudget(o.outbox, o.outbox?.spillDir, o.self, o.log);
    this.heartbeat = o.heartbeat ?? DEFAULT_HEARTBEAT;
    this.liveness = new PeerLiveness(this.heartbeat, (peer, suspected, silentMs) => this.suspicionChanged(peer, suspected, silentMs));
  }

  /** Set when new outside requests must be refused: the outboxes' spill is near its disk quota. */
  busy(): BusyState | undefined {
    return this.spill.busy();
  }

  async start(): Promise<void> {
    await this.o.stream?.ready();
    this.server = await listenOn(this.o.address, this.o.tls, (s) => this.accept(s), this.o.sockets);
    this.watchLiveness();
  }

  now(): number {
    return wallNow();
  }

  transmit(env: Envelope): void {
    const lc = this.o.clock.value;
    if (env.to === CONTROL) {
      this.controller?.conn.send({ kind: "plane", lc, env: env as ControlEnvelope });
      return;
    }
    const channel = this.channels.get(env.to);
    // No channel: its link was removed after the step that sent this (a group commit released it later, or a
    // forgotten neighbour's link went in the same batch). It is lost with the link, and said so.
    if (channel === undefined) {
      if (env.kind === "app") this.o.onLost?.([env], "unlinked");
      return;
    }
    channel.send(lc, env);
  }

  startTimer(node: NodeId, incarnation: number, delayMs: number, tag: string, timer: number): void {
    const id = ++this.nextTimer;
    this.timers.set(
      id,
      setTimeout(() => {
        this.timers.delete(id);
        if (!this.closed) this.o.onTimer(node, incarnation, tag, timer);
      }, Math.max(0, delayMs)),
    );
  }

  /**
   * Open (or keep) the channel to a neighbour; the smaller id dials. A durable node's channel is its host's (numbers,
   * outbox, applied position), of the link's incarnation: a link made again is a new channel, never a revived one.
   */
  addPeer(peer: NodeId, address: string, durable?: DurableChannel): void {
    this.addresses.set(peer, address);
    this.unlinked.delete(peer);
    if (this.channels.has(peer)) return;
    this.liveness.watch(peer);
    const revived = durable === undefined ? this.draining.get(peer) : undefined;
    if (revived !== undefined) this.draining.delete(peer);
    const link = durable !== undefined ? linkOf(durable.instance) : undefined;
    const frames = this.o.stream !== undefined && link !== undefined ? frameStream(this.o.stream, peer, link, this.o.log) : undefined;
    const channel = revived ?? new PeerChannel(peer, this.o.codec, durable, this.spill, frames);
    this.channels.set(peer, channel);
    if (this.o.self < peer && revived === undefined) void this.dialLoop(peer, channel);
  }

  /**
   * Start reading a durable neighbour's frames from the stream, once this process took a hello of it on that link: a
   * link the neighbour removed while this node was down is refused in that hello (and dropped here), never read from
   * the stream first. From then on the stream is read whether or not the connection is up.
   */
  private readStream(channel: PeerChannel): void {
    const link = linkOf(channel.id);
    const stream = this.o.stream;
    if (stream === undefined || link === undefined || this.reading.has(channel)) return;
    this.reading.add(channel);
    stream.listen(channel.peer, link, channel.received, channel.id, (seq, frame) => this.streamed(channel, seq, frame));
  }

  /**
   * A data frame of a durable neighbour from the stream, in order: checked as one from a connection is (a frame that
   * does not decode, is not a data frame or names other ends is refused, logged), then delivered once.
   */
  private streamed(channel: PeerChannel, seq: number, frame: Uint8Array): void {
    if (this.closed || (this.channels.get(channel.peer) !== channel && this.draining.get(channel.peer) !== channel)) return;
    let msg: WireMessage;
    try {
      msg = checkWireMessage(this.o.codec.decode(Buffer.from(frame.buffer, frame.byteOffset + 4, frame.length - 4)));
    } catch (e) {
      this.o.log?.(`refused frame #${seq} of "${channel.peer}" from the stream: ${messageOf(e)}`);
      return;
    }
    if (msg.kind !== "data" || msg.seq !== seq || msg.env.from !== channel.peer || msg.env.to !== this.o.self) {
      this.o.log?.(`refused frame #${seq} of "${channel.peer}" from the stream: a "${msg.kind}" frame${msg.kind === "data" ? ` #${msg.seq} from "${msg.env.from}" to "${msg.env.to}"` : ""}`);
      return;
    }
    if (!channel.acceptStreamed(seq)) return;
    failpoint("tcp.frame-received");
    this.o.clock.observe(msg.lc);
    try {
      this.o.onEnvelope(msg.env);
    } catch (e) {
      this.o.log?.(`refused ${envelopeName(msg.env)} from node "${channel.peer}" (the stream): the node could not take it (${describeError(e)})`);
    }
  }

  /**
   * The link is gone: nothing more is sent on it, but the channel stays open
   * until the neighbour acknowledged what was sent (it drops those messages as
   * unlinked, and traces it), so none vanishes untraced. After `drainMs` what
   * is still unacknowledged is reported lost.
   */
  removePeer(peer: NodeId, drainMs = 5000): void {
    const channel = this.channels.get(peer);
    this.channels.delete(peer);
    if (channel === undefined) return;
    this.liveness.forget(peer);
    this.rememberUnlinked(peer, channel);
    this.draining.set(peer, channel);
    const deadline = performance.now() + drainMs;
    const check = (): void => {
      if (this.draining.get(peer) !== channel) return; // linked again meanwhile
      if (channel.pending > 0 && performance.now() < deadline && !this.closed) {
        setTimeout(check, 20).unref();
        return;
      }
      this.draining.delete(peer);
      this.addresses.delete(peer);
      void this.retire(peer, channel, drainMs);
    };
    check();
  }

  /**
   * A removed link's channel, drained: over a stream, what it sent and the peer never read leaves the stream first
   * (tried until the servers answer), so that nothing reported lost is applied later; then the rest is reported lost.
   */
  private async retire(peer: NodeId, channel: PeerChannel, drainMs: number): Promise<void> {
    const link = linkOf(channel.id);
    const stream = this.o.stream;
    if (stream !== undefined && link !== undefined) {
      void stream.forget(peer, link).catch(() => undefined); // the neighbour's frames to us: a consumer left behind expires
      // Nothing more goes into the stream, and what was on its way got there (or failed), before the unread is taken out.
      await channel.stopPublishing();
      // Closing: one attempt (the process stops; over TCP the rest would be reported lost at once too).
      for (let attempt = 0; ; attempt++) {
        try {
          await stream.retract(peer, link);
          break;
        } catch (e) {
          if (this.closed) break;
          if (attempt === 2) this.o.log?.(`link to "${peer}" removed: cannot take its unread frames out of the stream yet (${messageOf(e)}); retrying`);
          await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
        }
      }
    }
    const lost = channel.unacknowledged();
    if (lost.length > 0) {
      this.o.log?.(`link to "${peer}" removed with ${lost.length} message(s) unacknowledged after ${drainMs} ms: reported lost`);
      this.o.onLost?.(lost, "unlinked");
    }
    channel.close();
  }

  peers(): readonly PeerStatus[] {
    return [...this.channels.values()]
      .map((c) => ({ id: c.peer, connected: c.connection !== undefined, unacked: c.pending, reconnects: c.reconnects, duplicates: c.duplicates, spilledBytes: c.spilledBytes, sent: c.sent, received: c.received, ...this.livenessOf(c) }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** A durable node committed the steps that applied the neighbour's frames up to `seq`. */
  ackPeer(peer: NodeId, seq: number): void {
    this.channels.get(peer)?.ackTo(seq);
  }

  /** A durable node committed the control plane's envelopes up to `seq` on plane channel `link`. */
  ackPlane(link: number, seq: number): void {
    this.controller?.conn.send({ kind: "plane-ack", link, seq });
  }

  /** Send a plane envelope to one control session (a resend after it reconnected). */
  sendPlane(session: ControlSession, env: ControlEnvelope): void {
    session.conn.send({ kind: "plane", lc: this.o.clock.value, env });
  }

  /** Close every connection to a neighbour (they reconnect and resend): a drill for the reconnect path. */
  sever(): void {
    for (const c of this.channels.values()) c.connection?.close();
  }

  /** Neighbour `peer` moved to `address`: its connection (to the old location) closes, and it is dialled there. */
  redirect(peer: NodeId, address: string): void {
    if (!this.addresses.has(peer)) return;
    this.addresses.set(peer, address);
    this.channels.get(peer)?.connection?.close();
  }

  /** Where neighbour `peer` is dialled now. */
  addressOf(peer: NodeId): string | undefined {
    return this.addresses.get(peer);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.livenessTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const c of this.channels.values()) c.close();
    for (const c of this.draining.values()) c.close();
    // Control sessions end gracefully: a reply written just before (destroy's) still reaches the control plane.
    for (const s of this.sessions) {
      s.conn.socket.end();
      setTimeout(() => s.conn.close(), 1000).unref();
    }
    // Anything else still open (a half-open peer, a handshake that never finished) would keep the server from closing.
    setTimeout(() => {
      for (const sock of this.sockets) sock.destroy();
    }, 1100).unref();
    await this.server?.close();
    this.spill.close();
  }

  /** Keep `channel` connected while it is this peer's channel (or drains); a later channel gets a loop of its own. */
  private async dialLoop(peer: NodeId, channel: PeerChannel): Promise<void> {
    let attempt = 0;
    const mine = (): boolean => this.channels.get(peer) === channel || this.draining.get(peer) === channel;
    while (!this.closed && mine()) {
      const address = this.addresses.get(peer);
      if (address === undefined) return;
      if (channel.connection === undefined) {
        try {
          const socket = await dial(address, this.o.tls, peer, undefined, this.o.sockets);
          if (this.closed || !mine()) {
            socket.destroy();
            return;
          }
          const conn = this.wrap(socket);
          conn.send({ kind: "hello", from: this.o.self, role: "node", ...channel.hello(), format: WIRE_FORMAT, ...helloCodec(this.o.codec), ...this.locationField() });
          // A listener that accepts and never answers our hello (a process stuck, or another program on the port)
          // must not hold the channel for ever: give it HELLO_TIMEOUT_MS, then dial again.
          const silent = setTimeout(() => {
            if (!conn.helloed) socket.destroy();
          }, HELLO_TIMEOUT_MS);
          await new Promise<void>((resolve) => socket.once("close", () => resolve()));
          clearTimeout(silent);
          // Back off again from the start only if the neighbour took us (it may refuse: not linked on its side yet).
          if (channel.connection === undefined && conn.helloed) attempt = 0;
        } catch (e) {
          if (attempt === 3) this.o.log?.(`cannot reach "${peer}" at ${address} yet (${messageOf(e)}); retrying`);
        }
      }
      await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)]));
    }
  }

  private accept(socket: Duplex): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const conn = this.wrap(socket);
    // A caller that never says who it is (garbage, a port scanner, a stuck process) does not keep a socket here.
    const silent = setTimeout(() => {
      if (!conn.helloed && !conn.closed) {
        this.o.log?.(`closed a connection from ${remoteOf(socket)}: no hello within ${ACCEPT_HELLO_MS} ms`);
        conn.close();
      }
    }, ACCEPT_HELLO_MS);
    silent.unref();
    socket.once("close", () => clearTimeout(silent));
  }

  private wrap(socket: Duplex): Connection {
    // The far end, kept now: a closed socket no longer says where it came from.
    const role: ConnectionRole = { remote: remoteOf(socket) };
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    const conn = new Connection(
      socket,
      this.o.codec,
      (msg, c) => this.onMessage(role, msg, c),
      (c) => {
        this.connectionClosed(role, c);
        role.peer?.detach(c);
        if (role.session !== undefined) {
          this.sessions.delete(role.session);
          if (this.controller === role.session) this.controller = undefined;
        }
      },
      { heartbeat: this.heartbeat },
    );
    conn.limitFrames(HELLO_MAX_FRAME_BYTES);
    return conn;
  }

  private onMessage(role: ConnectionRole, msg: WireMessage, c: Connection): void {
    if (!this.expected(role, msg, c)) return;
    switch (msg.kind) {
      case "hello":
        return this.onHello(role, msg, c);
      case "refused":
        return this.onRefused(msg, c);
      case "data":
        if (role.peer === undefined || !role.peer.accept(msg.seq, c)) return;
        failpoint("tcp.frame-received");
        this.o.clock.observe(msg.lc);
        this.apply(role, msg.env, c);
        return;
      case "ack":
        if (role.peer === undefined) return;
        role.peer.acked(msg.seq);
        this.o.onAcked?.(role.peer.peer, msg.seq);
        return;
      case "plane-ack":
        if (role.session !== undefined) this.o.onPlaneAck?.(msg.link, msg.seq);
        return;
      case "plane":
        if (role.session === undefined) return;
        failpoint("tcp.frame-received");
        this.controller = role.session;
        this.o.clock.observe(msg.lc);
        this.apply(role, msg.env, c);
        return;
      case "cmd":
        if (role.session !== undefined) this.o.onCommand(role.session, msg.id, msg.cmd);
        return;
      case "reply":
      case "trace-chunk":
        return;
    }
  }

  /** A hello: a certificate that names the sender (with TLS), our wire format, then a control session or a neighbour. */
  private onHello(role: ConnectionRole, msg: Hello, c: Connection): void {
    const certified = peerName(c.socket);
    // A control session shows the control certificate, or (a root's coordinator) the certificate of the node it runs in.
    const expected = msg.role === "control" && msg.coordinator !== true ? "control" : msg.from;
    if (this.o.tls && certified !== expected) {
      this.o.log?.(`refused a ${msg.role} calling itself "${msg.from}" with a certificate for "${String(certified)}"`);
      c.close();
      return;
    }
    const mismatch = wireFormatMismatch(msg, `node "${this.o.self}"`);
    if (mismatch !== undefined) {
      this.logOnce(`${msg.role} ${msg.from} ${String(msg.format)}`, `refused a connection: ${mismatch.message}`);
      c.refuse({ kind: "refused", from: this.o.self, format: WIRE_FORMAT, reason: mismatch.message });
      return;
    }
    const otherCodec = codecMismatch(msg, this.o.codec, `node "${this.o.self}"`);
    if (otherCodec !== undefined) {
      this.logOnce(`codec ${msg.role} ${msg.from} ${String(msg.codec)}`, `refused a connection: ${otherCodec.message}`);
      c.refuse({ kind: "refused", from: this.o.self, format: WIRE_FORMAT, reason: otherCodec.message, codec: this.o.codec.name });
      return;
    }
    c.helloed = true;
    c.limitFrames(MAX_FRAME_BYTES);
    if (msg.role === "control") {
      role.session = new ControlSession(c, msg.from);
      this.sessions.add(role.session);
      // A durable node says how far it applied this control plane's envelopes, then resends its unacknowledged reports.
      const recv = this.o.onControlHello?.(role.session, msg.chan, msg.recv) ?? 0;
      // A coordinating control plane (it names its channel) gets the node's reports from now on.
      if (msg.chan !== undefined) this.controller = role.session;
      c.send({ kind: "hello", from: this.o.self, role: "node", recv, format: WIRE_FORMAT, ...helloCodec(this.o.codec) });
      if (msg.chan !== undefined) this.o.onControlResumed?.(role.session, msg.recv);
      return;
    }
    role.peer = this.onPeerHello(msg, c);
  }

  /** A neighbour's hello (it dialled us, or answers our dial): its channel takes the connection, or it is refused. */
  private onPeerHello(msg: Hello, c: Connection): PeerChannel | undefined {
    const channel = this.channels.get(msg.from) ?? this.draining.get(msg.from);
    if (channel === undefined && this.refuseUnlinked(msg, c)) return undefined;
    if (channel === undefined) {
      // Not (yet) our neighbour: it retries, backing off, until the link reaches us too.
      if (!this.refusedLogged.has(msg.from)) this.o.log?.(`refused a connection from "${msg.from}": no link to it here (yet)`);
      this.refusedLogged.add(msg.from);
      c.helloed = false;
      c.close();
      return undefined;
    }
    this.refusedLogged.delete(msg.from);
    if (this.o.checkPeer?.(msg.from, msg.seen) !== undefined || this.oldLocation(msg, c) || this.liesAboutPositions(msg, channel, c) || this.staleRecord(msg, channel, c)) {
      c.close();
      return undefined;
    }
    const reconnects = channel.reconnects;
    this.readStream(channel);
    const lost = channel.attach(c, { recv: msg.recv, chan: msg.chan ?? "", ...(msg.seen !== undefined ? { seen: msg.seen } : {}) });
    // The accepting side answers with its view after taking the dialer's into account (a restart of theirs
    // resets our numbering first), and before resending anything: the dialer reads our hello first.
    if (this.o.self > msg.from) c.send({ kind: "hello", from: this.o.self, role: "node", ...channel.hello(), format: WIRE_FORMAT, ...helloCodec(this.o.codec), ...this.locationField() });
    if (channel.reconnects > reconnects) failpoint("tcp.reconnect");
    this.liveness.heard(msg.from);
    channel.resend();
    if (lost.length > 0) this.o.onLost?.(lost, "destroyed");
    return channel;
  }

  /** The neighbour we dialled refused our hello (another wire format): say so once; the dial loop retries, backing off. */
  private onRefused(msg: Extract<WireMessage, { kind: "refused" }>, c: Connection): void {
    if (msg.unlinked !== undefined) return this.learnUnlinked(msg, msg.unlinked, c);
    if (msg.fenced === true) {
      c.close();
      return this.o.onFenced?.(msg.from, msg.reason);
    }
    const reason = msg.format === WIRE_FORMAT ? msg.reason : new WireFormatError(`node "${msg.from}"`, msg.format, WIRE_FORMAT, `node "${this.o.self}"`).message;
    this.logOnce(`refused-by ${msg.from} ${msg.format}`, `"${msg.from}" refused our connection: ${reason}`);
    c.close();
  }

  /**
   * A durable link removed here: remember its incarnation (a neighbour down now still has it in its store, and must
   * be told when it comes back). When the neighbour is not connected it may be down: tell it until it hears.
   */
  private rememberUnlinked(peer: NodeId, channel: PeerChannel): void {
    const link = linkOf(channel.id);
    const address = this.addresses.get(peer);
    if (link === undefined || address === undefined) return; // a volatile channel: a restart starts from the file
    this.unlinked.set(peer, { link, address });
    if (channel.connection === undefined) void this.tellUnlinked(peer, link);
  }

  /** A reconnection (a hello) for a link of ours that was unlinked: refuse it, saying so, so the other side drops it. */
  private refuseUnlinked(msg: Hello, c: Connection): boolean {
    const gone = this.unlinked.get(msg.from);
    const link = Number(/\/(\d+)$/.exec(msg.chan ?? "")?.[1]);
    if (gone === undefined || gone.link !== link) return false;
    this.logOnce(`unlinked ${msg.from} ${link}`, `refused "${msg.from}": its link to this node was unlinked while it was down; it drops it`);
    c.refuse(this.unlinkedRefusal(link));
    return true;
  }

  private unlinkedRefusal(link: number): WireMessage {
    return { kind: "refused", from: this.o.self, format: WIRE_FORMAT, reason: `"${this.o.self}" has no link to you any more (unlinked while you were down)`, unlinked: link };
  }

  /**
   * A neighbour told us it unlinked our link `link` while we were down: the node drops it (once it can) and says so
   * with the same refusal, which ends the neighbour's telling. With TLS, only the neighbour itself may say it.
   */
  private learnUnlinked(msg: Extract<WireMessage, { kind: "refused" }>, link: number, c: Connection): void {
    if (this.o.tls && peerName(c.socket) !== msg.from) {
      c.close();
      return;
    }
    if (this.o.onUnlinked?.(msg.from, link) === true) c.refuse(this.unlinkedRefusal(link));
    else c.close();
  }

  /**
   * The neighbour of a link removed while it was not connected (down, perhaps for good): dial it now and then with
   * the unlinked refusal until it answers with the same (it dropped the link), the link is made again, or we stop.
   */
  private async tellUnlinked(peer: NodeId, link: number): Promise<void> {
    // A first wait: when both sides are up, the control plane unlinks the other side itself a moment later.
    await new Promise((r) => setTimeout(r, 1000).unref());
    for (let attempt = 0; ; attempt++) {
      const gone = this.unlinked.get(peer);
      if (this.closed || gone === undefined || gone.link !== link) return;
      if (await this.tellOnce(peer, gone.address, link)) {
        this.o.log?.(`"${peer}" dropped its link to this node, unlinked while it was down`);
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))).unref());
    }
  }

  /** One attempt of tellUnlinked: true when the neighbour answered that it dropped the link. */
  private async tellOnce(peer: NodeId, address: string, link: number): Promise<boolean> {
    let socket: Duplex;
    try {
      socket = await dial(address, this.o.tls, peer, HELLO_TIMEOUT_MS, this.o.sockets);
    } catch {
      return false;
    }
    this.sockets.add(socket);
    return await new Promise<boolean>((resolve) => {
      let heard = false;
      const conn = new Connection(
        socket,
        this.o.codec,
        (msg, c) => {
          heard ||= msg.kind === "refused" && msg.from === peer && msg.unlinked === link;
          c.close();
        },
        () => {
          clearTimeout(silent);
          this.sockets.delete(socket);
          resolve(heard);
        },
      );
      const silent = setTimeout(() => conn.close(), HELLO_TIMEOUT_MS);
      conn.send(this.unlinkedRefusal(link));
    });
  }

  /** A refusal repeats at every retry: one line per cause is enough. */
  private logOnce(key: string, line: string): void {
    if (this.formatLogged.has(key)) return;
    this.formatLogged.add(key);
    this.o.log?.(line);
  }

  /**
   * Judge every neighbour's liveness each heartbeat interval, from setImmediate (after the poll phase has read what
   * arrived); a tick that came more than an interval late is skipped: this process stalled, not its neighbours.
   */
  private watchLiveness(): void {
    const every = this.heartbeat.intervalMs;
    let last = performance.now();
    this.livenessTimer = setInterval(() => {
      const now = performance.now();
      const late = now - last - every;
      last = now;
      if (late > every) return;
      setImmediate(() => {
        if (!this.closed) this.liveness.tick((peer) => this.channels.get(peer)?.connection?.heardAt);
      });
    }, every);
    this.livenessTimer.unref();
  }

  private livenessOf(c: PeerChannel): { readonly suspected: boolean; readonly silentMs: number } {
    return this.liveness.status(c.peer, c.connection?.heardAt);
  }

  /** A neighbour became suspected (its connection, if any, is closed: the dial loop or the neighbour redials), or was heard again. */
  private suspicionChanged(peer: NodeId, suspected: boolean, silentMs: number): void {
    if (this.closed) return;
    if (suspected) {
      const c = this.channels.get(peer);
      this.o.log?.(
        `node "${peer}" is suspected: nothing heard from it for ${silentMs} ms (suspectAfterMs ${this.heartbeat.suspectAfterMs}); ` +
          `${c?.connection !== undefined ? "its connection is closed" : "not connected"} (${this.o.self < peer ? "we redial it" : "it redials us"}), ${c?.pending ?? 0} frame(s) kept for resending`,
      );
      c?.connection?.close();
    } else this.o.log?.(`node "${peer}" is heard again after ${silentMs} ms out of reach`);
    this.o.onSuspect?.(peer, suspected, silentMs);
  }

  /** A connection closed: the neighbour's liveness keeps when it was last heard on it, and a fault is logged with who it was. */
  private connectionClosed(role: ConnectionRole, c: Connection): void {
    if (role.peer !== undefined && c.heardAt !== undefined && this.channels.get(role.peer.peer) === role.peer) this.liveness.heard(role.peer.peer, c.heardAt);
    if (c.fault !== undefined && !this.closed) this.o.log?.(`closed the connection with ${this.nameOf(role, c)}: ${c.fault}${role.peer !== undefined ? "; it is redialled and resends what was not applied" : ""}`);
  }

  /**
   * Hand an envelope to the node. One whose contents the node cannot take (a control message missing its fields, from
   * a peer gone bad) throws somewhere inside; it is refused instead of killing the process: logged, naming the
   * sender, and the connection closed. A data frame's number was taken, so the frame is not resent: it is dropped.
   */
  private apply(role: ConnectionRole, env: Envelope, c: Connection): void {
    try {
      this.o.onEnvelope(env);
    } catch (e) {
      this.o.log?.(`refused ${envelopeName(env)} from ${this.nameOf(role, c)}: the node could not take it (${describeError(e)}); closing the connection`);
      c.close();
    }
  }

  /** Who a connection is, as a log line names it. */
  private nameOf(role: ConnectionRole, c: Connection): string {
    if (role.peer !== undefined) return `node "${role.peer.peer}"`;
    if (role.session !== undefined) return `the control session "${role.session.name}"`;
    return `${role.remote} (before its hello)`;
  }

  /**
   * May this connection send this frame now? If not, the node logs what was wrong, naming the peer, and closes the
   * connection (a neighbour redials and resends from what was applied): anything but a hello before the hello, a
   * second hello, a data frame that skips numbers or whose envelope names another sender or receiver, and an
   * acknowledgement of frames never sent (taking it would drop them unsent).
   */
  private expected(role: ConnectionRole, msg: WireMessage, c: Connection): boolean {
    const wrong = this.wrongFrame(role, msg, c);
    if (wrong === undefined) return true;
    this.o.log?.(`refused ${wrong} from ${this.nameOf(role, c)}; closing the connection${role.peer !== undefined ? " (it is redialled and resends from what was applied)" : ""}`);
    c.close();
    return false;
  }

  private wrongFrame(role: ConnectionRole, msg: WireMessage, c: Connection): string | undefined {
    if (!c.helloed) return msg.kind === "hello" || msg.kind === "refused" ? undefined : `a "${msg.kind}" frame before its hello`;
    if (msg.kind === "hello") return "a second hello on the same connection";
    const ch = role.peer;
    if (ch === undefined) return undefined;
    if (msg.kind === "data") {
      if (msg.seq > ch.received + 1) return `data frame #${msg.seq} where #${ch.received + 1} was next (frames #${ch.received + 1} to #${msg.seq - 1} skipped)`;
      if (msg.env.from !== ch.peer || msg.env.to !== this.o.self) return `data frame #${msg.seq} whose envelope says it goes from "${msg.env.from}" to "${msg.env.to}"`;
    }
    if (msg.kind === "ack" && ch.pending > 0 && msg.seq > ch.sent) return `an acknowledgement of frame #${msg.seq} when only #${ch.sent} was sent`;
    return undefined;
  }

  /** This node's location epoch for its hellos (omitted at 0: an older liveswap's hello has none either), and its imported version. */
  private locationField(): { readonly loc?: number; readonly imported?: string } {
    const me = this.o.identity?.();
    if (me === undefined) return {};
    return { ...(me.loc > 0 ? { loc: me.loc } : {}), ...(me.imported !== undefined ? { imported: me.imported } : {}) };
  }

  /** A hello from an old location of a node that moved since, or a record of a retired version: refused for good, telling it so (it stops). */
  private oldLocation(msg: Hello, c: Connection): boolean {
    const reason = this.o.fenceHello?.(msg.from, { loc: msg.loc ?? 0, ...(msg.imported !== undefined ? { imported: msg.imported } : {}) });
    if (reason === undefined) return false;
    this.logOnce(`old-location ${msg.from} ${msg.loc ?? 0}`, `refused the connection from "${msg.from}": ${reason}`);
    c.send({ kind: "refused", from: this.o.self, format: WIRE_FORMAT, reason, fenced: true });
    return true;
  }

  /**
   * A neighbour's hello, of the instance we talked to, that says it delivered fewer of our frames than it had
   * acknowledged: it came back from an older record (a stale export imported). Those frames are gone from our outbox
   * and its own later frames would reuse numbers we already applied: refused for good, telling it so.
   */
  private staleRecord(msg: Hello, channel: PeerChannel, c: Connection): boolean {
    // Only a node started from a record says so (`imported`): elsewhere a position may go back for good reasons (a
    // rollback strategy undoes what a node applied, and its peers send it again).
    if (msg.imported === undefined || !channel.staleHello({ recv: msg.recv, chan: msg.chan ?? "" })) return false;
    const reason =
      `node "${msg.from}" came back from a record older than what it had made durable: it says it applied our frames up to #${msg.recv}, ` +
      `but it had acknowledged up to #${channel.acknowledged} (those are gone from our outbox). It was started from a stale record; ` +
      `stop it and start it from its latest store (or a record exported after its last step)`;
    this.logOnce(`stale ${msg.from} ${msg.recv}`, `refused the connection from "${msg.from}": ${reason}`);
    c.send({ kind: "refused", from: this.o.self, format: WIRE_FORMAT, reason, fenced: true });
    return true;
  }

  /**
   * A neighbour's hello that says it received more of our frames than we sent, while some are unacknowledged: taken,
   * it would drop them unsent. Refused (the neighbour redials; a well one then tells the truth).
   */
  private liesAboutPositions(msg: Hello, channel: PeerChannel, c: Connection): boolean {
    if (msg.seen !== channel.id || channel.pending === 0 || msg.recv <= channel.sent) return false;
    this.logOnce(
      `lie ${msg.from} ${msg.recv} ${channel.sent}`,
      `refused the connection from node "${msg.from}" (${remoteOf(c.socket)}): its hello says it received our frames up to #${msg.recv}, ` +
        `but we sent only up to #${channel.sent} (${channel.pending} unacknowledged, kept for resending)`,
    );
    return true;
  }
}

/** An envelope as a log line names it. */
function envelopeName(env: Envelope): string {
  return env.kind === "control" ? `a control envelope ("${String((env.msg as { kind?: unknown }).kind)}" of update #${env.update})` : `application message ${env.id}`;
}

/** The link incarnation a durable channel's instance (`<node instance>/<link>`) names; undefined for a volatile one. */
function linkOf(instance: string): number | undefined {
  const link = Number(/\/(\d+)$/.exec(instance)?.[1]);
  return Number.isInteger(link) ? link : undefined;
}

/** A channel's view of the stream: its neighbour's frames of its link; a failed publication is logged (at most every 30 s). */
function frameStream(stream: StreamCarrier, peer: NodeId, link: number, log: ((line: string) => void) | undefined): FrameStream {
  let logged = -Infinity;
  return {
    publish: async (seq, frames, instance, round, count) => {
      try {
        await stream.publish(peer, link, seq, frames, instance, round, count);
      } catch (e) {
        if (performance.now() - logged > 30_000) {
          logged = performance.now();
          log?.(`cannot put frame #${seq} for "${peer}" in the stream (${messageOf(e)}); it is kept and published again`);
        }
        throw e;
      }
    },
    ack: (seq) => stream.ack(peer, link, seq),
  };
}

/** The far end of a socket, for a log line about a connection that has not said who it is. */
function remoteOf(socket: Duplex): string {
  const s = socket as Partial<net.Socket>;
  return s.remoteAddress !== undefined ? `${s.remoteAddress}:${String(s.remotePort)}` : "a connection";
}

type Hello = Extract<WireMessage, { kind: "hello" }>;

/** What a connection turned out to be once its hello was taken: a neighbour's channel, or a control session. */
interface ConnectionRole {
  /** Where it comes from (host:port), for log lines about a connection that has not said who it is. */
  readonly remote: string;
  peer?: PeerChannel | undefined;
  session?: ControlSession;
}

export type { WireMessage };
