import { importNodeRecord } from "./node-import.js";
import { locationIn } from "./node-location.js";
import { lineLogger, type Logger } from "./logger.js";
import { NodeMetrics } from "./node-metrics.js";
import { pathOf, startHttpEndpoint, type HttpEndpoint } from "./http-access.js";
import { metricsAccess } from "./metrics-access.js";
import { NodeMoves, type MovePort } from "./node-moves.js";
import { sealNodeRecord, type NodeRecordFile } from "./node-record-file.js";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GCProfiler } from "node:v8";
import { pathToFileURL } from "node:url";
import type { Behavior } from "../core/behavior.js";
import type { UpdateCode } from "../core/control.js";
import { RequestExpiredError, DuplicateLinkError, InvalidUpdateError, RequestFailedError, UnknownLinkError, UpdateInProgressError, asError, InternalError, messageOf } from "../core/errors.js";
import type { ControlEnvelope, Envelope } from "../core/envelope.js";
import { failpoint } from "../core/failpoints.js";
import { CONTROL, type NodeId, type RequestId } from "../core/ids.js";
import { Topology } from "../core/topology.js";
import type { Update } from "../core/update.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { NodeHost, type HostEnvironment } from "../runtime/node-host.js";
import type { NodeStore, StoredRecord } from "../runtime/node-store.js";
import { CodeGate } from "./code-gate.js";
import { codeIn, codeKey, codesOf, extraOf, GroupCommit, newInstance, type CodeCache, type DaemonExtra } from "./node-durability.js";
import { openNodeStore } from "./store/open-node-store.js";
import { jsonCodec } from "../network/tcp/codec.js";
import { wireCodec } from "../network/tcp/codec-choice.js";
import { tlsMaterialProblem, type TlsMaterial } from "../network/tcp/sockets.js";
import { holdNats, type NatsHold } from "./nats-transport.js";
import { ControlSession, TcpNetwork } from "../network/tcp/tcp-network.js";
import { LamportClock, wallNow } from "../network/tcp/lamport-clock.js";
import type { Command, NodeStatus, TraceReply } from "../network/tcp/protocol.js";
import { linkIncarnations, linkKey, type Cluster, type ClusterNode } from "./cluster-file.js";
import { BusyError, fileProblem, NodeConfigError } from "./errors.js";
import { RequestRecords, type RetentionOptions } from "./request-records.js";
import { NodeTrace, TRACE_PIECE_CHARS } from "./node-trace.js";
import { moduleContents, parsePackage, readKey, verifyAndLoad } from "./update-package.js";
import { UpdateService } from "./update-service.js";
import { tlsFor } from "./tls-material.js";

export { NodeConfigError, tlsFor };

/** A node's starting code: a module exporting `behaviors`, or a signed package of one. */
async function loadInitialBehavior(cluster: Cluster, node: ClusterNode): Promise<Behavior> {
  let behaviors: Record<string, Behavior> | undefined;
  if (/\.(lspkg|json)$/.test(node.package)) {
    const trusted = cluster.signingKey ? readKey(cluster.signingKey, "public") : undefined;
    behaviors = (await verifyAndLoad(parsePackage(readFileSync(node.package, "utf8"), node.package), trusted)).behaviors;
  } else {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(node.package).href)) as Record<string, unknown>;
    } catch (e) {
      throw new NodeConfigError(`node "${node.id}": cannot load its package ${node.package} (${messageOf(e)})`);
    }
    behaviors = moduleContents(mod, node.package).behaviors;
  }
  const b = behaviors?.[node.behavior];
  if (b === undefined) {
    throw new NodeConfigError(`node "${node.id}": its package ${node.package} has no behavior "${node.behavior}" (it has: ${Object.keys(behaviors ?? {}).join(", ") || "none"})`);
  }
  return b;
}

/** What the node host hands out, before it is written: its reports to the coordinator are steps of their own. */
function beforeSend(env: Envelope): void {
  if (env.kind === "control" && env.to === CONTROL) {
    if (env.msg.kind === "prepared") failpoint("daemon.before-report-prepared");
    else if (env.msg.kind === "swapped") failpoint("daemon.before-report-swapped");
    else if (env.msg.kind === "done") failpoint("daemon.before-report-done");
  }
  failpoint("daemon.before-send");
}

/**
 * `liveswap node`: one node in its own OS process. The same node host, agents
 * and strategies as in the simulator, over the TCP network; the control plane
 * (`liveswap ctl`) configures it, sends it requests and coordinates updates.
 */
export class NodeDaemon {
  private readonly topology = new Topology();
  private readonly clock = new LamportClock();
  /** Every accepted request id and its outcome, so that a retry is never executed twice. */
  private readonly records: RequestRecords;
  /** Who waits for each open request's answer: the first sender and every retry since (any connection). */
  private readonly waiters = new Map<RequestId, { readonly session: ControlSession; readonly id: number }[]>();
  private readonly addresses = new Map<NodeId, string>();
  private readonly net: TcpNetwork;
  private readonly trusted;
  private host!: NodeHost;
  /** This node's trace: rotated segments under the cluster's trace directory (else in memory), bounded by retention. */
  private trace!: NodeTrace;
  /** The durable store (`store:` in the cluster file), its group commit, and the instance its channels carry. */
  private store: NodeStore | undefined;
  private commit: GroupCommit | undefined;
  private instance = newInstance();
  /** Started on an empty store: a neighbour that remembers an earlier instance of this node means its record is lost. */
  private freshStore = false;
  /** Started from a record (--import): its first start on this store. */
  private imported = false;
  /** Its location, and moves in or out of it (node-moves.ts). */
  private moves: NodeMoves;
  private destroyed = false;
  /** Update code loaded before the host sees the prepare or resume that carries it (by package text). */
  private readonly codes: CodeCache = new Map();
  /** Inputs waiting while a prepare's code loads (code-gate.ts: only the coordinator's later envelopes, as a rule). */
  private readonly gate: CodeGate = new CodeGate({
    loading: (env) => {
      const code = codeIn(env);
      const key = code !== undefined ? codeKey(code) : undefined;
      return code !== undefined && key !== undefined && !this.codes.has(key) ? this.preload([code]) : undefined;
    },
    deliver: (env) => this.input(() => this.deliverNow(env)),
    drained: () => this.commit?.schedule(),
    stopped: () => this.stopped,
  });
  private stopped = false;
  /** Its Prometheus metrics and their endpoint (`metrics:` in the cluster file, or --metrics). */
  private metrics: NodeMetrics | undefined;
  private metricsEndpoint: HttpEndpoint | undefined;
  /** Outside requests answered or failed by this process (a recovery's replay counts what it answers again). */
  private settledRequests = 0;
  private bufferedMessages = 0;
  /** The coordinator of the updates this node is the root of (DESIGN.md: the coordinator lives in the cluster). */
  private readonly updates: UpdateService;
  /** The process's NATS connection, when the cluster's transport is NATS: every connection of the node rides on it. */
  private readonly nats: NatsHold | undefined;

  private constructor(
    private readonly cluster: Cluster,
    private readonly self: ClusterNode,
    private readonly onStop: () => void,
    private readonly logger: Logger,
    retention: RetentionOptions | undefined,
  ) {
    this.records = new RequestRecords(self.id, wallNow, retention);
    this.trusted = cluster.signingKey ? readKey(cluster.signingKey, "public") : undefined;
    this.nats = cluster.transport !== undefined ? holdNats(cluster.transport, `node ${self.id}`) : undefined;
    this.nats?.onConflict((name) => {
      if (name !== self.id || this.stopped) return;
      this.logger.error(`node "${self.id}" stops: another process listens for it on NATS (started elsewhere while this one ran, or this one is back from a partition while a replacement ran). Two processes of one node must not both serve; keep the one whose store is the node's latest, and start it alone`);
      process.exitCode = 1;
      setImmediate(() => void this.stop());
    });
    this.net = new TcpNetwork({
      self: self.id,
      ...(this.nats !== undefined ? { sockets: this.nats } : {}),
      // A durable node's frames to its neighbours go through the cluster's JetStream stream: they wait there for a
      // neighbour that is down. A node without a store has nothing to resume from: its frames ride its connections.
      ...(this.nats !== undefined && cluster.storeDir !== undefined ? { stream: this.nats.stream(self.id, (line) => this.logger.warn(line)) } : {}),
      // `listen:` when the node binds elsewhere than where it is dialled (behind a proxy, or on 0.0.0.0).
      address: self.listen ?? self.address,
      codec: wireCodec(cluster.codec),
      ...(cluster.heartbeat !== undefined ? { heartbeat: cluster.heartbeat } : {}),
      onSuspect: (peer, suspected, silentMs) => this.record({ kind: suspected ? "suspect" : "unsuspect", t: this.net.now(), node: this.self.id, peer, silentMs }),
      ...(cluster.tls ? { tls: tlsFor(cluster, self.cert, self.key) as TlsMaterial } : {}),
      clock: this.clock,
      onEnvelope: (env) => this.deliver(env),
      onTimer: (_node, incarnation, tag, timer) => {
        if (!this.stopped && !this.moves.frozen) this.input(() => this.host.timer(tag, timer, incarnation));
      },
      onAcked: (peer, seq) => {
        const link = this.topology.linksOf(this.self.id).get(peer);
        if (link !== undefined && this.store !== undefined) this.host.channels.ack(peer, link, seq);
      },
      onPlaneAck: (_link, seq) => {
        if (this.store !== undefined) this.host.channels.ack(CONTROL, 0, seq);
      },
      onControlHello: (_session, chan) => (this.store !== undefined ? this.host.channels.applied(CONTROL, Number(chan ?? 0) || 0) : 0),
      checkPeer: (peer, seen) => this.checkPeer(peer, seen),
      onFenced: (peer, reason) => this.fenced(peer, reason),
      identity: () => {
        const version = this.imported ? (this.host as NodeHost | undefined)?.version : undefined;
        return { loc: this.moves.location.epoch, ...(version !== undefined ? { imported: version } : {}) };
      },
      fenceHello: (peer, hello) => this.moves.fence(peer, hello.loc) ?? this.retiredImport(peer, hello.imported),
      onControlResumed: (session, recv) => {
        if (this.store === undefined) return;
        for (const env of this.host.resendTo(CONTROL, 0, recv)) this.net.sendPlane(session, env as ControlEnvelope);
      },
      onCommand: (session, id, cmd) => this.onCommand(session, id, cmd),
      onUnlinked: (peer, link) => this.unlinkedWhileDown(peer, link),
      onLost: (envs, reason) => {
        for (const env of envs) {
          if (env.kind === "app") this.record({ kind: "drop", t: this.net.now(), node: env.to, from: env.from, msg: env.id, reason });
        }
      },
      log: (line) => logger.info(line),
      // A durable node's spill lies in its store directory (emptied at start: its outbox comes back from the record).
      outbox: { ...cluster.outbox, ...(cluster.storeDir !== undefined ? { spillDir: join(cluster.storeDir, self.id, "outbox-spill") } : {}) },
    });
    this.moves = new NodeMoves(this.movePort());
    // Lamport times start at the wall clock in microseconds: a node started (or restarted) later sorts after what came before.
    this.clock.value = Math.floor(wallNow() * 1000);
    this.updates = new UpdateService({
      cluster,
      self: self.id,
      tls: cluster.tls ? tlsFor(cluster, self.cert, self.key) : undefined,
      clock: this.clock,
      storeDir: cluster.storeDir !== undefined ? join(cluster.storeDir, self.id) : undefined,
      log: (line) => logger.info(line),
      partRun: () => (this.host as NodeHost | undefined)?.partRun(),
    });
  }

  /** `unlinked`: start with no links (Conic's create; `ctl link` adds them), not the file's. */
  static async start(
    cluster: Cluster,
    id: string,
    opts: {
      onStop?: () => void;
      /** Where its log goes: a Logger (levels, JSON or text), or a function taking each line (info). */
      logger?: Logger;
      log?: (line: string) => void;
      unlinked?: boolean;
      retention?: RetentionOptions;
      importFrom?: string;
      metrics?: string;
    } = {},
  ): Promise<NodeDaemon> {
    const logger = opts.logger ?? lineLogger(opts.log ?? (() => undefined));
    const self = cluster.nodes.find((n) => n.id === id);
    if (self === undefined) throw new NodeConfigError(`no node "${id}" in ${cluster.file} (it has: ${cluster.nodes.map((n) => n.id).join(", ")})`);
    const behavior = await loadInitialBehavior(cluster, self);
    if (opts.importFrom !== undefined) logger.info(importNodeRecord(cluster, id, opts.importFrom));
    const store = cluster.storeDir !== undefined ? openNodeStore(join(cluster.storeDir, id)) : undefined;
    const record = store?.load();
    failpoint("daemon.after-load");
    const location = locationIn(record?.mark);
    if (location.moved !== undefined) {
      store?.close();
      throw new NodeConfigError(
        `node "${id}" moved to ${location.moved.address} (location epoch ${location.moved.epoch}): its store ${join(cluster.storeDir ?? "", id)} is an old location and does not run again. Remove that directory (the node lives on at ${location.moved.address})`,
      );
    }
    const d = new NodeDaemon(cluster, self, opts.onStop ?? (() => undefined), logger, opts.retention);
    d.moves = new NodeMoves(d.movePort(), location);
    d.imported = opts.importFrom !== undefined;
    if (location.moving !== undefined) logger.warn(`node "${id}" is moving to ${location.moving.address} (committed before this process stopped): it serves nothing here; \`ctl move ${id} --address ${location.moving.address}\` finishes the move, \`ctl move ${id} --cancel\` gives it up`);
    d.store = store;
    d.freshStore = store !== undefined && record === undefined;
    try {
      if (record !== undefined) await d.recover(behavior, record);
      else await d.boot(behavior, opts.unlinked ?? false);
    } catch (e) {
      store?.close();
      await d.net.close();
      await d.nats?.release();
      throw e;
    }
    // The update this node coordinated when it died goes on (its journal is in the store).
    d.updates.recover();
    const metricsAt = opts.metrics ?? self.metrics;
    if (metricsAt !== undefined) {
      try {
        await d.serveMetrics(metricsAt);
      } catch (e) {
        // Not started after all: what it opened is closed (its store committed), and the caller hears why.
        await d.release();
        throw e;
      }
    }
    return d;
  }

  get id(): NodeId {
    return this.self.id;
  }

  /** An operational line of this node (info); warnings and errors go to the logger with their level. */
  private log(line: string): void {
    this.logger.info(line);
  }

  private async boot(behavior: Behavior, unlinked: boolean): Promise<void> {
    this.openTrace();
    const me = this.self.id;
    this.topology.addNode(me);
    const incarnations = linkIncarnations(this.cluster);
    for (const [a, b] of unlinked ? [] : this.cluster.links) {
      if (a !== me && b !== me) continue;
      const peer = a === me ? b : a;
      this.addLink(peer, incarnations.get(linkKey(a, b)) as number, this.self.dial?.[peer] ?? (this.cluster.nodes.find((n) => n.id === peer) as ClusterNode).address);
    }
    await this.net.start();
    // Message ids must stay unique across a node's lives (destroyed and created again, restarted): each life
    // numbers its messages from the wall clock in microseconds at its start, as its Lamport times do.
    this.host = new NodeHost(me, behavior, 0, 1, this.environment(), undefined, this.clock.value, this.store !== undefined ? "batch" : "open");
    // Without a store the transport numbers and resends frames itself (in memory); with one, the host does (durably).
    this.host.durability = this.store !== undefined;
    this.setUpDurability();
    this.record({ kind: "create", t: this.net.now(), node: me, version: behavior.version, epoch: 0 });
    for (const peer of this.topology.neighbors(me)) {
      if (me < peer) this.record({ kind: "link", t: this.net.now(), a: me, b: peer });
      this.connectPeer(peer);
    }
    this.input(() => this.host.initialize());
    this.commit?.now();
    this.log(`node "${me}" (${behavior.version}) listening on ${listeningAt(this.self)}${this.cluster.tls ? " (mutual TLS)" : ""}${this.store !== undefined ? `, store ${this.storePath()}` : ""}`);
  }

  /**
   * A node whose store holds a record: its links and channel instance from the record, the update code its replay
   * needs loaded first, then its snapshot and log replayed (nothing leaves: it left when committed), its timers re-armed;
   * its neighbours and the control plane resend what it has not applied, and it resends what they have not.
   */
  private async recover(behavior: Behavior, record: StoredRecord): Promise<void> {
    // A source moving away writes nothing more, and must not cut a trace its destination may append to (same machine).
    this.openTrace(this.moves.location.moving !== undefined ? undefined : record.mark);
    const me = this.self.id;
    const extra = extraOf(record);
    if (extra === undefined) throw new NodeConfigError(`node "${me}": its store ${this.storePath()} holds a record without its links (written by another liveswap?); move the directory away to start the node empty`);
    this.instance = extra.instance;
    this.topology.addNode(me);
    // A neighbour that moved since the snapshot is dialled where it went.
    for (const [peer, incarnation, address] of extra.links) this.addLink(peer, incarnation, this.moves.location.peers?.[peer]?.address ?? address);
    await this.preload(codesOf(record));
    await this.net.start();
    const t0 = performance.now();
    this.host = NodeHost.recover(me, record, 1, this.environment(), (v) => this.behaviorOf(v, behavior), undefined, "batch");
    const replayMs = performance.now() - t0;
    this.setUpDurability();
    if (this.commit !== undefined) this.commit.sinceSnapshot = record.log.length;
    this.traceStart(record);
    for (const peer of this.topology.neighbors(me)) this.connectPeer(peer);
    this.log(`node "${me}" (${this.host.version}) recovered from ${this.storePath()} (${record.log.length} log entries replayed in ${replayMs.toFixed(1)} ms), listening on ${listeningAt(this.self)}`);
  }

  /**
   * How this process's start reads in the node's one life: an arrival where a move brought it (its record came with
   * the move), nothing for an old location that is moving away (the node lives on where it goes), else the previous
   * process's end and this restart, as the simulator traces a crash: nothing it had not committed happened.
   */
  private traceStart(record: StoredRecord): void {
    const me = this.self.id;
    const t = this.net.now();
    const l = this.moves.location;
    if (l.moving !== undefined) return;
    if (this.imported && l.arrivedFrom !== undefined) {
      this.record({ kind: "arrive", t, node: me, at: this.self.address, locationEpoch: l.epoch, version: this.host.version, epoch: this.host.epoch });
      return;
    }
    this.record({ kind: "crash", t, node: me, lost: 0 });
    this.record({ kind: "restart", t, node: me, version: this.host.version, epoch: this.host.epoch, replayed: record.log.length });
  }

  private storePath(): string {
    return join(this.cluster.storeDir ?? "", this.self.id);
  }

  private addLink(peer: NodeId, incarnation: number, address: string): void {
    if (!this.topology.hasNode(peer)) this.topology.addNode(peer);
    this.topology.addLink(this.self.id, peer, incarnation);
    this.addresses.set(peer, address);
  }

  /** The channel to a neighbour; a durable node's resumes from its host's positions and outbox. */
  private connectPeer(peer: NodeId): void {
    const link = this.topology.linksOf(this.self.id).get(peer) as number;
    const durable =
      this.store !== undefined
        ? { instance: `${this.instance}/${link}`, delivered: this.host.channels.applied(peer, link), unacked: this.host.channels.unacked(peer, link, 0), lc: this.clock.tick() }
        : undefined;
    this.net.addPeer(peer, this.addresses.get(peer) as string, durable);
  }

  private setUpDurability(): void {
    const store = this.store;
    if (store === undefined) return;
    this.host.snapshotExtra = (): DaemonExtra => ({
      instance: this.instance,
      links: this.topology.neighbors(this.self.id).map((p) => [p, this.topology.linksOf(this.self.id).get(p) as number, this.addresses.get(p) as string] as const),
    });
    this.commit = new GroupCommit(store, () => this.host, this.net, (peer) => this.topology.linksOf(this.self.id).get(peer), (e) => this.fatal(e));
  }

  /**
   * A node started on an empty store whose neighbour remembers an earlier instance of it (it talked to a channel of
   * ours this store never made): the node's record is lost or moved. Serving on would be a silent empty replica.
   */
  private checkPeer(peer: NodeId, seen: string | undefined): string | undefined {
    // Moving away: its neighbours are refused (they redial, and are told where it went).
    if (this.moves.frozen) return `node "${this.self.id}" is moving`;
    if (!this.freshStore || seen === undefined || seen.startsWith(`${this.instance}/`)) return undefined;
    const why =
      `node "${this.self.id}" started with an empty store at ${this.storePath()}, but its neighbour "${peer}" remembers an earlier ` +
      `instance of it: its durable record is lost or was moved. Restore the store directory and start it again, or ` +
      `\`ctl destroy ${this.self.id}\` and create it again to start it empty on purpose`;
    this.logger.error(why);
    process.exitCode = 1;
    setImmediate(() => void this.stop());
    return why;
  }

  /** A neighbour refuses this node for good (it runs from a stale record): it stops, saying why, with exit code 1. */
  private fenced(peer: NodeId, reason: string): void {
    if (this.stopped) return;
    if (this.moves.location.moving !== undefined) {
      // Moving away, and a neighbour knows the node at its newer location: the move is done; this location retires.
      this.log(`node "${this.self.id}": its neighbour "${peer}" knows it at its new location (${reason})`);
      return this.moves.retire();
    }
    this.logger.error(`node "${this.self.id}" stops: its neighbour "${peer}" refused it for good: ${reason}`, { peer });
    process.exitCode = 1;
    setImmediate(() => void this.stop());
  }

  /**
   * A neighbour started from a record (`--import`) runs a version this node's updates retired: the record is older
   * than an update the cluster went through, and its node cannot rejoin (as a node created at a retired version is
   * refused). Not while this node takes part in an update (a neighbour may lag a swap behind it then).
   */
  private retiredImport(peer: NodeId, version: string | undefined): string | undefined {
    const host = this.host as NodeHost | undefined;
    if (version === undefined || host === undefined || host.updateId !== undefined || !host.retiredVersions().includes(version)) return undefined;
    return `node "${peer}" was started from a record of version ${version}, which an update retired here (this node runs ${this.host.version}): a record older than an update cannot rejoin; restore a record exported after the update, or destroy the node and create it at ${this.host.version}`;
  }

  /** A commit failed (an fsync error): the node stops, never retrying (the pages it was to write may be gone). */
  private fatal(e: Error): void {
    this.logger.error(`node "${this.self.id}": its store failed to commit (${e.message}); the node stops. Start it again: it recovers what was committed`);
    void this.stop();
  }

  /** The behavior of a version a recovered node runs: its starting one, or one its update code brought. */
  private behaviorOf(version: string, initial: Behavior): Behavior {
    if (initial.version === version) return initial;
    for (const loaded of this.codes.values()) {
      if (loaded instanceof Error) continue;
      for (const u of loaded) {
        if (u.to.version === version) return u.to;
        if (u.from.version === version) return u.from;
      }
    }
    throw new NodeConfigError(`node "${this.self.id}": its store says it runs "${version}", and neither its package nor the update packages in its record have that version`);
  }

  /** Load update code before anything needs it (a replay, or the prepare that carries it), keeping failures to refuse with. */
  private async preload(codes: readonly UpdateCode[]): Promise<void> {
    for (const code of codes) {
      const key = codeKey(code);
      if (key === undefined || this.codes.has(key)) continue;
      try {
        this.codes.set(key, await this.loadCode(code));
      } catch (e) {
        this.codes.set(key, asError(e));
      }
    }
  }

  /** One input for the host, in arrival order; a durable node commits it with the rest of this turn. */
  private input(run: () => void): void {
    if (this.gate.holdsAll) return this.gate.hold(run);
    run();
    this.commit?.schedule();
  }

  /**
   * A durable node's trace is written synchronously at each commit, before the messages it explains leave; a
   * recovering one first cuts away the lines of steps that did not commit (`cutTo`: its last commit's bookmark).
   */
  private openTrace(cutTo?: unknown): void {
    this.trace = NodeTrace.open({ dir: this.cluster.traceDir, id: this.self.id, retention: this.cluster.traceRetention, cutTo });
  }

  /** An envelope from a neighbour or the coordinator, to the node host (through the gate: see code-gate.ts). */
  private deliver(env: Envelope): void {
    // A node moving away takes nothing more here: its senders keep what they sent for its new location.
    if (!this.stopped && !this.moves.frozen) this.gate.offer(env);
  }

  /** The failpoints mark the protocol's steps. */
  private deliverNow(env: Envelope): void {
    if (env.kind === "control" && env.plane) {
      if (env.msg.kind === "prepare") failpoint("daemon.prepare-received");
      else if (env.msg.kind === "resume") failpoint("daemon.resume-received");
      else if (env.msg.kind === "abort") failpoint("daemon.abort-received");
    }
    failpoint("daemon.before-deliver");
    this.host.deliver(env);
    failpoint("daemon.after-deliver");
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.release();
    this.onStop();
  }

  /** Commit, then close what this process opened (metrics, coordinator, network, trace, store); stop() says so after. */
  private async release(): Promise<void> {
    if (!this.destroyed) this.commit?.now();
    this.stopped = true;
    await this.metricsEndpoint?.close();
    this.updates.close();
    await this.net.close();
    await this.nats?.release();
    this.trace.close();
    if (this.destroyed) {
      this.store?.clear();
      this.updates.destroyed();
    }
    this.store?.close();
  }

  private record(ev: TraceEvent): void {
    // A message an update's strategy buffered (an early new-tagged one at an old node): counted for the metrics.
    if (ev.kind === "buffer") this.bufferedMessages++;
    this.trace.record(ev, this.clock.tick());
  }

  /** What the node host needs of this process: the TCP network, the trace, the open requests, and package loading. */
  private environment(): HostEnvironment {
    const topology = this.topology;
    const net = this.net;
    return {
      tracing: true,
      now: () => net.now(),
      transmit: (env) => {
        beforeSend(env);
        net.transmit(env);
      },
      startTimer: (node, incarnation, delayMs, tag, timer) => net.startTimer(node, incarnation, delayMs, tag, timer),
      neighbors: (n) => topology.neighbors(n),
      linksOf: (n) => topology.linksOf(n),
      hasOpenRequest: (_n, rid) => this.records.lookup(rid)?.status === "open",
      record: (ev) => this.record(ev),
      // A durable node's host keeps the request records (they survive a crash); a volatile node's daemon does.
      answer: (_n, rid, result) => {
        if (this.store === undefined && !this.records.answer(rid, result)) return;
        this.settledRequests++;
        for (const w of this.takeWaiters(rid)) w.session.reply(w.id, result);
      },
      fail: (node, rid, reason) => {
        if (this.store === undefined && !this.records.fail(rid, reason)) return;
        this.settledRequests++;
        for (const w of this.takeWaiters(rid)) w.session.fail(w.id, new RequestFailedError(node, rid, reason));
      },
      expired: (node, rid) => {
        for (const w of this.takeWaiters(rid)) w.session.fail(w.id, new RequestExpiredError(node, rid, "it was issued before the oldest request the node forgot"));
      },
      // Code a prepare carries is loaded before the host sees it (deliver): here it is taken from what was loaded.
      loadCode: (code) => {
        const key = codeKey(code);
        const loaded = key !== undefined ? this.codes.get(key) : undefined;
        if (loaded instanceof Error) throw loaded;
        return loaded ?? this.loadCode(code);
      },
      // The bookmark every commit carries: where the trace ends, and the node's location (node-location.ts).
      traced: () => (this.store === undefined ? this.trace.mark() : { ...this.trace.mark(), location: this.moves.location }),
      dropNeighbor: (_n, gone) => this.dropForgotten(gone),
      partBegun: (update, figures) => this.metrics?.partBegun(update, figures),
      // The step in which the node turns new is timed on the wall clock: its swap pause.
      wallClock: () => performance.now(),
      cpuClock: () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      },
      // Only a step that may be a swap's is watched: every step of a node armed for an update and not new yet (its
      // inputs until it swaps; none outside updates). V8's profiler costs about 2 µs a start and stop.
      gcWatch: () => {
        const profiler = new GCProfiler();
        profiler.start();
        return () => profiler.stop().statistics.reduce((ms, s) => ms + s.cost / 1000, 0);
      },
    };
  }

  /** A prepare's code: a package signed by the cluster's key, verified before anything of it runs. */
  private async loadCode(code: UpdateCode): Promise<readonly Update[]> {
    if (code.kind !== "package") throw new InvalidUpdateError("a node process takes signed update packages (liveswap pack), not update objects");
    const { update } = await verifyAndLoad(parsePackage(code.text), this.trusted);
    if (update === undefined) throw new InvalidUpdateError("the package holds behaviors, not an update");
    return [update];
  }

  /** This node's trace in pieces ("trace-chunk" frames, none near the frame limit), then a reply saying how many. */
  private async replyWithTrace(session: ControlSession, id: number, tailBytes?: number): Promise<void> {
    try {
      // A root's coordinator events follow its own (their Lamport times order them in the merge).
      if (tailBytes !== undefined && !(Number.isInteger(tailBytes) && tailBytes > 0)) throw new NodeConfigError(`trace: tailBytes is ${String(tailBytes)}; give a whole number of bytes > 0, or leave it out for the whole trace`);
      const pieces =
        tailBytes !== undefined
          ? concatPieces(this.trace.tail(tailBytes, TRACE_PIECE_CHARS), this.updates.trace.tail(tailBytes, TRACE_PIECE_CHARS))
          : concatPieces(this.trace.pieces(TRACE_PIECE_CHARS), this.updates.trace.pieces(TRACE_PIECE_CHARS));
      const chunks = await session.sendPieces(id, pieces);
      const reply: TraceReply = { chunks, horizon: this.trace.horizon() };
      session.reply(id, reply);
    } catch (e) {
      session.fail(id, asError(e));
    }
  }

  status(): NodeStatus & { readonly lc: number } {
    const h = this.host;
    const update = h.participationStatus();
    const last = h.partRun();
    return {
      ...(last !== undefined ? { lastUpdate: { id: last.id, root: last.root } } : {}),
      id: this.self.id,
      version: h.version,
      epoch: h.epoch,
      retired: h.retiredVersions(),
      neighbors: this.net.peers().filter((p) => this.topology.linked(this.self.id, p.id)),
      update,
      openRequests: this.records.open,
      requestsSettled: this.settledRequests,
      pid: process.pid,
      ...(this.store !== undefined && this.commit !== undefined ? { store: this.commit.status(this.store.kind) } : {}),
      lc: this.clock.value,
      location: this.moves.status(),
    };
  }

  /**
   * Serve the node's Prometheus metrics at `listen` (GET /metrics), read from its status when scraped; the access
   * rule is the cluster file's `metricsAccess:` (open on loopback only without one).
   */
  async serveMetrics(listen: string): Promise<HttpEndpoint> {
    this.metrics ??= new NodeMetrics({ status: () => this.status(), coordinator: () => this.updates.view(), buffered: () => this.bufferedMessages }, this.self.id);
    const metrics = this.metrics;
    this.metricsEndpoint = await startHttpEndpoint(`node "${this.self.id}"'s metrics`, listen, metricsAccess(this.cluster, this.self), async (req, res) => {
      if (req.method !== "GET" || pathOf(req.url) !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        return void res.end("liveswap node: metrics are at GET /metrics\n");
      }
      const text = await metrics.text();
      res.writeHead(200, { "content-type": metrics.contentType });
      res.end(text);
    });
    this.log(`node "${this.self.id}": metrics at ${this.metricsEndpoint.url}/metrics`);
    return this.metricsEndpoint;
  }

  /** What its moves need of this process. */
  private movePort(): MovePort {
    return {
      id: this.self.id,
      address: this.self.address,
      traceMove: (to, locationEpoch) => this.record({ kind: "move", t: this.net.now(), node: this.self.id, from: this.self.address, to, locationEpoch }),
      commitNow: () => this.commit?.now(true),
      record: () => {
        const r = this.store?.load();
        if (r === undefined) throw new NodeConfigError(`node "${this.self.id}" has no durable store to move (${this.cluster.file} has no \`store:\` directory); give the cluster one`);
        return r;
      },
      header: () => ({ node: this.self.id, version: this.host.version, epoch: this.host.epoch, retired: this.host.retiredVersions() }),
      keys: () => this.recordKeys(),
      update: () => this.host.updateId,
      coordinating: () => this.updates.coordinating(),
      redirect: (peer, address) => {
        if (!this.addresses.has(peer)) return false;
        this.addresses.set(peer, address);
        this.net.redirect(peer, address);
        return true;
      },
      addressOf: (peer) => this.addresses.get(peer),
      commitSoon: () => setImmediate(() => this.commit?.now(true)),
      sever: () => this.net.sever(),
      exit: () => setImmediate(() => void this.stop()),
      log: (line) => this.log(line),
    };
  }

  /** The CA, certificate and key a record is sealed with, or why there are none. */
  private recordKeys(): { readonly ca: string; readonly cert: string; readonly key: string } {
    const me = this.self.id;
    if (this.store === undefined) throw new NodeConfigError(`node "${me}" has no durable store to export (${this.cluster.file} has no \`store:\` directory); give the cluster one`);
    const keys = tlsFor(this.cluster, this.self.cert, this.self.key);
    if (keys === undefined) throw new NodeConfigError(`node "${me}": a record is signed with the node's TLS key, and ${this.cluster.file} has no \`tls:\`; make keys with \`liveswap keys init\``);
    return keys;
  }

  /**
   * `ctl export`: everything this node committed, made a snapshot first (a quiet node's export is a snapshot alone),
   * sealed with its TLS key. A copy, not a move: this node keeps running.
   */
  private exportRecord(): NodeRecordFile {
    const me = this.self.id;
    const keys = this.recordKeys();
    const away = this.moves.refusal("export");
    if (away !== undefined) throw away;
    this.commit?.now(true);
    const record = this.store?.load();
    if (record === undefined) throw new InternalError(`node "${me}": its store is empty after a commit`);
    const h = this.host;
    const l = this.moves.location;
    const location = { epoch: l.epoch + 1, ...(l.peers !== undefined ? { peers: l.peers } : {}) };
    return sealNodeRecord(record, { node: me, version: h.version, epoch: h.epoch, retired: h.retiredVersions(), locationEpoch: location.epoch }, keys, new Date(), location);
  }

  /** The commands of exports and moves (node-moves.ts); the reply's value. */
  private locationCommand(cmd: Extract<Command, { kind: "export" | "move-out" | "move-retire" | "move-cancel" | "relocate" }>): unknown {
    switch (cmd.kind) {
      case "export":
        return this.exportRecord();
      case "move-out":
        return this.moves.moveOut(cmd.address, cmd.halted);
      case "move-retire":
        this.moves.retire();
        return "retired";
      case "move-cancel":
        this.moves.cancel();
        return "cancelled";
      case "relocate":
        this.moves.relocate(cmd.peer, cmd.address, cmd.locationEpoch);
        return "relocated";
    }
  }

  /** Configuration waits for the end of this node's part in an update. */
  private assertConfigurable(operation: string): void {
    const u = this.host.updateId;
    if (u !== undefined) throw new UpdateInProgressError(operation, u);
  }

  private onCommand(session: ControlSession, id: number, cmd: Command): void {
    try {
      switch (cmd.kind) {
        case "status":
          return session.reply(id, this.status());
        case "request":
          return this.request(session, id, cmd);
        case "link":
          this.link(cmd.peer, cmd.address, cmd.incarnation);
          return session.reply(id, "linked");
        case "unlink":
          this.unlink(cmd.peer, cmd.alone === true ? "always" : "once");
          return session.reply(id, "unlinked");
        case "destroy": {
          this.assertConfigurable("destroy");
          this.record({ kind: "destroy", t: this.net.now(), node: this.self.id });
          // Destroyed means gone: its store is emptied (a node created again under its id starts empty, as a new one).
          this.destroyed = true;
          // Its trace leaves with it: the control plane keeps it for the cluster's merged trace.
          void this.replyWithTrace(session, id).finally(() => setImmediate(() => void this.stop()));
          return;
        }
        case "trace":
          void this.replyWithTrace(session, id, cmd.tailBytes);
          return;
        case "export":
        case "move-out":
        case "move-retire":
        case "move-cancel":
        case "relocate":
          return session.reply(id, this.locationCommand(cmd));
        case "sever":
          this.net.sever();
          return session.reply(id, "severed");
        case "update-submit":
          void this.updates.submit(cmd).then(
            (update) => session.reply(id, update),
            (e: unknown) => session.fail(id, asError(e)),
          );
          return;
        case "update-view":
          return session.reply(id, this.updates.view());
        case "update-abort":
          return session.reply(id, this.updates.abort(cmd.reason ?? ""));
        case "update-resume":
          this.updates.resume(cmd.package);
          return session.reply(id, this.updates.view());
        case "update-forget":
          if (typeof cmd.node !== "string") throw new NodeConfigError(`update-forget: "node" is ${typeof cmd.node}, not a node id`);
          void this.updates.forgetNode(cmd.node).then(
            (view) => session.reply(id, view),
            (e: unknown) => session.fail(id, asError(e)),
          );
          return;
        case "update-takeover":
          void this.updates.takeover().then(
            (view) => session.reply(id, view),
            (e: unknown) => session.fail(id, asError(e)),
          );
          return;
      }
    } catch (e) {
      session.fail(id, asError(e));
    }
  }

  /**
   * An outside request, or a retry of one (same id, from any connection: the first may have died): a new id runs;
   * an open one gets this sender added to its waiters; a settled one gets its recorded outcome. Never runs twice.
   */
  private request(session: ControlSession, id: number, cmd: Extract<Command, { kind: "request" }>): void {
    const rid = cmd.request as RequestId;
    const away = this.moves.refusal("request");
    if (away !== undefined) throw away;
    this.refuseIfBusy(rid, cmd.since);
    if (this.store !== undefined) {
      // The host's durable records decide: run it, join the one execution, or answer from the record (across restarts).
      const waiting = this.waiters.get(rid);
      if (waiting !== undefined) waiting.push({ session, id });
      else this.waiters.set(rid, [{ session, id }]);
      this.input(() => this.host.request(rid, cmd.body, cmd.since ?? this.net.now()));
      return;
    }
    const fingerprint = createHash("sha256").update(jsonCodec.encode(cmd.body)).digest("base64");
    const known = this.records.lookup(rid, cmd.since, fingerprint);
    switch (known?.status) {
      case undefined:
        this.records.accept(rid, fingerprint);
        this.waiters.set(rid, [{ session, id }]);
        try {
          this.host.request(rid, cmd.body);
        } catch (e) {
          // Refused before any handler ran: record it as failed, so a retry gets the same refusal, not a hang.
          this.records.fail(rid, messageOf(e));
          this.takeWaiters(rid);
          throw e;
        }
        return;
      case "open":
        this.waiters.get(rid)?.push({ session, id });
        return;
      case "answered":
        return session.reply(id, known.answer);
      case "failed":
        return session.fail(id, new RequestFailedError(this.self.id, rid, known.reason));
    }
  }

  /**
   * A new request is refused while the outboxes' spill is near its quota (DESIGN.md: only new outside requests get
   * Busy). One this node accepted before (open or settled, here or in its durable records) is never refused.
   */
  private refuseIfBusy(rid: RequestId, since: number | undefined): void {
    const busy = this.net.busy();
    if (busy === undefined || this.waiters.has(rid)) return;
    const known = this.store !== undefined ? this.host.requests.arrive(rid, since ?? this.net.now()).kind !== "run" : this.records.lookup(rid) !== undefined;
    if (!known) throw new BusyError(this.self.id, busy.waitingOn, busy.spilledBytes, busy.quotaBytes);
  }

  private takeWaiters(rid: RequestId): readonly { readonly session: ControlSession; readonly id: number }[] {
    const w = this.waiters.get(rid) ?? [];
    this.waiters.delete(rid);
    return w;
  }

  private link(peer: NodeId, address: string, incarnation: number): void {
    const me = this.self.id;
    this.assertConfigurable("link");
    if (this.topology.linked(me, peer)) throw new DuplicateLinkError(me, peer);
    if (peer === me) throw new NodeConfigError(`link: "${me}" cannot link to itself`);
    if (!this.topology.hasNode(peer)) this.topology.addNode(peer);
    this.topology.addLink(me, peer, incarnation);
    this.addresses.set(peer, address);
    if (me < peer) this.record({ kind: "link", t: this.net.now(), a: me, b: peer });
    // A configuration change is snapshotted at once: a replay must never run a step under a topology it did not run under.
    this.commit?.now(true);
    this.connectPeer(peer);
  }

  /**
   * A neighbour unlinked our link while this node was down (it restarted from its store with the link): drop it as
   * `ctl unlink` would have. False while the node cannot yet (recovering, or in an update): the neighbour tells again.
   */
  private unlinkedWhileDown(peer: NodeId, link: number): boolean {
    if (this.stopped || (this.host as NodeHost | undefined) === undefined) return false;
    if (this.topology.linksOf(this.self.id).get(peer) !== link) return true; // that link is gone here already
    if (this.host.updateId !== undefined) return false;
    this.logger.warn(`"${peer}" unlinked this node while it was down: the link is dropped here too`, { peer });
    this.unlink(peer, "never");
    return true;
  }

  /**
   * A neighbour lost for good was forgotten during an update ("gone"): its link goes as an unlink's would, outside the
   * configuration lock, within the host's step (the "gone" input is logged, so a replay drops it again; the topology
   * is snapshotted with the next commit). What this node still had for it in its outbox is dropped with the channel.
   */
  private dropForgotten(peer: NodeId): void {
    const me = this.self.id;
    if (!this.topology.linked(me, peer)) return;
    this.topology.removeLink(me, peer);
    // The forgotten side is dead: this side alone says the link went. A replay at recovery (the host not set yet)
    // says nothing: the first run's line is in the trace already (it committed with the "gone" it explains).
    const replaying = (this.host as NodeHost | undefined) === undefined;
    if (!replaying) this.record({ kind: "unlink", t: this.net.now(), a: me < peer ? me : peer, b: me < peer ? peer : me });
    // No channel yet while recovering (the neighbours are dialled after the replay, from the topology it leaves).
    this.net.removePeer(peer, 0);
  }

  /**
   * `trace`: "once", the end with the smaller id traces it (both ends unlink); "always", this end alone unlinks (the
   * other is down); "never", the other end traced it when it unlinked alone (this node learns it at its restart).
   */
  private unlink(peer: NodeId, trace: "once" | "always" | "never"): void {
    const me = this.self.id;
    this.assertConfigurable("unlink");
    if (!this.topology.linked(me, peer)) throw new UnknownLinkError(me, peer);
    this.topology.removeLink(me, peer);
    if (trace === "always" || (trace === "once" && me < peer)) this.record({ kind: "unlink", t: this.net.now(), a: me < peer ? me : peer, b: me < peer ? peer : me });
    this.commit?.now(true);
    this.net.removePeer(peer);
  }
}

function* concatPieces(...parts: readonly Iterable<string>[]): Generator<string> {
  for (const p of parts) yield* p;
}

/** Where a node binds, and where it is dialled when that differs (`listen:` behind a proxy or on 0.0.0.0). */
function listeningAt(node: ClusterNode): string {
  return node.listen !== undefined && node.listen !== node.address ? `${node.listen} (dialled at ${node.address})` : node.address;
}
