import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { dirname, join } from "node:path";
import { checkTrace, type CheckReport } from "../check/checker.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { NodeReport, UpdateFigures } from "../core/control.js";
import type { ControlEnvelope } from "../core/envelope.js";
import { InvalidOptionError, RequestExpiredError, RequestIdReusedError, RequestTimeoutError, RetiredVersionError, WireFormatError, messageOf } from "../core/errors.js";
import { failpoint } from "../core/failpoints.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import { Topology } from "../core/topology.js";
import type { Strategy, UpdateReport } from "../core/update.js";
import { jsonCodec } from "../network/tcp/codec.js";
import { Connection } from "../network/tcp/connection.js";
import { DIAL_TIMEOUT, dial, parseAddress, type TlsMaterial } from "../network/tcp/sockets.js";
import { readStampedFile, stampedLine, type StampedEvent } from "../core/trace/stamped.js";
import { LamportClock, wallNow } from "../network/tcp/lamport-clock.js";
import { WIRE_FORMAT, wireFormatMismatch, type Command, type NodeStatus, type WireMessage } from "../network/tcp/protocol.js";
import { checkUpdateOptions, launchUpdate, planUpdate } from "../runtime/control-plane.js";
import type { UpdateCoordinator } from "../update/coordinator.js";
import type { Cluster, ClusterNode } from "./cluster-file.js";
import { tlsFor } from "./node-daemon.js";
import { ClusterClientClosedError, UnknownClusterNodeError, NodeAliveError, NodeNotAnsweringError, NodeUnreachableError, RemoteError, VersionMismatchLinkError, explainConnectionError } from "./errors.js";
import { backoffDelay, DEFAULT_REQUEST_TIMEOUT_MS, retryPolicy, type RetryPolicy } from "./request-retry.js";
import { parsePackage, type PackageFile } from "./update-package.js";
import { PlaneChannels } from "./plane-channels.js";

/** How long an update waits for a durable node whose connection was lost (killed, restarting) before it gives up. */
export const NODE_RETURN_MS = 120_000;

export { NodeAliveError, NodeNotAnsweringError, NodeUnreachableError, RemoteError, VersionMismatchLinkError };

/** How a client reaches the cluster beyond what the cluster file says. */
export interface ClusterClientOptions {
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
  private readonly pending = new Map<number, Pending>();
  private readonly clock = new LamportClock();
  private readonly events: StampedEvent[] = [];
  private readonly tls: TlsMaterial | undefined;
  /** Each node's own figures of the last update (its swap's wall-clock pause among them). */
  lastFigures: ReadonlyMap<NodeId, UpdateFigures & { readonly swapPauseMs: number }> = new Map();
  /** The traces of nodes this client destroyed (their processes are gone). */
  private readonly retired: StampedEvent[] = [];
  private nextId = 0;
  private closed = false;
  private readonly retry;
  private readonly requestTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private active: { readonly coordinator: UpdateCoordinator; readonly fail: (e: Error) => void } | undefined;
  private readonly opening = new Map<NodeId, Promise<Session>>();
  private readonly name = `ctl-${process.pid}-${Math.floor(wallNow()).toString(36)}`;
  /** The coordinator's channels to the nodes: numbered and resent when the cluster's nodes are durable. */
  private readonly plane: PlaneChannels;

  constructor(
    readonly cluster: Cluster,
    private readonly options: ClusterClientOptions = {},
  ) {
    this.tls = options.tls ?? (cluster.tls ? tlsFor(cluster, cluster.tls.control.cert, cluster.tls.control.key) : undefined);
    this.retry = retryPolicy(options.retry);
    this.requestTimeoutMs = options.requestTimeoutMs ?? cluster.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.commandTimeoutMs = positiveMs(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, "commandTimeoutMs");
    this.clock.value = Math.floor(wallNow() * 1000); // as the nodes do: later control planes sort after earlier events
    this.plane = new PlaneChannels(cluster.storeDir !== undefined);
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
      opening = this.open(id).finally(() => this.opening.delete(id));
      this.opening.set(id, opening);
    }
    return opening;
  }

  private async open(id: NodeId): Promise<Session> {
    const node = this.nodeOf(id, "control");
    let socket;
    try {
      socket = await dial(node.address, this.tls, id, this.commandTimeoutMs);
    } catch (e) {
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
        jsonCodec,
        (msg) => {
          if (greeted) return this.onMessage(id, msg);
          const refusal = this.greeting(id, msg, conn);
          if (refusal !== undefined) return reject(refusal);
          if (msg.kind !== "hello") return;
          greeted = true;
          const s = { node, conn };
          this.sessions.set(id, s);
          // A durable node says how far it applied our envelopes: what follows is sent again, in order.
          for (const env of this.plane.resume(id, msg.recv)) conn.send({ kind: "plane", lc: this.clock.value, env });
          resolve(s);
        },
        (_c, reason) => {
          if (!greeted) reject(new NodeUnreachableError(id, node.address, reason ?? "it closed the connection (a certificate it does not trust?)"));
          this.connectionClosed(id, node, conn, greeted, reason);
        },
      );
      // Only a control plane coordinating an update names its channel: the node then sends it its reports (a status
      // poll from another client must not take them).
      conn.send({ kind: "hello", from: this.name, role: "control", ...this.plane.hello(id, this.active !== undefined), format: WIRE_FORMAT });
      boundHello(conn, node, this.commandTimeoutMs, reject, () => greeted);
    });
  }

  /**
   * A message before the session is open: the node's hello, which must speak our wire format (else we refuse it),
   * or its refusal of ours. Returns the error that ends the session, if any.
   */
  private greeting(id: NodeId, msg: WireMessage, conn: Connection): WireFormatError | undefined {
    const self = `the control plane "${this.name}"`;
    if (msg.kind === "refused") {
      conn.close();
      return new WireFormatError(`node "${id}"`, msg.format, WIRE_FORMAT, self);
    }
    if (msg.kind !== "hello") return undefined;
    const mismatch = wireFormatMismatch({ ...msg, from: id }, self);
    if (mismatch !== undefined) conn.refuse({ kind: "refused", from: this.name, format: WIRE_FORMAT, reason: mismatch.message });
    return mismatch;
  }

  /** A session's connection closed: forget it, and fail what waited on it (the running update if it needs this node). */
  private connectionClosed(id: NodeId, node: ClusterNode, conn: Connection, greeted: boolean, reason: string | undefined): void {
    if (this.sessions.get(id)?.conn === conn) this.sessions.delete(id);
    const a = this.active;
    const run = a?.coordinator.update;
    if (greeted && a !== undefined && run !== undefined && run.nodes.includes(id) && run.running) {
      // A durable node comes back from its store and takes its part up again: wait for it (bounded).
      if (this.plane.durable && !this.closed) void this.awaitReturn(id, node, run.id);
      else {
        this.active = undefined;
        a.fail(new NodeUnreachableError(id, node.address, `the connection closed during update #${run.id}, which cannot finish without it; see \`ctl status\``));
      }
    }
    for (const [k, p] of this.pending) {
      if (p.node !== id) continue;
      this.pending.delete(k);
      p.reject(new NodeUnreachableError(id, node.address, `the connection closed before the answer${reason ? `: ${reason}` : ""}`));
    }
  }

  private onMessage(node: NodeId, msg: WireMessage): void {
    switch (msg.kind) {
      case "reply": {
        const p = this.pending.get(msg.id);
        if (p === undefined) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(replyError(node, p.cmd, msg));
        return;
      }
      case "plane":
        this.clock.observe(msg.lc);
        this.onPlane(node, msg.env);
        return;
      case "plane-ack":
        this.plane.acked(node, msg.link, msg.seq);
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
        if (!(e instanceof NodeUnreachableError)) throw e;
        // close() closed the connection on purpose: nothing to retry.
        if (this.closed) throw new ClusterClientClosedError(`request ${id} to node "${node}"`);
        const wait = backoffDelay(attempt, this.retry);
        if (attempt >= this.retry.attempts || wallNow() + wait >= timeout.at) throw exhausted(e, attempt, wallNow() - started);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Fault injection for tests and drills: close this client's connection to a node (the next command reconnects). */
  dropConnection(node: NodeId): void {
    this.sessions.get(node)?.conn.close();
  }

  /**
   * One node's status, within `timeoutMs` (default: the client's command bound), the connection's opening included:
   * past it, NodeNotAnsweringError (a stopped process, or a network cut); a node that refuses connections,
   * NodeUnreachableError.
   */
  async status(node: NodeId, opts: StatusOptions = {}): Promise<NodeStatus> {
    const n = this.nodeOf(node, "status");
    const ms = positiveMs(opts.timeoutMs ?? this.commandTimeoutMs, "timeoutMs");
    const s = (await this.command(node, { kind: "status" }, { timeout: notAnswering(n, ms) })) as NodeStatus & { lc: number };
    this.clock.observe(s.lc);
    return s;
  }

  /**
   * Every node of the file that answers within the bound, with its status; the others (never started, destroyed,
   * stopped, cut off) with why and the error's code (NODE_UNREACHABLE: nothing listens; NODE_NOT_ANSWERING: it may be
   * alive). All nodes are asked at once, so the whole answer comes within one bound.
   */
  async statusAll(opts: StatusOptions = {}): Promise<{ readonly up: readonly NodeStatus[]; readonly down: readonly DownNode[] }> {
    const results = await Promise.allSettled(this.cluster.nodes.map((n) => this.status(n.id, opts)));
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
      const done = this.command(n.id, { kind: "unlink", peer }, { timeout: notAnswering(n, this.commandTimeoutMs) });
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
    const events = (await this.command(node, { kind: "destroy" }, { timeout: notAnswering(n, this.commandTimeoutMs) })) as StampedEvent[];
    this.retired.push(...events);
    if (this.cluster.traceDir === undefined) {
      // The node's process is gone with its memory: keep its trace on disk for later `ctl trace` runs.
      const file = this.traceFileOf(node);
      mkdirSync(dirname(file), { recursive: true });
      appendFileSync(file, events.map((e) => stampedLine(e.ev, e.lc)).join(""));
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
      await this.command(s.id, { kind: "unlink", peer: n.id }, { timeout: notAnswering(this.nodeOf(s.id, "destroy"), this.commandTimeoutMs) });
    }
    const store = this.cluster.storeDir !== undefined ? join(this.cluster.storeDir, n.id) : undefined;
    // Its trace file (the cluster's trace directory) stays: the merged trace keeps the node's life.
    const storeCleared = store !== undefined && isLocalAddress(n.address) && existsSync(store);
    if (storeCleared) rmSync(store, { recursive: true, force: true });
    return { down: true, storeCleared, ...(store !== undefined && !isLocalAddress(n.address) ? { storeElsewhere: store } : {}) };
  }

  /** Close a node's connections to its neighbours (they reconnect and resend): the reconnect drill. */
  async sever(node: NodeId): Promise<void> {
    await this.command(node, { kind: "sever" });
  }

  /**
   * Ship a package and update every running node with a strategy. The same
   * control plane as the simulator's checks the update (strategy, root,
   * reachability, versions) before anything is sent; the nodes verify the
   * package in prepare, and any refusal aborts with no node changed.
   */
  async update(pkgText: string, opts: { readonly strategy: Strategy; readonly root?: NodeId; readonly onProgress?: (p: UpdateProgress) => void }): Promise<UpdateReport> {
    if (this.active !== undefined) throw new InvalidOptionError("update", `an update is already running from this control plane (#${this.active.coordinator.update.id})`);
    if (opts.root !== undefined) this.nodeOf(opts.root, "update --root");
    checkUpdateOptions(opts, false);
    const pkg: PackageFile = parsePackage(pkgText);
    if (pkg.manifest.kind !== "update") throw new InvalidOptionError("package", `"${pkg.manifest.name}" holds behaviors, not an update`);
    const target = await this.updateTarget();
    const descriptor = { from: String(pkg.manifest.from), to: String(pkg.manifest.to) };
    const strategyOpts = { strategy: opts.strategy, ...(opts.root !== undefined ? { root: opts.root } : {}) };
    const plan = planUpdate(target, [descriptor], strategyOpts, Math.floor(wallNow()), wallNow());
    await Promise.all(plan.run.nodes.map((n) => this.session(n)));
    return await new Promise<UpdateReport>((resolve, reject) => {
      const coordinator = launchUpdate(plan, { kind: "package", text: pkgText }, {
        now: () => wallNow(),
        tracing: true,
        record: (ev) => this.record(ev),
        transmit: (env) => {
          failpoint("ctl.before-plane-send");
          const out = this.plane.stamp(env);
          this.sessions.get(env.to)?.conn.send({ kind: "plane", lc: this.clock.value, env: out });
          failpoint("ctl.after-plane-send");
        },
        progress: (node, msg) => {
          const p = progressOf(node, msg);
          if (p !== undefined) opts.onProgress?.(p);
        },
        finished: (outcome) => {
          this.active = undefined;
          this.lastFigures = new Map([...coordinator.update.figures].map(([n, f]) => [n, { ...f, swapPauseMs: f.swapPauseMs ?? Number.NaN }]));
          if ("report" in outcome) resolve(outcome.report);
          else reject(outcome.error);
        },
      });
      this.active = { coordinator, fail: reject };
    });
  }

  /** The running nodes, their links and versions, as the control plane checks an update against them. */
  private async updateTarget(): Promise<{ readonly topology: Topology; readonly synchronizer: false; versionOf(n: NodeId): string }> {
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

  private onPlane(node: NodeId, env: ControlEnvelope): void {
    if (env.to !== CONTROL) return;
    const verdict = this.plane.report(node, env);
    if (verdict.ack !== undefined) this.sessions.get(node)?.conn.send({ kind: "plane-ack", link: 0, seq: verdict.ack });
    if (!verdict.apply) return;
    failpoint("ctl.report-received");
    this.active?.coordinator.receive(env);
  }

  /**
   * A durable node of the running update lost its connection (killed, restarting): reconnect with backoff until it
   * answers (the session's hello resends what it has not applied) or NODE_RETURN_MS pass, then give the update up.
   */
  private async awaitReturn(id: NodeId, node: ClusterNode, update: number): Promise<void> {
    const until = wallNow() + NODE_RETURN_MS;
    for (let attempt = 1; ; attempt++) {
      const a = this.active;
      if (this.closed || a === undefined || a.coordinator.update.id !== update || !a.coordinator.update.running) return;
      try {
        await this.session(id);
        return;
      } catch {
        if (wallNow() > until) {
          this.active = undefined;
          a.fail(new NodeUnreachableError(id, node.address, `it did not come back within ${NODE_RETURN_MS / 1000} s during update #${update}; start it again (its store keeps its part) and see \`ctl status\``));
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * attempt)));
      }
    }
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
      for (const e of readStampedFile(f, n.id)) add(e);
    }
    for (const e of this.events) add(e);
    const file = this.traceFileOf(CONTROL);
    if (existsSync(file)) for (const e of readStampedFile(file, CONTROL)) add(e);
    return mergeStamped(all);
  }

  async check(): Promise<CheckReport> {
    return checkTrace(await this.trace(), { complete: true });
  }

  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.conn.close();
    this.sessions.clear();
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

/** What a node's report means for the live display of `ctl update`. */
function progressOf(node: NodeId, msg: NodeReport): UpdateProgress | undefined {
  switch (msg.kind) {
    case "prepared":
      return { kind: "prepared", node };
    case "swapped":
      return { kind: "new", node };
    case "refused":
      return { kind: "refused", node, detail: msg.reason };
    default:
      return undefined;
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
