import { atAddress, readLocations } from "./cluster-locations.js";
import type { NodeRecordFile } from "./node-record-file.js";
import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { dirname, join } from "node:path";
import { checkTrace, type CheckReport } from "../check/checker.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { UpdateFigures } from "../core/control.js";
import type { ControlEnvelope } from "../core/envelope.js";
import { ForgetRefusedError, InvalidOptionError, NoUpdateError, RequestExpiredError, RequestIdReusedError, RequestTimeoutError, RetiredVersionError, WireFormatError, messageOf } from "../core/errors.js";
import { failpoint } from "../core/failpoints.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import { Topology } from "../core/topology.js";
import type { Strategy, UpdateReport } from "../core/update.js";
import { codecMismatch, helloCodec, wireCodec } from "../network/tcp/codec-choice.js";
import { CodecMismatchError, type Codec } from "../network/tcp/codec.js";
import { Connection } from "../network/tcp/connection.js";
import { DEFAULT_HEARTBEAT } from "../network/tcp/heartbeat.js";
import { DIAL_TIMEOUT, dial, parseAddress, type TlsMaterial } from "../network/tcp/sockets.js";
import { natsName } from "../network/nats/nats-sockets.js";
import { holdNats, type NatsHold } from "./nats-transport.js";
import { NatsTransportError } from "../network/nats/errors.js";
import { readStampedFile, stampedLine, type StampedEvent } from "../core/trace/stamped.js";
import { LamportClock, wallNow } from "../network/tcp/lamport-clock.js";
import { WIRE_FORMAT, wireFormatMismatch, type Command, type NodeStatus, type UpdateView, type WireMessage } from "../network/tcp/protocol.js";
import { checkUpdateOptions } from "../runtime/control-plane.js";
import { ClusterFileError, type Cluster, type ClusterNode } from "./cluster-file.js";
import { tlsFor } from "./tls-material.js";
import { BusyError, ClusterClientClosedError, UnknownClusterNodeError, NodeAliveError, NodeNotAnsweringError, NodeUnreachableError, RemoteError, VersionMismatchLinkError, explainConnectionError } from "./errors.js";
import { backoffDelay, DEFAULT_REQUEST_TIMEOUT_MS, retryPolicy, type RetryPolicy } from "./request-retry.js";
import { parsePackage, type PackageFile } from "./update-package.js";
import { outcomeError } from "./update-outcome.js";
import { mergeAtHorizon, mergeStamped, readSegments, StreamedReply, streamedTrace, type ClusterTrace, type TraceHorizon } from "./node-trace.js";

/** How long `update()` and `watch()` go on asking a root that does not answer (killed, restarting) before they give up watching. */
export const NODE_RETURN_MS = 120_000;

/** How often a watch asks the root how its update stands. */
const WATCH_POLL_MS = 100;
/** How often one client asks the nodes where a node it cannot reach went (locate). */
const LOCATE_EVERY_MS = 500;

export { NodeAliveError, NodeNotAnsweringError, NodeUnreachableError, RemoteError, VersionMismatchLinkError };

/** How a client reaches the cluster beyond what the cluster file says. */
export interface ClusterClientOptions {
  /** Take the cluster's addresses as given, not moved nodes' from `.liveswap-locations.json` (ctl move's own). */
  readonly asGiven?: boolean;
  /** This node is talked to at the cluster's address for it, whatever the address book or the nodes say (ctl move's source or destination); the others are followed. */
  readonly pin?: NodeId;
  /** The control plane's TLS material itself (PEM texts), instead of the files the cluster names. */
  readonly tls?: TlsMaterial;
  /** How a request whose connection was lost is retried (same id: it runs once). */
  readonly retry?: RetryPolicy;
  /** The default bound of request() (ms, retries included); default: the cluster file's `requestTimeoutMs`, else 30,000. */
  readonly requestTimeoutMs?: number;
  /** The bound per node of status and configuration commands, and of opening a connection (ms; default 5,000). */
  readonly commandTimeoutMs?: number;
  /** Where the nodes came from, for errors naming an unknown node (default: the cluster file). */
  readonly source?: string;
  /** Where this client keeps its own trace and destroyed nodes' (default: the cluster's trace directory, or .liveswap-trace beside the file). */
  readonly traceKeep?: string;
  /**
   * A node's daemon coordinating an update (the root): the name its hellos carry (its node id, which its certificate
   * names), its Lamport clock, and where the nodes' plane traffic goes. Not for applications.
   */
  readonly coordinator?: { readonly name: string; readonly clock: LamportClock; readonly plane: PlaneHandler };
}

/** Where a coordinating client's plane traffic goes (the root's UpdateService): the coordinator's channels to the nodes. */
export interface PlaneHandler {
  /** What the hello to `node` says: how far the coordinator applied its reports, and the coordinator's channel. */
  hello(node: NodeId): { readonly recv: number; readonly chan?: string };
  /** The session to `node` opened; it applied the coordinator's envelopes up to `recv`: what to send it again. */
  opened(node: NodeId, recv: number): readonly ControlEnvelope[];
  /** A node's report to the coordinator. */
  plane(node: NodeId, env: ControlEnvelope): void;
  /** The node committed the coordinator's envelopes up to `seq` on channel `link`. */
  planeAck(node: NodeId, link: number, seq: number): void;
  /** The session to `node` closed (the node was killed, restarts, or is cut off). */
  closed(node: NodeId): void;
}

/** Per request: its id (a retry sends the same one), and how long to wait for its answer, retries included. */
export interface RequestOptions {
  /** The request's id; a random UUID when omitted. Give the same id to a retry of your own: it runs once. */
  readonly id?: string;
  /** Rejects with RequestTimeoutError after this many ms (the request may still run); default 30,000. */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly node: NodeId;
  readonly cmd: Command;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** What an update's progress display is told: a node acknowledged prepare, or turned new. */
export type UpdateProgress = { readonly kind: "prepared" | "new" | "refused" | "halted" | "waiting" | "forgotten"; readonly node: NodeId; readonly detail?: string };

interface Session {
  readonly node: ClusterNode;
  readonly conn: Connection;
}

/**
 * The control plane of a live cluster (the paper's configuration manager):
 * Conic's create/link/unlink/destroy, outside requests, status, traces, and
 * updates, which it coordinates with the same UpdateCoordinator as the
 * simulator. It never runs update code: the nodes load and verify packages.
 */
export class ClusterClient {
  private readonly sessions = new Map<NodeId, Session>();
  private readonly pending = new Map<number, Pending>();
  private readonly events: StampedEvent[] = [];
  private readonly tls: TlsMaterial | undefined;
  /** The process's NATS connection, when the cluster's transport is NATS (released by close()). */
  private readonly nats: NatsHold | undefined;
  /** Each node's own figures of the last update (its swap's wall-clock pause among them). */
  lastFigures: ReadonlyMap<NodeId, UpdateFigures & { readonly swapPauseMs: number }> = new Map();
  /** The traces of nodes this client destroyed (their processes are gone), and what retention had dropped of them. */
  private readonly retired: StampedEvent[] = [];
  private readonly retiredHorizons = new Map<NodeId, TraceHorizon>();
  /** The pieces of streamed answers ("trace-chunk" frames) by command id, until their reply. */
  private readonly pieces = new Map<number, string[]>();
  private nextId = 0;
  private closed = false;
  private readonly retry;
  private readonly requestTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly opening = new Map<NodeId, Promise<Session>>();
  /** The location epoch this client knows each moved node at (relocated()). */
  private readonly locationEpochs = new Map<NodeId, number>();
  /** Lookups of a node's location under way (shared), and when each node was last looked up (at most twice a second). */
  private readonly locating = new Map<NodeId, Promise<boolean>>();
  private readonly locatedAt = new Map<NodeId, number>();
  private readonly name: string;
  private readonly clock: LamportClock;
  /** The cluster's wire codec: every node of it speaks the same (a node refuses another at the hello). */
  private readonly codec: Codec;

  /** The cluster file's nodes, moved ones at their new addresses (cluster-locations.ts). */
  #cluster: Cluster;

  get cluster(): Cluster {
    return this.#cluster;
  }

  private set cluster(c: Cluster) {
    this.#cluster = c;
  }

  constructor(
    cluster: Cluster,
    private readonly options: ClusterClientOptions = {},
  ) {
    this.#cluster = cluster;
    // Moved nodes where ctl's address book (on this machine) says, by the one rule every later hint follows too.
    if (options.asGiven !== true) for (const [id, moved] of Object.entries(readLocations(cluster))) this.relocated(id, moved.address, moved.locationEpoch);
    this.tls = options.tls ?? (cluster.tls ? tlsFor(cluster, cluster.tls.control.cert, cluster.tls.control.key) : undefined);
    this.retry = retryPolicy(options.retry);
    this.requestTimeoutMs = options.requestTimeoutMs ?? cluster.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.commandTimeoutMs = positiveMs(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, "commandTimeoutMs");
    this.name = options.coordinator?.name ?? `ctl-${process.pid}-${Math.floor(wallNow()).toString(36)}`;
    this.clock = options.coordinator?.clock ?? new LamportClock();
    this.codec = wireCodec(cluster.codec);
    this.nats = cluster.transport !== undefined ? holdNats(cluster.transport, this.name) : undefined;
    // As the nodes do: later control planes sort after earlier events.
    if (options.coordinator === undefined) this.clock.value = Math.floor(wallNow() * 1000);
  }

  /** Where a destroyed node's trace is kept: the cluster's trace directory, or beside the cluster file. */
  private traceFileOf(id: NodeId): string {
    const dir = this.cluster.traceDir ?? this.options.traceKeep ?? join(dirname(this.cluster.file), ".liveswap-trace");
    return join(dir, `${id}.ndjson`);
  }

  private nodeOf(id: string, where: string): ClusterNode {
    const n = this.cluster.nodes.find((x) => x.id === id);
    if (n === undefined) {
      throw new UnknownClusterNodeError(id, where, this.options.source ?? this.cluster.file, this.cluster.nodes.map((x) => x.id));
    }
    return n;
  }

  /** One session per node, shared by concurrent callers. */
  private session(id: NodeId): Promise<Session> {
    if (this.closed) return Promise.reject(new ClusterClientClosedError(`node "${id}"`));
    const have = this.sessions.get(id);
    if (have !== undefined && !have.conn.closed) return Promise.resolve(have);
    let opening = this.opening.get(id);
    if (opening === undefined) {
      opening = this.openWhereItIs(id).finally(() => this.opening.delete(id));
      this.opening.set(id, opening);
    }
    return opening;
  }

  /** Open a session; a node gone from where this client knew it may have moved: look it up (locate) and dial it there. */
  private async openWhereItIs(id: NodeId): Promise<Session> {
    try {
      return await this.open(id);
    } catch (e) {
      if (!(e instanceof NodeUnreachableError) || e instanceof NodeNotAnsweringError || !(await this.locate(id))) throw e;
      return await this.open(id);
    }
  }

  private async open(id: NodeId): Promise<Session> {
    const node = this.nodeOf(id, "control");
    let socket;
    try {
      socket = await dial(node.address, this.tls, id, this.commandTimeoutMs, this.nats);
    } catch (e) {
      // This client cannot reach NATS at all (or read its credentials): its own trouble, not the node's.
      if (e instanceof NatsTransportError || e instanceof ClusterFileError) throw e;
      throw unreachable(e, node, this.commandTimeoutMs, this.tls !== undefined);
    }
    if (this.closed) {
      socket.destroy();
      throw new ClusterClientClosedError(`node "${id}"`);
    }
    return await new Promise<Session>((resolve, reject) => {
      let greeted = false;
      const conn = new Connection(
        socket,
        this.codec,
        (msg) => {
          if (greeted) return this.onMessage(id, msg);
          const refusal = this.greeting(id, msg, conn);
          if (refusal !== undefined) return reject(refusal);
          if (msg.kind !== "hello") return;
          greeted = true;
          const s = { node, conn };
          this.sessions.set(id, s);
          // A durable node says how far it applied the coordinator's envelopes: what follows is sent again, in order.
          for (const env of this.options.coordinator?.plane.opened(id, msg.recv) ?? []) conn.send({ kind: "plane", lc: this.clock.value, env });
          resolve(s);
        },
        (_c, reason) => {
          if (!greeted) reject(new NodeUnreachableError(id, node.address, reason ?? "it closed the connection (a certificate it does not trust?)"));
          this.connectionClosed(id, node, conn, greeted, reason);
        },
        // Both ways: the node hears this session alive, and a node silent past the timeout (partitioned, frozen) has
        // its session closed here, which fails or retries what waits on it instead of hanging.
        { heartbeat: this.cluster.heartbeat ?? DEFAULT_HEARTBEAT },
      );
      // Only a coordinating control plane names its channel: the node then sends it its reports (a status poll from
      // another client must not take them).
      const c = this.options.coordinator;
      const hello = c !== undefined ? { ...c.plane.hello(id), coordinator: true } : { recv: 0 };
      conn.send({ kind: "hello", from: this.name, role: "control", ...hello, format: WIRE_FORMAT, ...helloCodec(this.codec) });
      boundHello(conn, node, this.commandTimeoutMs, reject, () => greeted);
    });
  }

  /**
   * A message before the session is open: the node's hello, which must speak our wire format (else we refuse it),
   * or its refusal of ours. Returns the error that ends the session, if any.
   */
  private greeting(id: NodeId, msg: WireMessage, conn: Connection): WireFormatError | CodecMismatchError | undefined {
    const self = `the control plane "${this.name}"`;
    if (msg.kind === "refused") {
      conn.close();
      // The node refused our codec (its refusal names its own), else our format.
      if (msg.format === WIRE_FORMAT && msg.codec !== undefined) return new CodecMismatchError(`node "${id}"`, msg.codec, this.codec.name, self);
      return new WireFormatError(`node "${id}"`, msg.format, WIRE_FORMAT, self);
    }
    if (msg.kind !== "hello") return undefined;
    const mismatch = wireFormatMismatch({ ...msg, from: id }, self) ?? codecMismatch({ ...msg, from: id }, this.codec, self);
    if (mismatch !== undefined) conn.refuse({ kind: "refused", from: this.name, format: WIRE_FORMAT, reason: mismatch.message, codec: this.codec.name });
    return mismatch;
  }

  /** A session's connection closed: forget it, tell a coordinator, and fail what waited on it. */
  private connectionClosed(id: NodeId, node: ClusterNode, conn: Connection, greeted: boolean, reason: string | undefined): void {
    if (this.sessions.get(id)?.conn === conn) this.sessions.delete(id);
    if (greeted && !this.closed) this.options.coordinator?.plane.closed(id);
    for (const [k, p] of this.pending) {
      if (p.node !== id) continue;
      this.pending.delete(k);
      this.pieces.delete(k);
      p.reject(new NodeUnreachableError(id, node.address, `the connection closed before the answer${reason ? `: ${reason}` : ""}`));
    }
  }

  private onMessage(node: NodeId, msg: WireMessage): void {
    switch (msg.kind) {
      case "reply": {
        const p = this.pending.get(msg.id);
        const pieces = this.pieces.get(msg.id);
        this.pieces.delete(msg.id);
        if (p === undefined) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(pieces !== undefined ? new StreamedReply(msg.value, pieces) : msg.value);
        else p.reject(replyError(node, p.cmd, msg));
        return;
      }
      case "trace-chunk": {
        if (!this.pending.has(msg.id)) return;
        // In order (one TCP connection); streamedTrace checks that the reply counts as many.
        const pieces = this.pieces.get(msg.id) ?? [];
        pieces.push(msg.text);
        this.pieces.set(msg.id, pieces);
        return;
      }
      case "plane":
        this.clock.observe(msg.lc);
        if (msg.env.to === CONTROL) this.options.coordinator?.plane.plane(node, msg.env);
        return;
      case "plane-ack":
        this.options.coordinator?.plane.planeAck(node, msg.link, msg.seq);
        return;
      default:
        return;
    }
  }

  /**
   * One command to a node over its session. `sent` is called just before it is written (so a retry knows an earlier
   * attempt may have arrived); `timeout` rejects it at a wall-clock instant with the error it makes.
   */
  async command(node: NodeId, cmd: Command, opts: { readonly sent?: () => void; readonly timeout?: { readonly at: number; error(): Error } } = {}): Promise<unknown> {
    const s = await beforeTimeout(this.session(node), opts.timeout);
    const id = ++this.nextId;
    return await new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => clearTimeout(timer);
      this.pending.set(id, { node, cmd, resolve: (v) => (done(), resolve(v)), reject: (e) => (done(), reject(e)) });
      if (opts.timeout !== undefined) {
        const t = opts.timeout;
        timer = setTimeout(() => {
          if (this.pending.delete(id)) reject(t.error());
        }, Math.max(0, t.at - wallNow()));
      }
      opts.sent?.();
      s.conn.send({ kind: "cmd", id, cmd });
    });
  }

  /**
   * An outside request to a node; resolves with its handler's response. A lost connection (the node unreachable, or
   * the connection closing before the answer) is retried with backoff under the same id, so the node runs the
   * request once: a retry of a running request waits for it, one of an answered request gets the recorded answer.
   */
  async request(node: NodeId, body: unknown, opts: RequestOptions = {}): Promise<unknown> {
    this.nodeOf(node, "request");
    const id = opts.id ?? randomUUID();
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    const started = wallNow();
    const timeout = { at: started + timeoutMs, error: () => new RequestTimeoutError(node, id, timeoutMs) };
    let since: number | undefined; // when an attempt was first written: from then on a retry says so
    for (let attempt = 1; ; attempt++) {
      const cmd: Command = { kind: "request", request: id, body, ...(since !== undefined ? { since } : {}) };
      try {
        return await this.command(node, cmd, { sent: () => void (since ??= wallNow()), timeout });
      } catch (e) {
        // A node moving (`ctl move`) refuses requests until it runs at its new address: look it up again and retry.
        const moving = e instanceof RemoteError && e.code === "NODE_MOVING";
        if (!(e instanceof NodeUnreachableError) && !moving) throw e;
        await this.locate(node); // ctl's address book, then the nodes' statuses
        // close() closed the connection on purpose: nothing to retry.
        if (this.closed) throw new ClusterClientClosedError(`request ${id} to node "${node}"`);
        const wait = backoffDelay(attempt, this.retry);
        if (attempt >= this.retry.attempts || wallNow() + wait >= timeout.at) throw e instanceof NodeUnreachableError ? exhausted(e, attempt, wallNow() - started) : e;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** If `node` moved (ctl's address book says so), talk to it where it is now; true when its address changed. */
  private followMove(node: NodeId): boolean {
    if (this.options.asGiven === true) return false;
    let moved: { readonly address: string; readonly locationEpoch: number } | undefined;
    try {
      moved = readLocations(this.cluster)[node];
    } catch {
      return false; // an unreadable address book: the file's address stays
    }
    return moved !== undefined && this.relocated(node, moved.address, moved.locationEpoch);
  }

  /**
   * Talk to `node` at `address` from now on, unless a location at least as new is known already; true when its address
   * changed. The cluster file names first addresses only; ctl's address book (on this machine) and the nodes' statuses
   * (their moved neighbours, everywhere) say where nodes went.
   */
  private relocated(node: NodeId, address: string, epoch: number, failedHere = false): boolean {
    if (this.options.asGiven === true || node === this.options.pin || !this.cluster.nodes.some((n) => n.id === node)) return false;
    const known = this.locationEpochs.get(node) ?? 0;
    const here = this.nodeOf(node, "control").address;
    if (epoch < known) return false;
    if (address === here) {
      if (epoch > known) this.locationEpochs.set(node, epoch);
      return false;
    }
    // The same epoch elsewhere: only when it failed where this client knew it (two sources disagreeing otherwise).
    if (epoch === known && !failedHere) return false;
    this.locationEpochs.set(node, epoch);
    this.cluster = atAddress(this.cluster, node, address);
    this.sessions.get(node)?.conn.close();
    this.sessions.delete(node);
    return true;
  }

  /** An old location's status says where the node went: true when this client now talks to it there. */
  private learnt(s: NodeStatus): boolean {
    const to = s.location?.moved;
    return to !== undefined && this.relocated(s.id, to.address, to.epoch);
  }

  /** What a node's status says of locations: its own epoch, where it went if it moved, its neighbours that moved. */
  private learn(s: NodeStatus, failed?: NodeId): void {
    const l = s.location;
    if (l === undefined || this.options.asGiven === true) return;
    if (l.moved !== undefined) this.relocated(s.id, l.moved.address, l.moved.epoch);
    else if (l.moving === undefined && l.epoch > (this.locationEpochs.get(s.id) ?? 0) && s.id !== this.options.pin) this.locationEpochs.set(s.id, l.epoch);
    for (const [peer, to] of Object.entries(l.peers ?? {})) this.relocated(peer, to.address, to.epoch, peer === failed);
  }

  /**
   * `node` is not where this client knew it: ask ctl's address book, then the nodes this client has a session with
   * (a moved node's neighbours know where it went, durably), or every other node when it has none yet. True when its
   * address changed. At most twice a second per node, and only open sessions are asked when there are some, so a node
   * that is merely down costs little.
   */
  async locate(node: NodeId): Promise<boolean> {
    if (this.options.asGiven === true || node === this.options.pin) return false;
    if (this.followMove(node)) return true;
    const under = this.locating.get(node);
    if (under !== undefined) return under;
    if (wallNow() - (this.locatedAt.get(node) ?? -Infinity) < LOCATE_EVERY_MS) return false;
    this.locatedAt.set(node, wallNow());
    const p = this.askWhere(node).finally(() => this.locating.delete(node));
    this.locating.set(node, p);
    return p;
  }

  private async askWhere(node: NodeId): Promise<boolean> {
    const before = this.nodeOf(node, "control").address;
    const moved = (): boolean => this.nodeOf(node, "control").address !== before;
    // The nodes talked to now first (no dialling); then the others, but not one being dialled already (it may be
    // looking something up itself, or be down: waiting on it would only spend the caller's time).
    const open = [...this.sessions.entries()].filter(([id, s]) => id !== node && !s.conn.closed).map(([id]) => id);
    await this.askStatuses(open, node);
    if (moved()) return true;
    const rest = this.cluster.nodes.map((n) => n.id).filter((id) => id !== node && !open.includes(id) && !this.opening.has(id));
    await this.askStatuses(rest, node);
    return moved();
  }

  /** Ask `ids` their statuses (each within 3 s at most) and learn where nodes went; `failed`, the node just not found. */
  private async askStatuses(ids: readonly NodeId[], failed: NodeId): Promise<void> {
    await Promise.all(
      ids.map(async (id) => {
        try {
          const s = (await this.command(id, { kind: "status" }, { timeout: notAnswering(this.nodeOf(id, "status"), Math.min(this.commandTimeoutMs, 3_000)) })) as NodeStatus;
          this.learn(s, failed);
        } catch {
          // It cannot say: another may.
        }
      }),
    );
  }

  /** Fault injection for tests and drills: close this client's connection to a node (the next command reconnects). */
  dropConnection(node: NodeId): void {
    this.sessions.get(node)?.conn.close();
  }

  /** Node `node`'s durable record as a signed portable file (a copy: the node keeps running). */
  async exportRecord(node: NodeId): Promise<NodeRecordFile> {
    this.nodeOf(node, "export");
    return (await this.command(node, { kind: "export" })) as NodeRecordFile;
  }

  /**
   * One node's status, within `timeoutMs` (default: the client's command bound), the connection's opening included:
   * past it, NodeNotAnsweringError (a stopped process, or a network cut); a node that refuses connections,
   * NodeUnreachableError.
   */
  async status(node: NodeId, opts: StatusOptions = {}): Promise<NodeStatus> {
    const ms = positiveMs(opts.timeoutMs ?? this.commandTimeoutMs, "timeoutMs");
    const ask = async (): Promise<NodeStatus & { lc: number }> => (await this.command(node, { kind: "status" }, { timeout: notAnswering(this.nodeOf(node, "status"), ms) })) as NodeStatus & { lc: number };
    let s: NodeStatus & { lc: number };
    try {
      s = await ask();
    } catch (e) {
      // Gone from where this client knew it (nothing listens): it may have moved (ctl move), so look it up again. A
      // node that does not answer in time is not looked up: the caller's bound is spent already.
      if (!(e instanceof NodeUnreachableError) || e instanceof NodeNotAnsweringError || !(await this.locate(node))) throw e;
      s = await ask();
    }
    // An old location answered (moving away, or retired): ask the new one.
    if ((s.location?.moved ?? s.location?.moving) !== undefined && (this.followMove(node) || this.learnt(s) || (s.location?.moving !== undefined && (await this.locate(node))))) s = await ask();
    this.learn(s);
    this.clock.observe(s.lc);
    return s;
  }

  /**
   * Every node of the file that answers within the bound, with its status; the others (never started, destroyed,
   * stopped, cut off) with why and the error's code (NODE_UNREACHABLE: nothing listens; NODE_NOT_ANSWERING: it may be
   * alive). All nodes are asked at once, so the whole answer comes within one bound.
   */
  async statusAll(opts: StatusOptions = {}): Promise<{ readonly up: readonly NodeStatus[]; readonly down: readonly DownNode[] }> {
    const addresses = this.cluster.nodes.map((n) => n.address);
    let results = await Promise.allSettled(this.cluster.nodes.map((n) => this.status(n.id, opts)));
    // A node that did not answer where this client knew it, and that another's status placed elsewhere: ask it there.
    if (results.some((r, i) => r.status === "rejected" && this.cluster.nodes[i]?.address !== addresses[i])) {
      results = await Promise.all(results.map((r, i) => (r.status === "rejected" && this.cluster.nodes[i]?.address !== addresses[i] ? settle(this.status((this.cluster.nodes[i] as ClusterNode).id, opts)) : r)));
    }
    // Every node "down" because this client cannot reach NATS would hide the one fault: say it instead.
    const own = results.find((r) => r.status === "rejected" && (r.reason instanceof NatsTransportError || r.reason instanceof ClusterFileError));
    if (own !== undefined) throw (own as PromiseRejectedResult).reason;
    const up: NodeStatus[] = [];
    const down: DownNode[] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") up.push(r.value);
      else {
        const code = codeOf(r.reason);
        down.push({ id: (this.cluster.nodes[i] as ClusterNode).id, error: messageOf(r.reason), ...(code !== undefined ? { code } : {}) });
      }
    });
    return { up, down };
  }

  async link(a: NodeId, b: NodeId): Promise<void> {
    const na = this.nodeOf(a, "link");
    const nb = this.nodeOf(b, "link");
    const [sa, sb] = await Promise.all([this.status(a), this.status(b)]);
    // Every running node's retired versions count: a fresh image at an old version linked to another fresh one
    // is refused as soon as any node of the cluster took the update that retired it.
    const { up } = await this.statusAll();
    checkLinkVersions(sa, sb, up);
    const incarnation = Math.floor(wallNow());
    await this.command(a, { kind: "link", peer: b, address: nb.address, incarnation }, { timeout: notAnswering(na, this.commandTimeoutMs) });
    await this.command(b, { kind: "link", peer: a, address: na.address, incarnation }, { timeout: notAnswering(nb, this.commandTimeoutMs) });
  }

  /**
   * `ctl create` started `node` from the cluster file: if it runs a version a running node retired (an old image
   * rejoining), it is destroyed again and the create refused, as the simulator refuses it.
   */
  async refuseRetired(node: NodeId): Promise<void> {
    const { up } = await this.statusAll();
    const me = up.find((s) => s.id === node);
    if (me === undefined) return;
    const others = up.filter((s) => s.id !== node);
    if (!others.some((s) => (s.retired ?? []).includes(me.version) && s.version !== me.version)) return;
    await this.destroy(node);
    throw new RetiredVersionError(node, me.version, undefined, [...new Set(others.map((s) => s.version))].sort(), "create");
  }

  /**
   * Unlink two nodes. Both are asked first (bounded): one that does not answer (it may be alive) refuses the unlink
   * with nothing changed; one that is down (nothing listens at its address) is left out: the live side unlinks, and
   * the result names the down side in `pending`. A durable node learns it when it restarts: the live side refuses
   * its reconnection for the link it no longer has, and it drops the link.
   */
  async unlink(a: NodeId, b: NodeId): Promise<UnlinkOutcome> {
    const nodes = [this.nodeOf(a, "unlink"), this.nodeOf(b, "unlink")] as const;
    const probes = await Promise.allSettled(nodes.map((n) => this.status(n.id)));
    const pending: NodeId[] = [];
    probes.forEach((p, i) => {
      if (p.status === "fulfilled") return;
      if (!isDown(p.reason)) throw p.reason;
      pending.push((nodes[i] as ClusterNode).id);
    });
    if (pending.length === 2) throw (probes[0] as PromiseRejectedResult).reason;
    let first = true;
    for (const [n, peer] of [[nodes[0], b], [nodes[1], a]] as const) {
      if (pending.includes(n.id)) continue;
      const done = this.command(n.id, { kind: "unlink", peer, ...(pending.length > 0 ? { alone: true as const } : {}) }, { timeout: notAnswering(n, this.commandTimeoutMs) });
      // The first side unlinked may already have told the second (it tells a neighbour it cannot reach): not linked is done.
      await (first ? done : done.catch((e: unknown) => void (codeOf(e) === "UNKNOWN_LINK" ? undefined : rethrow(e))));
      first = false;
    }
    return { pending };
  }

  /**
   * Unlink the node from its neighbours, then stop it (its process exits). A node that is down (nothing listens at
   * its address) is destroyed where it is: its live neighbours unlink it, its store is cleared when it is on this
   * machine, its trace file stays. One that does not answer (it may be alive) is refused: NodeAliveError.
   */
  async destroy(node: NodeId): Promise<DestroyOutcome> {
    const n = this.nodeOf(node, "destroy");
    let s: NodeStatus;
    try {
      s = await this.status(node);
    } catch (e) {
      if (e instanceof NodeNotAnsweringError) throw new NodeAliveError(node, "destroy", `it accepts connections at ${n.address} (a stopped or overloaded process?)`);
      if (!isDown(e)) throw e;
      return await this.destroyDown(n);
    }
    for (const nb of s.neighbors) await this.unlink(node, nb.id);
    const session = await this.session(node);
    // Destroyed means gone: wait for the node to close its end (it stops listening first).
    const gone = new Promise<void>((resolve) => {
      if (session.conn.closed) resolve();
      session.conn.socket.once("close", () => resolve());
      setTimeout(resolve, 10_000).unref();
    });
    const { events, pieces, horizon } = streamedTrace(node, await this.command(node, { kind: "destroy" }, { timeout: notAnswering(n, this.commandTimeoutMs) }));
    for (const e of events) this.retired.push(e); // one by one: a spread of a long trace passes the argument limit
    this.retiredHorizons.set(node, horizon);
    if (this.cluster.traceDir === undefined) {
      // The node's process is gone with its memory: keep its trace on disk for later `ctl trace` runs.
      const file = this.traceFileOf(node);
      mkdirSync(dirname(file), { recursive: true });
      for (const p of pieces) appendFileSync(file, p);
    }
    await gone;
    this.sessions.delete(node);
    return { down: false, storeCleared: false };
  }

  /** destroy() of a node that is down: its live neighbours forget it, and its store goes if it is on this machine. */
  private async destroyDown(n: ClusterNode): Promise<DestroyOutcome> {
    const { up } = await this.statusAll();
    for (const s of up) {
      if (!s.neighbors.some((p) => p.id === n.id)) continue;
      await this.command(s.id, { kind: "unlink", peer: n.id, alone: true }, { timeout: notAnswering(this.nodeOf(s.id, "destroy"), this.commandTimeoutMs) });
    }
    return this.clearStore(n);
  }

  /**
   * Forget a node lost for good (DESIGN.md, "Faults and durability"): its process is dead (nothing listens at its
   * address) and its store gone or abandoned. Refused (ForgetRefusedError) for a node that answers (destroy it), one
   * that accepts connections but does not answer (kill it first), and the root of the running update (take the update
   * over: takeover()). When the node is in the running update, its root forgets it first: in prepare the update
   * aborts (nothing changed), past it the update goes on without it and every live node drops its link to it. Then,
   * within `settleMs`, its live neighbours no longer list it (they unlink it once out of the update), and its store is
   * cleared when it is on this machine. Neighbours still linked to it past the bound are named in `pending`.
   */
  async forget(node: NodeId, opts: { readonly settleMs?: number } = {}): Promise<ForgetOutcome> {
    const n = this.nodeOf(node, "forget");
    await this.assertLost(n);
    const view = await this.runningView(node);
    let update: ForgetOutcome["update"];
    if (view !== undefined && view.nodes.includes(node)) {
      const after = (await this.command(view.root, { kind: "update-forget", node })) as UpdateView;
      update = { id: after.id, root: after.root, effect: after.phase === "aborted" ? "aborted" : "goes-on" };
    }
    const pending = await this.untilUnlinkable(node, wallNow() + (opts.settleMs ?? FORGET_SETTLE_COMMANDS * this.commandTimeoutMs), update?.effect === "goes-on");
    const down = pending.length === 0 ? await this.destroyDown(n) : this.clearStore(n);
    return { ...down, ...(update !== undefined ? { update } : {}), pending };
  }

  /**
   * The update running now, as its root says: the root a node in it names, else a live node whose view shows one
   * unfinished (every live node may have done its part while the root still waits for `lost`). Refused when `lost`
   * is that root: its coordinator died with it (takeover).
   */
  private async runningView(lost: NodeId): Promise<UpdateView | undefined> {
    const { up } = await this.statusAll();
    const part = up.find((s) => s.update?.root !== undefined)?.update;
    if (part?.root === lost) {
      throw new ForgetRefusedError(lost, `it is the root of update #${part.id} and runs its coordinator; take the update over at another node of it (\`liveswap ctl takeover --root R\`), which forgets "${lost}"`);
    }
    const roots = part?.root !== undefined ? [part.root] : up.map((s) => s.id);
    const views = await Promise.allSettled(roots.map((r) => this.command(r, { kind: "update-view" }) as Promise<UpdateView | null>));
    for (const v of views) if (v.status === "fulfilled" && v.value !== null && (v.value.outcome === undefined || v.value.phase === "halted")) return v.value;
    // The named root did not answer its view: say so rather than forget outside the update it runs.
    const failed = views.find((v) => v.status === "rejected");
    if (part?.root !== undefined && failed !== undefined) throw failed.reason;
    // Every live node may have done its part of `lost`'s last update while its coordinator waited: unless a live
    // root's view covers that update (taken over, or a later one), nobody can say it ended.
    const led = Math.max(0, ...up.filter((s) => s.lastUpdate?.root === lost).map((s) => s.lastUpdate?.id ?? 0));
    const covered = views.some((v) => v.status === "fulfilled" && v.value !== null && v.value.id >= led);
    if (led > 0 && !covered) {
      throw new ForgetRefusedError(
        lost,
        `it is the root of update #${led}, the last its live nodes took part in, and no live node can say it ended; take the update over at another node of it (\`liveswap ctl takeover --root R\`), which forgets "${lost}" and finishes it; if that update had ended before "${lost}" died, \`ctl destroy ${lost}\` removes it`,
      );
    }
    return undefined;
  }

  /** Lost for good: nothing listens at its address. One that answers, or accepts and stays silent, is running. */
  private async assertLost(n: ClusterNode): Promise<void> {
    try {
      await this.status(n.id);
    } catch (e) {
      if (e instanceof NodeNotAnsweringError) {
        throw new ForgetRefusedError(n.id, `it accepts connections at ${n.address} but does not answer within ${this.commandTimeoutMs} ms (a stopped or overloaded process?); kill its process first: a node is forgotten once it is lost for good`);
      }
      if (isDown(e)) return;
      throw e;
    }
    throw new ForgetRefusedError(n.id, `it is running (it answers at ${n.address}); a node is forgotten once it is lost for good (its process dead, its store gone); \`ctl destroy ${n.id}\` removes a running one`);
  }

  /**
   * Wait (until `deadline`) for the live nodes still linked to `node` to let it go. Past prepare (`notified`) each
   * drops the link itself when the root's notice reaches it, in or out of its part (the link is removed once, by
   * that notice); after an abort, or outside an update, it must be out of any update for its unlink to be allowed.
   * Returns the neighbours still in the way at the deadline.
   */
  private async untilUnlinkable(node: NodeId, deadline: number, notified: boolean): Promise<NodeId[]> {
    for (;;) {
      const { up } = await this.statusAll();
      const blocked = up.filter((s) => (notified || s.update !== null) && s.neighbors.some((p) => p.id === node)).map((s) => s.id);
      if (blocked.length === 0 || wallNow() >= deadline) return blocked;
      await new Promise((r) => setTimeout(r, WATCH_POLL_MS));
    }
  }

  /** Clear a node's store when it is on this machine (its trace stays: the merged trace keeps the node's life). */
  private clearStore(n: ClusterNode): DestroyOutcome {
    const store = this.cluster.storeDir !== undefined ? join(this.cluster.storeDir, n.id) : undefined;
    const storeCleared = store !== undefined && isLocalAddress(n.address) && existsSync(store);
    if (storeCleared) rmSync(store, { recursive: true, force: true });
    // Over NATS the node may have run on any host: a store not here is said to be elsewhere (remove it there).
    const elsewhere = store !== undefined && !storeCleared && (!isLocalAddress(n.address) || natsName(n.address) !== undefined);
    return { down: true, storeCleared, ...(elsewhere ? { storeElsewhere: store } : {}) };
  }

  /** Close a node's connections to its neighbours (they reconnect and resend): the reconnect drill. */
  async sever(node: NodeId): Promise<void> {
    await this.command(node, { kind: "sever" });
  }

  /**
   * Ship a package and update every running node with a strategy. The update's root coordinates it (DESIGN.md,
   * "Faults and durability"): it checks the update against the cluster (strategy, root, reachability, versions),
   * journals it and prepares every node; this client only submits and then watches, so that its death changes
   * nothing. Resolves with the report when the update completes; rejects with its error (PrepareFailedError,
   * PrepareDeadlineError, UpdateHaltedError...) when it ends otherwise.
   */
  async update(
    pkgText: string,
    opts: { readonly strategy: Strategy; readonly root?: NodeId; readonly deadlineMs?: number; readonly onProgress?: (p: UpdateProgress) => void; readonly detach?: boolean },
  ): Promise<UpdateReport> {
    if (opts.root !== undefined) this.nodeOf(opts.root, "update --root");
    const id = await this.submitUpdate(pkgText, opts);
    return await this.watch({ ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}), root: id.root, id: id.id });
  }

  /** Submit an update to its root; resolves with its id (and root) once the root journaled it and began prepare. */
  async submitUpdate(pkgText: string, opts: { readonly strategy: Strategy; readonly root?: NodeId; readonly deadlineMs?: number }): Promise<{ readonly id: number; readonly root: NodeId }> {
    checkUpdateOptions(opts, false);
    const pkg: PackageFile = parsePackage(pkgText);
    if (pkg.manifest.kind !== "update") throw new InvalidOptionError("package", `"${pkg.manifest.name}" holds behaviors, not an update`);
    if (opts.deadlineMs !== undefined && !(Number.isInteger(opts.deadlineMs) && opts.deadlineMs > 0)) {
      throw new InvalidOptionError("deadline", `expected a whole number of ms > 0, got ${String(opts.deadlineMs)}`);
    }
    const root = opts.root ?? (await this.defaultRoot());
    this.nodeOf(root, "update --root");
    const cmd: Command = {
      kind: "update-submit",
      package: pkgText,
      strategy: opts.strategy,
      root,
      ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
    };
    const id = (await this.command(root, cmd)) as number;
    return { id, root };
  }

  /** The root planUpdate would choose: the first node of the file that answers. */
  private async defaultRoot(): Promise<NodeId> {
    const { up } = await this.statusAll();
    const first = this.cluster.nodes.find((n) => up.some((s) => s.id === n.id));
    if (first === undefined) throw new InvalidOptionError("update", `no node of ${this.options.source ?? this.cluster.file} answers; start the cluster first`);
    return first.id;
  }

  /**
   * How the update a root coordinates stands (null: none). Without `root`, the root of the update the nodes are in
   * (any node's status names it), or else every node is asked for the last update it coordinated.
   */
  async updateView(root?: NodeId): Promise<UpdateView | null> {
    if (root !== undefined) return (await this.command(root, { kind: "update-view" })) as UpdateView | null;
    const { up } = await this.statusAll();
    const running = up.find((s) => s.update?.root !== undefined)?.update?.root;
    if (running !== undefined) return await this.updateView(running);
    const views = await Promise.allSettled(up.map((s) => this.updateView(s.id)));
    let latest: UpdateView | null = null;
    for (const v of views) if (v.status === "fulfilled" && v.value !== null && (latest === null || v.value.id > latest.id)) latest = v.value;
    return latest;
  }

  /**
   * Follow an update until it ends (or halts): `onProgress` hears each node prepared, new, refused or waited for.
   * A root that stops answering (killed, restarting) is asked again for NODE_RETURN_MS; the update goes on in the
   * cluster meanwhile.
   */
  async watch(opts: { readonly root?: NodeId; readonly id?: number; readonly onProgress?: (p: UpdateProgress) => void; readonly onView?: (v: UpdateView) => void } = {}): Promise<UpdateReport> {
    const root = opts.root ?? (await this.updateView())?.root;
    if (root === undefined) throw new NoUpdateError("watch", "no update is running, and no running node coordinated one (`ctl update` starts one)");
    const seen = new Set<string>();
    let lastContact = wallNow();
    for (;;) {
      let view: UpdateView | null;
      try {
        view = await this.updateView(root);
        lastContact = wallNow();
      } catch (e) {
        if (!(e instanceof NodeUnreachableError) || this.closed || wallNow() - lastContact > NODE_RETURN_MS) throw e;
        opts.onProgress?.({ kind: "waiting", node: root, detail: "the root does not answer (restarting?); the update goes on in the cluster" });
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (view === null || (opts.id !== undefined && view.id !== opts.id)) {
        throw new NoUpdateError("watch", `node "${root}" coordinates no update${opts.id !== undefined ? ` #${opts.id}` : ""}${view !== null ? ` (its last is #${view.id})` : ""}`);
      }
      opts.onView?.(view);
      if (view.outcome === undefined && view.prepared.length === view.nodes.length) failpoint("ctl.watch-prepared");
      if (view.outcome === undefined && view.new.length > 0) failpoint("ctl.watch-first-new");
      for (const p of progressOf(view)) {
        const key = `${p.kind} ${p.node} ${p.detail ?? ""}`;
        if (!seen.has(key)) (seen.add(key), opts.onProgress?.(p));
      }
      const out = view.outcome;
      if (out !== undefined) {
        if (out.ok) {
          this.lastFigures = new Map(Object.entries(out.figures).map(([n, f]) => [n, { ...(f as UpdateFigures), swapPauseMs: (f as { swapPauseMs?: number }).swapPauseMs ?? Number.NaN }]));
          return out.report as UpdateReport;
        }
        throw outcomeError(out);
      }
      await new Promise((r) => setTimeout(r, WATCH_POLL_MS));
    }
  }

  /** Give the running update up (only while it prepares: UpdateNotAbortableError after). */
  async abortUpdate(reason = "ctl abort"): Promise<UpdateView> {
    const view = await this.updateView();
    if (view === null || view.outcome !== undefined && view.phase !== "halted") throw new NoUpdateError("abort", `no update is running${view !== null ? ` (the last, #${view.id}, is ${view.phase})` : ""}; nothing to abort`);
    return (await this.command(view.root, { kind: "update-abort", reason })) as UpdateView;
  }

  /** Finish the halted update with a corrected package (the same versions); resolves like update(). */
  async resumeUpdate(pkgText: string, opts: { readonly onProgress?: (p: UpdateProgress) => void } = {}): Promise<UpdateReport> {
    parsePackage(pkgText);
    const view = await this.updateView();
    if (view === null || view.phase !== "halted") throw new NoUpdateError("resume", `no update is halted${view !== null ? ` (update #${view.id} is ${view.phase})` : ""}; resume finishes an update whose transfer threw at swap time`);
    await this.command(view.root, { kind: "update-resume", package: pkgText });
    return await this.watch({ root: view.root, id: view.id, ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}) });
  }

  /** A coordinating client: put an envelope on its way to a node (false: no session to it now; it is resent on the next). */
  sendPlane(node: NodeId, env: ControlEnvelope): boolean {
    const s = this.sessions.get(node);
    if (s === undefined || s.conn.closed) return false;
    s.conn.send({ kind: "plane", lc: this.clock.value, env });
    return true;
  }

  /** A coordinating client: the node's reports are applied (journaled) up to `seq`. */
  sendPlaneAck(node: NodeId, seq: number): void {
    const s = this.sessions.get(node);
    if (s !== undefined && !s.conn.closed) s.conn.send({ kind: "plane-ack", link: 0, seq });
  }

  /** A coordinating client: open (or keep) the session to a node; rejects when it cannot be reached now. */
  async connect(node: NodeId): Promise<void> {
    await this.session(node);
  }

  /** Is there an open session to `node` now? */
  connected(node: NodeId): boolean {
    const s = this.sessions.get(node);
    return s !== undefined && !s.conn.closed;
  }

  /**
   * The links the nodes that answer now have, a down node's among them (as its live neighbours list it): what the
   * root checks a forget or a takeover against (without the lost node, every live node of the update still reached).
   */
  async linkedTopology(): Promise<Topology> {
    const { up } = await this.statusAll();
    const topology = new Topology();
    for (const s of up) topology.addNode(s.id);
    for (const s of up) {
      for (const p of s.neighbors) {
        if (!topology.hasNode(p.id)) topology.addNode(p.id);
        if (!topology.linked(s.id, p.id)) topology.addLink(s.id, p.id);
      }
    }
    return topology;
  }

  /**
   * Take the running update over at `root` (DESIGN.md, "Faults and durability"): its root was lost for good (nothing
   * listens at its address), with its coordinator and journal. `root`, a live node still in the update, coordinates
   * it from now on: the lost root is forgotten (its store is cleared when it is on this machine) and the update is
   * aborted, started again or carried on from what every live node says of its part. Resolves with the update's view
   * once `root` took it over; follow it with watch().
   */
  async takeover(root: NodeId): Promise<UpdateView> {
    this.nodeOf(root, "takeover");
    // The new root knows the run (it took part in it) and its lost root, and refuses a root it can still reach.
    const view = (await this.command(root, { kind: "update-takeover" })) as UpdateView;
    const lost = view.forgotten?.[0];
    if (lost !== undefined) {
      const n = this.nodeOf(lost, "takeover");
      const store = this.cluster.storeDir !== undefined ? join(this.cluster.storeDir, lost) : undefined;
      if (store !== undefined && isLocalAddress(n.address) && existsSync(store)) rmSync(store, { recursive: true, force: true });
    }
    return view;
  }

  /** The running nodes, their links and versions, as the control plane checks an update against them. */
  async updateTarget(): Promise<{ readonly topology: Topology; readonly synchronizer: false; versionOf(n: NodeId): string }> {
    const { up, down } = await this.statusAll();
    const topology = new Topology();
    for (const s of up) topology.addNode(s.id);
    for (const s of up) {
      for (const n of s.neighbors) {
        if (!topology.hasNode(n.id)) {
          const why = down.find((d) => d.id === n.id)?.error ?? "it did not answer";
          throw new NodeUnreachableError(n.id, this.nodeOf(n.id, "update").address, `"${s.id}" is linked to it but ${why}`);
        }
        if (!topology.linked(s.id, n.id)) topology.addLink(s.id, n.id);
      }
    }
    const busy = up.find((s) => s.update !== null);
    if (busy) throw new InvalidOptionError("update", `node "${busy.id}" is still in update #${String(busy.update?.id)}; wait for it to end`);
    const versions = new Map(up.map((s) => [s.id, s.version]));
    return { topology, synchronizer: false, versionOf: (n) => versions.get(n) as string };
  }

  /**
   * The cluster's trace: every running node's events and the control plane's
   * (this client's, and earlier clients' from the trace directory), merged in
   * Lamport order so every send precedes its delivery. If retention dropped the
   * oldest part of some node's trace, the merged trace starts at the horizon
   * (see mergeAtHorizon): traceFromHorizon() says where and what it left out.
   */
  async trace(): Promise<TraceEvent[]> {
    return (await this.traceFromHorizon()).events;
  }

  /** The cluster's trace as trace() gives it, with the horizon it starts at when retention dropped something. */
  async traceFromHorizon(): Promise<ClusterTrace> {
    const { up } = await this.statusAll();
    const running = await Promise.all(up.map(async (s) => ({ node: s.id, ...streamedTrace(s.id, await this.command(s.id, { kind: "trace" })) })));
    const segments = running.map((r) => ({ node: r.node, events: r.events, horizon: r.horizon }));
    const have = new Set(up.map((s) => s.id));
    for (const [node, horizon] of this.retiredHorizons) {
      if (have.has(node)) continue;
      have.add(node);
      segments.push({ node, events: this.retired.filter((e) => e.source === node), horizon });
    }
    // Appended one by one: push(...events) of a long trace passes the engine's argument limit.
    const other: StampedEvent[] = [];
    const add = (events: readonly StampedEvent[]): void => {
      for (const e of events) other.push(e);
    };
    add(this.retired);
    for (const n of this.cluster.nodes) {
      // A node not running (destroyed, perhaps by another client): its segments on disk, with their horizon.
      const kept = !have.has(n.id) && this.cluster.traceDir !== undefined ? readSegments(this.cluster.traceDir, n.id) : undefined;
      if (kept !== undefined) segments.push({ node: n.id, ...kept });
      // Its trace file: a destroyed node's without a trace directory, or one written by an older liveswap.
      const f = this.traceFileOf(n.id);
      if (existsSync(f)) add(readStampedFile(f, n.id));
    }
    add(this.events);
    const file = this.traceFileOf(CONTROL);
    if (existsSync(file)) add(readStampedFile(file, CONTROL));
    return mergeAtHorizon(segments, other);
  }

  /**
   * The last part of the cluster's trace: the last `bytesPerNode` bytes of each node's (the running ones, or `nodes`; and of a root's
   * coordinator's), merged in Lamport order. What a watcher of the last seconds reads (the console): the nodes read
   * only the end of their newest segments. Not for the checker: it is no complete trace.
   */
  async traceTail(bytesPerNode: number, nodes?: readonly NodeId[]): Promise<{ readonly events: TraceEvent[]; readonly since: number }> {
    const ids = nodes ?? (await this.statusAll()).up.map((s) => s.id);
    // A node that does not answer leaves its lane empty; the others still show.
    const parts = (await Promise.allSettled(ids.map(async (id) => streamedTrace(id, await this.command(id, { kind: "trace", tailBytes: bytesPerNode })).events)))
      .filter((r): r is PromiseFulfilledResult<StampedEvent[]> => r.status === "fulfilled")
      .map((r) => r.value);
    // From the latest first event of the tails on, every node's lane is whole (a busy node's tail covers less time).
    const since = parts.reduce((m, p) => (p.length === 0 ? m : Math.max(m, (p[0] as StampedEvent).ev.t)), -Infinity);
    return { events: mergeStamped(parts.flat()), since };
  }

  /** The checker's verdict on the trace, taken as complete; from the horizon on when retention dropped something. */
  async check(): Promise<CheckReport> {
    const t = await this.traceFromHorizon();
    return checkTrace(t.events, { complete: true, ...(t.horizon !== undefined ? { horizon: true } : {}) });
  }

  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.conn.close();
    this.sessions.clear();
    void this.nats?.release();
  }
}

/**
 * May two nodes be linked? Not when either runs a version that one of them (or any node in `others`) retired: an
 * old image rejoining would run old code on new messages; then not when their versions differ.
 */
export function checkLinkVersions(a: NodeStatus, b: NodeStatus, others: readonly NodeStatus[] = []): void {
  for (const [side, other] of [[a, b], [b, a]] as const) {
    const retiredBy = [a, b, ...others].some((s) => (s.retired ?? []).includes(side.version) && s.version !== side.version);
    if (retiredBy) {
      const current = [...new Set([other, ...others].map((s) => s.version))].filter((v) => v !== side.version).sort();
      throw new RetiredVersionError(side.id, side.version, undefined, current, "link");
    }
  }
  // Old and new code would execute each other's messages: exactly what an update exists to prevent.
  if (a.version !== b.version) throw new VersionMismatchLinkError(a.id, a.version, b.id, b.version);
}

/** A node's refusal as the error class it was at the node, where the client can rebuild it; else a RemoteError. */
function replyError(node: NodeId, cmd: Command, msg: Extract<WireMessage, { kind: "reply"; ok: false }>): Error {
  if (cmd.kind === "request" && msg.code === "REQUEST_EXPIRED" && msg.detail !== undefined) return new RequestExpiredError(node, cmd.request, msg.detail);
  if (cmd.kind === "request" && msg.code === "REQUEST_ID_REUSED") return new RequestIdReusedError(node, cmd.request);
  if (cmd.kind === "request" && msg.code === "BUSY") return BusyError.fromDetail(node, msg.detail) ?? new RemoteError(node, msg.error, msg.code);
  return new RemoteError(node, msg.error, msg.code);
}

/** `p`, or the timeout's error once its instant passed (a dial to a host that never answers takes minutes to fail). */
function beforeTimeout<T>(p: Promise<T>, timeout: { readonly at: number; error(): Error } | undefined): Promise<T> {
  if (timeout === undefined) return p;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout.error()), Math.max(0, timeout.at - wallNow()));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The last attempt's error, saying how many were made: the node is down, not merely slow to accept. */
function exhausted(e: NodeUnreachableError, attempts: number, ms: number): NodeUnreachableError {
  return new NodeUnreachableError(e.node, e.address, `${e.reason}; ${attempts} attempt${attempts === 1 ? "" : "s"} over ${Math.round(ms)} ms`);
}

/** What an update's view shows, node by node, for the live display of `ctl update` and `ctl watch`. */
function progressOf(v: UpdateView): UpdateProgress[] {
  const out: UpdateProgress[] = [];
  for (const node of v.prepared) out.push({ kind: "prepared", node });
  for (const node of v.new) out.push({ kind: "new", node });
  for (const h of v.halted) out.push({ kind: "halted", node: h.node, detail: h.error });
  for (const node of v.waiting) out.push({ kind: "waiting", node, detail: "no connection to it: the update waits for it" });
  for (const node of v.forgotten ?? []) out.push({ kind: "forgotten", node, detail: "lost for good and forgotten: the update goes on without it" });
  return out;
}

export { mergeStamped };

/** The bound per node of status and configuration commands, and of opening a connection (ms). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;

/** How long status() waits for a node (its connection's opening included). */
export interface StatusOptions {
  /** Default: the client's `commandTimeoutMs` (5,000 ms unless set). */
  readonly timeoutMs?: number;
}

/** A node that did not answer status, with why; `code` NODE_UNREACHABLE (nothing listens) or NODE_NOT_ANSWERING (it may be alive). */
export interface DownNode {
  readonly id: NodeId;
  readonly error: string;
  readonly code?: string;
}

/** unlink()'s result: the sides that were down (nothing listening) and learn of the unlink when they restart. */
export interface UnlinkOutcome {
  readonly pending: readonly NodeId[];
}

/** destroy()'s result: whether the node was down (destroyed where it lay) and what became of its store. */
export interface DestroyOutcome {
  readonly down: boolean;
  /** Its store directory was on this machine and is cleared. */
  readonly storeCleared: boolean;
  /** Its store is on another machine (its address is not local): clear it there before creating the node again. */
  readonly storeElsewhere?: string;
}

/** forget()'s result: destroy()'s, and what the running update did about the node, if it was in one. */
export interface ForgetOutcome extends DestroyOutcome {
  /** The update the node was in: aborted (it was in prepare: nothing changed) or going on without it. */
  readonly update?: { readonly id: number; readonly root: NodeId; readonly effect: "aborted" | "goes-on" };
  /**
   * Live neighbours still linked to it when forget() stopped waiting: past prepare each drops it when the root's
   * notice reaches it; else they were still in an update (forget the node again once they are out of it).
   */
  readonly pending: readonly NodeId[];
}

/** How long forget() waits for the neighbours to let the node go, in command bounds. */
const FORGET_SETTLE_COMMANDS = 6;

function settle<T>(p: Promise<T>): Promise<PromiseSettledResult<T>> {
  return p.then(
    (value) => ({ status: "fulfilled", value }),
    (reason: unknown) => ({ status: "rejected", reason }),
  );
}

function positiveMs(ms: number, field: string): number {
  if (!(Number.isFinite(ms) && ms > 0)) throw new InvalidOptionError(field, `expected a number of ms > 0, got ${String(ms)}`);
  return ms;
}

/** A command's bound: NodeNotAnsweringError once `ms` passed. */
function notAnswering(n: ClusterNode, ms: number): { readonly at: number; error(): Error } {
  return { at: wallNow() + ms, error: () => new NodeNotAnsweringError(n.id, n.address, ms) };
}

/** A failed dial, as the error that says what it means: a dial out of time is a node not answering, not a dead one. */
function unreachable(e: unknown, n: ClusterNode, ms: number, tls: boolean): NodeUnreachableError {
  if ((e as { code?: unknown } | undefined)?.code === DIAL_TIMEOUT) return new NodeNotAnsweringError(n.id, n.address, ms);
  return new NodeUnreachableError(n.id, n.address, explainConnectionError(e, tls));
}

/** Down for sure: nothing accepts connections at its address (refused, reset); a node not answering may be alive. */
function isDown(e: unknown): boolean {
  return e instanceof NodeUnreachableError && !(e instanceof NodeNotAnsweringError);
}

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Is this address one of this machine's (loopback, or an address of one of its interfaces)? */
function isLocalAddress(address: string): boolean {
  // Over NATS a node is anywhere: its store under this file's \`store:\` is the one \`cluster up\` would start it from here.
  if (natsName(address) !== undefined) return true;
  const { host } = parseAddress(address);
  if (host === "localhost" || host.startsWith("127.") || host === "::1" || host === "0.0.0.0" || host === "::") return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === host));
}

/**
 * A node whose process accepted our connection (the kernel does that for a stopped one) but never answers our hello
 * must not hold the session's opening for ever: past the bound it is closed, rejecting with NodeNotAnsweringError.
 */
function boundHello(conn: Connection, n: ClusterNode, ms: number, reject: (e: Error) => void, greeted: () => boolean): void {
  const timer = setTimeout(() => {
    if (greeted()) return;
    reject(new NodeNotAnsweringError(n.id, n.address, ms));
    conn.close();
  }, ms);
  conn.socket.once("close", () => clearTimeout(timer));
}

function rethrow(e: unknown): never {
  throw e;
}
