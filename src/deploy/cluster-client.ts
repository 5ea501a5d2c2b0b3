import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { checkTrace, type CheckReport } from "../check/checker.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { ControlEnvelope } from "../core/envelope.js";
import { InvalidOptionError, StrategyUnavailableError, UnknownNodeError } from "../core/errors.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import { Topology } from "../core/topology.js";
import { STRATEGIES, type Strategy, type Update, type UpdateReport } from "../core/update.js";
import { jsonCodec } from "../network/tcp/codec.js";
import { Connection } from "../network/tcp/connection.js";
import { dial, type TlsMaterial } from "../network/tcp/sockets.js";
import { LamportClock, wallNow, type Command, type NodeStatus, readStamped, stampedLine, type StampedEvent, type UpdateFigures, type WireMessage } from "../network/tcp/wire.js";
import type { Network } from "../core/network.js";
import { UpdateCoordinator, type CoordinatorHost } from "../update/coordinator.js";
import { strategyModule } from "../update/registry.js";
import { UpdateRun } from "../update/update-run.js";
import type { Cluster, ClusterNode } from "./cluster-file.js";
import type { DeployPrepare } from "./node-daemon.js";
import { tlsFor } from "./node-daemon.js";
import { parsePackage, type PackageFile } from "./update-package.js";

export class NodeUnreachableError extends Error {
  readonly code = "NODE_UNREACHABLE";
  constructor(readonly node: string, address: string, cause: string) {
    super(`node "${node}" at ${address} cannot be reached (${cause}); is it running? (\`liveswap cluster up\` or \`liveswap node --id ${node}\`)`);
    this.name = "NodeUnreachableError";
  }
}

export class RemoteError extends Error {
  constructor(
    readonly node: string,
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "RemoteError";
  }
}

export class VersionMismatchLinkError extends Error {
  readonly code = "VERSION_MISMATCH_LINK";
  constructor(a: string, va: string, b: string, vb: string) {
    super(`link: "${a}" runs ${va} and "${b}" runs ${vb}; linking them would let each execute the other's messages. Start "${b}" (or "${a}") with the same behavior (edit \`behavior:\` in the cluster file), or update first`);
    this.name = "VersionMismatchLinkError";
  }
}

/** What an update's progress display is told: a node acknowledged prepare, or turned new. */
export type UpdateProgress = { readonly kind: "prepared" | "new" | "refused"; readonly node: NodeId; readonly detail?: string };

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
  private readonly pending = new Map<number, { readonly node: NodeId; resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly clock = new LamportClock();
  private readonly events: StampedEvent[] = [];
  private readonly tls: TlsMaterial | undefined;
  /** Each node's own figures of the last update (its swap's wall-clock pause among them). */
  lastFigures: ReadonlyMap<NodeId, UpdateFigures> & Map<NodeId, UpdateFigures> = new Map();
  /** The traces of nodes this client destroyed (their processes are gone). */
  private readonly retired: StampedEvent[] = [];
  private nextId = 0;
  private requests = 0;
  private active:
    | { readonly coordinator: UpdateCoordinator; readonly onProgress: ((p: UpdateProgress) => void) | undefined; readonly fail: (e: Error) => void }
    | undefined;
  private readonly opening = new Map<NodeId, Promise<Session>>();
  private readonly name = `ctl-${process.pid}-${Math.floor(wallNow()).toString(36)}`;

  constructor(readonly cluster: Cluster) {
    this.tls = cluster.tls ? tlsFor(cluster, cluster.tls.control.cert, cluster.tls.control.key) : undefined;
    this.clock.value = Math.floor(wallNow() * 1000); // as the nodes do: later control planes sort after earlier events
  }

  /** Where a destroyed node's trace is kept: the cluster's trace directory, or beside the cluster file. */
  private traceFileOf(id: NodeId): string {
    return this.cluster.traceDir !== undefined ? join(this.cluster.traceDir, `${id}.ndjson`) : join(dirname(this.cluster.file), ".liveswap-trace", `${id}.ndjson`);
  }

  private nodeOf(id: string, where: string): ClusterNode {
    const n = this.cluster.nodes.find((x) => x.id === id);
    if (n === undefined) throw new UnknownNodeError(id, `${where} (not in ${this.cluster.file})`);
    return n;
  }

  /** One session per node, shared by concurrent callers. */
  private session(id: NodeId): Promise<Session> {
    const have = this.sessions.get(id);
    if (have !== undefined && !have.conn.closed) return Promise.resolve(have);
    let opening = this.opening.get(id);
    if (opening === undefined) {
      opening = this.open(id).finally(() => this.opening.delete(id));
      this.opening.set(id, opening);
    }
    return opening;
  }

  private async open(id: NodeId): Promise<Session> {
    const node = this.nodeOf(id, "control");
    let socket;
    try {
      socket = await dial(node.address, this.tls, id);
    } catch (e) {
      throw new NodeUnreachableError(id, node.address, e instanceof Error ? e.message : String(e));
    }
    return await new Promise<Session>((resolve, reject) => {
      let greeted = false;
      const conn = new Connection(
        socket,
        jsonCodec,
        (msg) => {
          if (msg.t === "hello") {
            greeted = true;
            const s = { node, conn };
            this.sessions.set(id, s);
            resolve(s);
            return;
          }
          this.onMessage(id, msg);
        },
        (_c, reason) => {
          if (!greeted) reject(new NodeUnreachableError(id, node.address, reason ?? "it closed the connection (a certificate it does not trust?)"));
          if (this.sessions.get(id)?.conn === conn) this.sessions.delete(id);
          const a = this.active;
          if (greeted && a !== undefined && a.coordinator.run.nodes.includes(id) && a.coordinator.run.running) {
            this.active = undefined;
            a.fail(new NodeUnreachableError(id, node.address, `the connection closed during update #${a.coordinator.run.id}, which cannot finish without it; see \`ctl status\``));
          }
          for (const [k, p] of this.pending) {
            if (p.node !== id) continue;
            this.pending.delete(k);
            p.reject(new NodeUnreachableError(id, node.address, `the connection closed${reason ? `: ${reason}` : ""}`));
          }
        },
      );
      conn.send({ t: "hello", from: this.name, role: "control", recv: 0 });
    });
  }

  private onMessage(node: NodeId, msg: WireMessage): void {
    switch (msg.t) {
      case "reply": {
        const p = this.pending.get(msg.id);
        if (p === undefined) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(new RemoteError(node, msg.error, msg.code));
        return;
      }
      case "plane":
        this.clock.observe(msg.lc);
        this.onPlane(msg.env);
        return;
      default:
        return;
    }
  }

  async command(node: NodeId, cmd: Command): Promise<unknown> {
    const s = await this.session(node);
    const id = ++this.nextId;
    return await new Promise((resolve, reject) => {
      this.pending.set(id, { node, resolve, reject });
      s.conn.send({ t: "cmd", id, cmd });
    });
  }

  /** An outside request to a node; resolves with its handler's response. */
  request(node: NodeId, body: unknown): Promise<unknown> {
    this.nodeOf(node, "request");
    return this.command(node, { kind: "request", request: `${this.name}.${++this.requests}`, body });
  }

  async status(node: NodeId): Promise<NodeStatus> {
    const s = (await this.command(node, { kind: "status" })) as NodeStatus & { lc: number };
    this.clock.observe(s.lc);
    return s;
  }

  /** Every node of the file that answers, with its status; the others (never started, destroyed) as errors. */
  async statusAll(): Promise<{ readonly up: readonly NodeStatus[]; readonly down: readonly { readonly id: string; readonly error: string }[] }> {
    const results = await Promise.allSettled(this.cluster.nodes.map((n) => this.status(n.id)));
    const up: NodeStatus[] = [];
    const down: { id: string; error: string }[] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") up.push(r.value);
      else down.push({ id: (this.cluster.nodes[i] as ClusterNode).id, error: r.reason instanceof Error ? r.reason.message : String(r.reason) });
    });
    return { up, down };
  }

  async link(a: NodeId, b: NodeId): Promise<void> {
    const na = this.nodeOf(a, "link");
    const nb = this.nodeOf(b, "link");
    const [sa, sb] = await Promise.all([this.status(a), this.status(b)]);
    if (sa.version !== sb.version) {
      // Old and new code would execute each other's messages: exactly what an update exists to prevent.
      throw new VersionMismatchLinkError(a, sa.version, b, sb.version);
    }
    const incarnation = Math.floor(wallNow());
    await this.command(a, { kind: "link", peer: b, address: nb.address, incarnation });
    await this.command(b, { kind: "link", peer: a, address: na.address, incarnation });
  }

  async unlink(a: NodeId, b: NodeId): Promise<void> {
    await this.command(a, { kind: "unlink", peer: b });
    await this.command(b, { kind: "unlink", peer: a });
  }

  /** Unlink the node from its neighbours, then stop it (its process exits). */
  async destroy(node: NodeId): Promise<void> {
    const s = await this.status(node);
    for (const n of s.neighbors) await this.unlink(node, n.id);
    const session = await this.session(node);
    // Destroyed means gone: wait for the node to close its end (it stops listening first).
    const gone = new Promise<void>((resolve) => {
      if (session.conn.closed) resolve();
      session.conn.socket.once("close", () => resolve());
      setTimeout(resolve, 10_000).unref();
    });
    const events = (await this.command(node, { kind: "destroy" })) as StampedEvent[];
    this.retired.push(...events);
    if (this.cluster.traceDir === undefined) {
      // The node's process is gone with its memory: keep its trace on disk for later `ctl trace` runs.
      const file = this.traceFileOf(node);
      mkdirSync(dirname(file), { recursive: true });
      appendFileSync(file, events.map((e) => stampedLine(e.ev, e.lc)).join(""));
    }
    await gone;
    this.sessions.delete(node);
  }

  /** Close a node's connections to its neighbours (they reconnect and resend): the reconnect drill. */
  async sever(node: NodeId): Promise<void> {
    await this.command(node, { kind: "sever" });
  }

  /**
   * Ship a package and update every running node with a strategy. The nodes
   * verify the package in prepare; any refusal aborts with no node changed.
   */
  async update(pkgText: string, opts: { readonly strategy: Strategy; readonly root?: NodeId; readonly onProgress?: (p: UpdateProgress) => void }): Promise<UpdateReport> {
    if (this.active !== undefined) throw new Error(`an update is already running from this control plane (#${this.active.coordinator.run.id})`);
    if (!STRATEGIES.includes(opts.strategy)) throw new InvalidOptionError("strategy", `unknown strategy ${JSON.stringify(opts.strategy)}; one of ${STRATEGIES.join(", ")}`);
    const strategy = strategyModule(opts.strategy);
    if (strategy === undefined) throw new StrategyUnavailableError(opts.strategy, "not in this build");
    if (opts.strategy === "synchronizer") throw new StrategyUnavailableError(opts.strategy, "a TCP cluster does not run in pulses; use conservative, cut, snapshot or rollback");
    const pkg: PackageFile = parsePackage(pkgText);
    if (pkg.manifest.kind !== "update") throw new InvalidOptionError("package", `"${pkg.manifest.name}" holds behaviors, not an update`);
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
    if (busy) throw new Error(`node "${busy.id}" is still in update #${String(busy.update?.id)}; wait for it to end`);
    const nodes = topology.nodes();
    const root = opts.root ?? (nodes[0] as NodeId);
    if (!topology.hasNode(root)) throw new UnknownNodeError(root, "update root (not running)");
    // The control plane never runs update code: its plan entries carry the versions for bookkeeping only.
    const standIn: Update = {
      from: { version: String(pkg.manifest.from), init: () => undefined, receive: () => undefined },
      to: { version: String(pkg.manifest.to), init: () => undefined, receive: () => undefined },
      state: () => {
        throw new Error("the control plane never runs update code");
      },
    } as unknown as Update;
    const plan = new Map<NodeId, Update>(nodes.map((n) => [n, standIn]));

    const run = new UpdateRun(Math.floor(wallNow()), opts.strategy, root, plan, { strategy: opts.strategy, root }, wallNow());
    const deployFor = (): { deploy: DeployPrepare } => ({
      deploy: { package: pkgText, run: { strategy: opts.strategy, root, nodes, options: { strategy: opts.strategy, root }, requestedAt: run.requestedAt } },
    });
    await Promise.all(nodes.map((n) => this.session(n)));
    const net: Network = {
      now: () => wallNow(),
      transmit: (env) => {
        const s = this.sessions.get(env.to);
        s?.conn.send({ t: "plane", lc: this.clock.value, env: env as ControlEnvelope });
      },
      startTimer: () => {
        throw new Error("the control plane sets no timers");
      },
    };
    return await new Promise<UpdateReport>((resolve, reject) => {
      const host: CoordinatorHost = {
        network: net,
        topology,
        tracing: true,
        record: (ev) => this.record(ev),
        prepareExtra: () => deployFor(),
        finished: (r, error) => {
          this.active = undefined;
          void this.collect(r).then(
            () => (error === undefined ? resolve(r.report()) : reject(error)),
            (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
          );
        },
      };
      const coordinator = new UpdateCoordinator(host, run, strategy);
      this.active = { coordinator, onProgress: opts.onProgress, fail: reject };
      coordinator.begin();
    });
  }

  /** The nodes' own figures of the update (held, transformed, their control messages), summed into its report. */
  private async collect(run: UpdateRun): Promise<void> {
    const figures = await Promise.allSettled(run.nodes.map((n) => this.command(n, { kind: "end", update: run.id }) as Promise<UpdateFigures>));
    this.lastFigures = new Map();
    figures.forEach((f, i) => {
      if (f.status === "fulfilled") this.lastFigures.set(run.nodes[i] as NodeId, f.value);
    });
    for (const f of figures) {
      if (f.status !== "fulfilled") continue;
      const x = f.value;
      run.controlMessages += x.controlMessages;
      run.controlPlaneMessages += x.controlPlaneMessages;
      run.heldMessages += x.heldMessages;
      run.transformedMessages += x.transformedMessages;
      run.rolledBackEvents += x.rolledBackEvents;
      run.replayedEvents += x.replayedEvents;
      run.orphansDropped += x.orphansDropped;
      run.armedMessages += x.armedMessages;
      run.metadataBytes += x.metadataBytes;
      run.peakCheckpoints = Math.max(run.peakCheckpoints, x.peakCheckpoints);
    }
  }

  private onPlane(env: ControlEnvelope): void {
    const a = this.active;
    if (a === undefined || env.to !== CONTROL) return;
    a.coordinator.receive(env);
    if (env.signal === "started") a.coordinator.markStarted((env.data as { t: number }).t, true);
    else if (env.signal === "prepared") a.onProgress?.({ kind: "prepared", node: env.from });
    else if (env.signal === "swapped") a.onProgress?.({ kind: "new", node: env.from });
    else if (env.signal === "refused") a.onProgress?.({ kind: "refused", node: env.from, detail: (env.data as { reason: string }).reason });
  }

  /** The control plane's events go to disk as they happen: a later `ctl trace` (another process) needs them. */
  private record(ev: TraceEvent): void {
    const stamped = { lc: this.clock.tick(), source: CONTROL, ev };
    this.events.push(stamped);
    const file = this.traceFileOf(CONTROL);
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, stampedLine(ev, stamped.lc));
  }

  /**
   * The cluster's trace: every running node's events and the control plane's
   * (this client's, and earlier clients' from the trace directory), merged in
   * Lamport order so every send precedes its delivery.
   */
  async trace(): Promise<TraceEvent[]> {
    const { up } = await this.statusAll();
    const parts = await Promise.all(up.map((s) => this.command(s.id, { kind: "trace" }) as Promise<StampedEvent[]>));
    const all: StampedEvent[] = [];
    const have = new Set<string>();
    const add = (e: StampedEvent): void => {
      const key = `${e.source}\n${e.lc}`;
      if (have.has(key)) return;
      have.add(key);
      all.push(e);
    };
    for (const e of parts.flat()) add(e);
    for (const e of this.retired) add(e);
    // Earlier lives of nodes (destroyed, perhaps created again): their trace files. Lamport times never repeat within a node id.
    for (const n of this.cluster.nodes) {
      const f = this.traceFileOf(n.id);
      if (!existsSync(f)) continue;
      for (const e of readStamped(readFileSync(f, "utf8"), n.id)) add(e);
    }
    for (const e of this.events) add(e);
    const file = this.traceFileOf(CONTROL);
    if (existsSync(file)) for (const e of readStamped(readFileSync(file, "utf8"), CONTROL)) add(e);
    return mergeStamped(all);
  }

  async check(): Promise<CheckReport> {
    return checkTrace(await this.trace(), { complete: true });
  }

  close(): void {
    for (const s of this.sessions.values()) s.conn.close();
    this.sessions.clear();
  }
}

/** Lamport order, ties by source then by each source's own order: a total order consistent with causality. */
export function mergeStamped(events: readonly StampedEvent[]): TraceEvent[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((x, y) => x.e.lc - y.e.lc || (x.e.source < y.e.source ? -1 : x.e.source > y.e.source ? 1 : x.i - y.i))
    .map((x) => {
      const { lc: _lc, ...ev } = x.e.ev as TraceEvent & { lc?: number };
      return ev as TraceEvent;
    });
}
