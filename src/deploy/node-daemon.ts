import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Behavior } from "../core/behavior.js";
import type { ControlEnvelope, Envelope } from "../core/envelope.js";
import { DuplicateLinkError, RequestFailedError, UnknownLinkError, UpdateInProgressError } from "../core/errors.js";
import { CONTROL, type NodeId, type RequestId } from "../core/ids.js";
import { Topology } from "../core/topology.js";
import type { Update, UpdateOptions } from "../core/update.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { NodeRuntime, type NodeHost } from "../runtime/node-host.js";
import { jsonCodec } from "../network/tcp/codec.js";
import type { TlsMaterial } from "../network/tcp/sockets.js";
import { ControlSession, TcpNetwork } from "../network/tcp/tcp-network.js";
import { LamportClock, readStamped, stampedLine, wallNow, type Command, type NodeStatus, type StampedEvent, type UpdateFigures } from "../network/tcp/wire.js";
import { strategyModule } from "../update/registry.js";
import type { StrategyModule } from "../update/strategy.js";
import { UpdateRun } from "../update/update-run.js";
import { linkIncarnations, linkKey, type Cluster, type ClusterNode } from "./cluster-file.js";
import { moduleContents, parsePackage, readKey, verifyAndLoad } from "./update-package.js";

/** What the control plane puts in a prepare message over TCP, beside the strategy's own data. */
export interface DeployPrepare {
  readonly package: string;
  readonly run: {
    readonly strategy: UpdateRun["strategy"];
    readonly root: NodeId;
    readonly nodes: readonly NodeId[];
    readonly options: UpdateOptions;
    readonly requestedAt: number;
  };
}

interface Current {
  readonly run: UpdateRun;
  readonly strategy: StrategyModule;
  readonly coordinator: { markStarted(): void };
}

export class NodeConfigError extends Error {
  readonly code = "NODE_CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "NodeConfigError";
  }
}

export function tlsFor(cluster: Cluster, certPath: string | undefined, keyPath: string | undefined): TlsMaterial | undefined {
  if (cluster.tls === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) throw new NodeConfigError("the cluster uses TLS: a certificate and key are needed");
  const read = (p: string, what: string): string => {
    try {
      return readFileSync(p, "utf8");
    } catch (e) {
      throw new NodeConfigError(`cannot read the ${what} ${p} (${e instanceof Error ? e.message : String(e)}); make them with \`liveswap keys init\``);
    }
  };
  return { ca: read(cluster.tls.ca, "CA certificate"), cert: read(certPath, "certificate"), key: read(keyPath, "private key") };
}

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
      throw new NodeConfigError(`node "${node.id}": cannot load its package ${node.package} (${e instanceof Error ? e.message : String(e)})`);
    }
    behaviors = moduleContents(mod, node.package).behaviors;
  }
  const b = behaviors?.[node.behavior];
  if (b === undefined) {
    throw new NodeConfigError(`node "${node.id}": its package ${node.package} has no behavior "${node.behavior}" (it has: ${Object.keys(behaviors ?? {}).join(", ") || "none"})`);
  }
  return b;
}

/**
 * `liveswap node`: one node in its own OS process. The same NodeRuntime, agents
 * and strategies as in the simulator, over the TCP network; the control plane
 * (`liveswap ctl`) configures it, sends it requests and coordinates updates.
 */
export class NodeDaemon {
  private readonly topology = new Topology();
  private readonly clock = new LamportClock();
  private readonly events: StampedEvent[] = [];
  private readonly open = new Map<RequestId, { readonly session: ControlSession; readonly id: number }>();
  private readonly addresses = new Map<NodeId, string>();
  private readonly net: TcpNetwork;
  private readonly trusted;
  private runtime!: NodeRuntime;
  private current: Current | undefined;
  private traceFile: WriteStream | undefined;
  private traceBuffer = "";
  private earlyArmed: { readonly from: NodeId; readonly meta: unknown }[] = [];
  private flushScheduled = false;
  private stopped = false;
  /** Wall ms of the step in which this node last turned new. */
  private swapPauseMs = Number.NaN;

  private constructor(
    private readonly cluster: Cluster,
    private readonly self: ClusterNode,
    private readonly onStop: () => void,
    private readonly log: (line: string) => void,
  ) {
    this.trusted = cluster.signingKey ? readKey(cluster.signingKey, "public") : undefined;
    this.net = new TcpNetwork({
      self: self.id,
      address: self.address,
      codec: jsonCodec,
      ...(cluster.tls ? { tls: tlsFor(cluster, self.cert, self.key) as TlsMaterial } : {}),
      clock: this.clock,
      onEnvelope: (env) => this.onEnvelope(env),
      onTimer: (_node, incarnation, tag, timer) => {
        if (!this.stopped && this.runtime.incarnation === incarnation) this.runtime.timer(tag, timer);
      },
      onCommand: (session, id, cmd) => this.onCommand(session, id, cmd),
      onLost: (envs, reason) => {
        for (const env of envs) {
          if (env.kind === "app") this.record({ kind: "drop", t: this.net.now(), node: env.to, from: env.from, msg: env.id, reason });
        }
      },
      log,
    });
    // Lamport times start at the wall clock in microseconds: a node started (or restarted) later sorts after what came before.
    this.clock.value = Math.floor(wallNow() * 1000);
  }

  /** `unlinked`: start with no links (Conic's create; `ctl link` adds them), not the file's. */
  static async start(cluster: Cluster, id: string, opts: { onStop?: () => void; log?: (line: string) => void; unlinked?: boolean } = {}): Promise<NodeDaemon> {
    const self = cluster.nodes.find((n) => n.id === id);
    if (self === undefined) throw new NodeConfigError(`no node "${id}" in ${cluster.file} (it has: ${cluster.nodes.map((n) => n.id).join(", ")})`);
    const behavior = await loadInitialBehavior(cluster, self);
    const d = new NodeDaemon(cluster, self, opts.onStop ?? (() => undefined), opts.log ?? (() => undefined));
    await d.boot(behavior, opts.unlinked ?? false);
    return d;
  }

  get id(): NodeId {
    return this.self.id;
  }

  private async boot(behavior: Behavior, unlinked: boolean): Promise<void> {
    if (this.cluster.traceDir !== undefined) {
      mkdirSync(this.cluster.traceDir, { recursive: true });
      // Appended: a node destroyed and created again keeps its earlier life in the same file.
      this.traceFile = createWriteStream(join(this.cluster.traceDir, `${this.self.id}.ndjson`), { flags: "a" });
    }
    const me = this.self.id;
    this.topology.addNode(me);
    const incarnations = linkIncarnations(this.cluster);
    for (const [a, b] of unlinked ? [] : this.cluster.links) {
      if (a !== me && b !== me) continue;
      const peer = a === me ? b : a;
      if (!this.topology.hasNode(peer)) this.topology.addNode(peer);
      this.topology.addLink(a, b, incarnations.get(linkKey(a, b)));
      this.addresses.set(peer, (this.cluster.nodes.find((n) => n.id === peer) as ClusterNode).address);
    }
    await this.net.start();
    // Message ids must stay unique across a node's lives (destroyed and created again, restarted): each life
    // numbers its messages from the wall clock in microseconds at its start, as its Lamport times do.
    this.runtime = new NodeRuntime(me, behavior, 0, 1, this.host(), undefined, this.clock.value);
    this.record({ kind: "create", t: this.net.now(), node: me, version: behavior.version, epoch: 0 });
    for (const peer of this.topology.neighbors(me)) {
      if (me < peer) this.record({ kind: "link", t: this.net.now(), a: me, b: peer });
      this.net.addPeer(peer, this.addresses.get(peer) as string);
    }
    this.runtime.initialize();
    this.log(`node "${me}" (${behavior.version}) listening on ${this.self.address}${this.cluster.tls ? " (mutual TLS)" : ""}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.net.close();
    this.flushTrace();
    await new Promise<void>((resolve) => (this.traceFile ? this.traceFile.end(() => resolve()) : resolve()));
    this.onStop();
  }

  private record(ev: TraceEvent): void {
    const lc = this.clock.tick();
    // With a trace directory the file is the trace (memory stays flat however long the node runs); without one, memory.
    if (this.traceFile !== undefined) {
      // Batched: one write per 64 KiB or per turn of the event loop, not one per event.
      this.traceBuffer += stampedLine(ev, lc);
      if (this.traceBuffer.length >= 65536) this.flushTrace();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushTrace());
      }
    } else this.events.push({ lc, source: this.self.id, ev });
  }

  private host(): NodeHost {
    const topology = this.topology;
    return {
      network: this.net,
      tracing: true,
      now: () => this.net.now(),
      neighbors: (n) => topology.neighbors(n),
      linksOf: (n) => topology.linksOf(n),
      hasOpenRequest: (_n, rid) => this.open.has(rid),
      record: (ev) => this.record(ev),
      answer: (_n, rid, result) => {
        const o = this.open.get(rid);
        if (o === undefined) return;
        this.open.delete(rid);
        o.session.reply(o.id, result);
      },
      fail: (node, rid, reason) => {
        const o = this.open.get(rid);
        if (o === undefined) return;
        this.open.delete(rid);
        o.session.fail(o.id, new RequestFailedError(node, rid, reason));
      },
      currentUpdate: () => this.current,
    };
  }

  private onEnvelope(env: Envelope): void {
    if (this.stopped) return;
    if (env.kind === "app") {
      if (this.runtime.links.get(env.from) !== env.link) {
        this.record({ kind: "drop", t: this.net.now(), node: this.self.id, from: env.from, msg: env.id, reason: "unlinked" });
        return;
      }
      if (env.meta !== undefined && this.current === undefined && this.runtime.agent === this.runtime.baseAgent) {
        // An armed neighbour's message before our own prepare: the strategy must learn of it when we arm.
        this.earlyArmed.push({ from: env.from, meta: env.meta });
      }
      // Outside an update nothing can swap: the hot path stays a plain call.
      if (this.current === undefined) this.runtime.deliver(env);
      else this.timed(() => this.runtime.deliver(env));
      return;
    }
    if (env.plane && env.signal === "prepare") {
      void this.prepare(env);
      return;
    }
    this.timed(() => this.runtime.control(env));
    if (env.plane && env.signal === "abort" && this.current?.run.id === env.update) this.current = undefined;
  }

  /**
   * Run one step of the node, timed: the step in which
   * the node turns new (state transfer, held messages transformed and sent,
   * buffered ones run) is the wall-clock pause of its swap.
   */
  private timed(run: () => void): void {
    const epoch = this.runtime.epoch;
    const t0 = performance.now();
    run();
    if (this.runtime.epoch !== epoch) this.swapPauseMs = performance.now() - t0;
  }

  /** Check and load the shipped package, then let the runtime prepare as it does in the simulator. */
  private async prepare(env: ControlEnvelope): Promise<void> {
    const data = env.data as { deploy?: DeployPrepare } | undefined;
    const deploy = data?.deploy;
    const plan = new Map<NodeId, Update>();
    const refuse = (reason: string): void => {
      this.record({ kind: "control-receive", t: this.net.now(), node: this.self.id, from: CONTROL, update: env.update, signal: "prepare", plane: true });
      this.record({ kind: "control-send", t: this.net.now(), node: this.self.id, to: CONTROL, update: env.update, signal: "refused", plane: true });
      this.net.transmit({ kind: "control", from: this.self.id, to: CONTROL, update: env.update, signal: "refused", data: { reason }, link: 0, plane: true });
    };
    if (deploy === undefined) return refuse("the prepare message carries no package");
    const strategy = strategyModule(deploy.run.strategy);
    if (strategy === undefined) return refuse(`this node cannot run strategy "${deploy.run.strategy}"`);
    const run = new UpdateRun(env.update, deploy.run.strategy, deploy.run.root, plan, deploy.run.options, deploy.run.requestedAt);
    this.current = { run, strategy, coordinator: { markStarted: () => this.reportStarted(run) } };
    for (const x of this.earlyArmed) this.runtime.addStray(x.from, x.meta);
    this.earlyArmed = [];
    let update: Update | undefined;
    try {
      update = (await verifyAndLoad(parsePackage(deploy.package), this.trusted)).update;
      if (update === undefined) throw new Error("the package holds behaviors, not an update");
    } catch (e) {
      return refuse(e instanceof Error ? e.message : String(e));
    }
    if (this.stopped || this.current?.run !== run) return; // aborted while the code loaded
    for (const n of deploy.run.nodes) plan.set(n, update);
    this.runtime.control(env);
  }

  /** G, as the root sees it: traced here, before the root's swap, and reported to the coordinator. */
  private reportStarted(run: UpdateRun): void {
    const t = this.net.now();
    this.record({ kind: "update-start", t, update: run.id, strategy: run.strategy, root: run.root, nodes: run.nodes });
    this.net.transmit({ kind: "control", from: this.self.id, to: CONTROL, update: run.id, signal: "started", data: { t }, link: 0, plane: true });
  }

  private flushTrace(): void {
    this.flushScheduled = false;
    if (this.traceBuffer === "" || this.traceFile === undefined) return;
    this.traceFile.write(this.traceBuffer);
    this.traceBuffer = "";
  }

  /** This node's trace: its file (every life of this node id, flushed first) or its memory. */
  private async traceEvents(): Promise<StampedEvent[]> {
    const file = this.traceFile;
    if (file === undefined) return this.events;
    this.flushTrace();
    await new Promise<void>((resolve, reject) => file.write("", (e) => (e ? reject(e) : resolve())));
    return readStamped(readFileSync(file.path as string, "utf8"), this.self.id);
  }

  private replyWithTrace(session: ControlSession, id: number): Promise<void> {
    return this.traceEvents().then(
      (events) => session.reply(id, events),
      (e: unknown) => session.fail(id, e instanceof Error ? e : new Error(String(e))),
    );
  }

  private figures(run: UpdateRun): UpdateFigures {
    return {
      controlMessages: run.controlMessages,
      controlPlaneMessages: run.controlPlaneMessages,
      heldMessages: run.heldMessages,
      transformedMessages: run.transformedMessages,
      rolledBackEvents: run.rolledBackEvents,
      replayedEvents: run.replayedEvents,
      orphansDropped: run.orphansDropped,
      armedMessages: run.armedMessages,
      metadataBytes: run.metadataBytes,
      peakCheckpoints: run.peakCheckpoints,
      swapPauseMs: this.swapPauseMs,
    };
  }

  status(): NodeStatus & { readonly lc: number } {
    const c = this.current;
    return {
      id: this.self.id,
      version: this.runtime.version,
      epoch: this.runtime.epoch,
      neighbors: this.net.peers().filter((p) => this.topology.linked(this.self.id, p.id)),
      update: c ? { id: c.run.id, strategy: c.run.strategy, prepared: this.runtime.agent !== this.runtime.baseAgent, new: this.runtime.version === c.run.plan.get(this.self.id)?.to.version } : null,
      openRequests: this.open.size,
      pid: process.pid,
      lc: this.clock.value,
    };
  }

  private onCommand(session: ControlSession, id: number, cmd: Command): void {
    try {
      const me = this.self.id;
      switch (cmd.kind) {
        case "status":
          return session.reply(id, this.status());
        case "request": {
          const rid = cmd.request as RequestId;
          if (this.open.has(rid)) throw new RequestFailedError(me, rid, "a request with this id is already open");
          this.open.set(rid, { session, id });
          this.runtime.request(rid, cmd.body);
          return;
        }
        case "link": {
          if (this.current !== undefined) throw new UpdateInProgressError("link", this.current.run.id);
          if (this.topology.linked(me, cmd.peer)) throw new DuplicateLinkError(me, cmd.peer);
          if (cmd.peer === me) throw new NodeConfigError(`link: "${me}" cannot link to itself`);
          if (!this.topology.hasNode(cmd.peer)) this.topology.addNode(cmd.peer);
          this.topology.addLink(me, cmd.peer, cmd.incarnation);
          this.addresses.set(cmd.peer, cmd.address);
          if (me < cmd.peer) this.record({ kind: "link", t: this.net.now(), a: me, b: cmd.peer });
          this.net.addPeer(cmd.peer, cmd.address);
          return session.reply(id, "linked");
        }
        case "unlink": {
          if (this.current !== undefined) throw new UpdateInProgressError("unlink", this.current.run.id);
          if (!this.topology.linked(me, cmd.peer)) throw new UnknownLinkError(me, cmd.peer);
          this.topology.removeLink(me, cmd.peer);
          if (me < cmd.peer) this.record({ kind: "unlink", t: this.net.now(), a: me, b: cmd.peer });
          this.net.removePeer(cmd.peer);
          return session.reply(id, "unlinked");
        }
        case "destroy": {
          if (this.current !== undefined) throw new UpdateInProgressError("destroy", this.current.run.id);
          this.record({ kind: "destroy", t: this.net.now(), node: me });
          // Its trace leaves with it: the control plane keeps it for the cluster's merged trace.
          void this.replyWithTrace(session, id).finally(() => setImmediate(() => void this.stop()));
          return;
        }
        case "trace":
          void this.replyWithTrace(session, id);
          return;
        case "figures":
        case "end": {
          const c = this.current;
          if (c === undefined || c.run.id !== cmd.update) throw new NodeConfigError(`node "${me}" is not in update #${cmd.update}`);
          if (cmd.kind === "end") {
            this.current = undefined;
            this.earlyArmed = [];
          }
          return session.reply(id, this.figures(c.run));
        }
        case "sever":
          this.net.sever();
          return session.reply(id, "severed");
      }
    } catch (e) {
      session.fail(id, e instanceof Error ? e : new Error(String(e)));
    }
  }
}
