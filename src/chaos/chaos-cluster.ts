/**
 * A replicated-db cluster of real processes whose network and processes a harness can hurt: a proxy on every link
 * (delay and jitter; a cut where there are no namespaces), every node in a network namespace of its own when this
 * machine allows it (links cut and nodes isolated by dropping packets with tc), and kill -9, restart, SIGSTOP and
 * SIGCONT of any node. liveswap chaos and the realtime bench start one.
 *
 * Links: the node with the smaller id dials the other (network/tcp), so each link has two proxies, one each way,
 * named in the dialling node's `dial:` map; only one carries traffic, and a cut cuts both.
 * Loopback: every node also has a proxy in front of its control address, so that a node isolated from everyone is
 * cut from the control plane (the update's root included) too, as across a real partition.
 *
 * Moves (`move`): a node moves with `ctl move` to another host: a spare namespace (or one a moved node left), or a
 * new port on loopback. It binds there and is dialled through a new proxy of its own (its location proxy), so faults
 * still reach its links: in namespaces a cut drops the dialling neighbour's packets to that proxy, one link exactly;
 * on loopback a cut or a delay of a link into the moved node holds its location proxy, so every link dialled into it
 * and its control plane too (an over-approximation of the one link); in namespaces a delay of such a link delays its
 * control plane as well. Its neighbours' links out of it keep their proxies. A move that fails half-way is run
 * again (twice at most), as an operator would; the broken variant's wiped node is never moved.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { describeError } from "../core/errors.js";
import { ClusterClient } from "../deploy/cluster-client.js";
import type { NodeStatus } from "../network/tcp/protocol.js";
import { linkKey, loadClusterFile, type Cluster } from "../deploy/cluster-file.js";
import { clusterUp, type NodeEnv, type StartedNode } from "../deploy/cluster-processes.js";
import { moveNode } from "../deploy/cluster-move.js";
import { ClusterRunningError } from "../deploy/errors.js";
import { keysInit } from "../deploy/keys.js";
import { freePort, reservePort } from "../deploy/free-port.js";
import type { HeartbeatOptions } from "../network/tcp/heartbeat.js";
import { NO_DELAY, startLinkProxy, type LinkDelay, type LinkProxy } from "./link-proxy.js";
import { ChaosNetworkUsageError } from "./errors.js";
import { createNetnsNetwork, netnsSupport, sweepStaleNetns, type NetnsNetwork } from "./netns.js";

export type ChaosNetworkKind = "netns" | "loopback";

export interface ChaosClusterOptions {
  readonly nodes: readonly string[];
  readonly links: readonly (readonly [string, string])[];
  /** Where the cluster file, keys, stores, traces and logs go (made if missing). */
  readonly dir: string;
  /** auto: namespaces where this machine allows them (root, ip, tc), else loopback. Default auto. */
  readonly network?: ChaosNetworkKind | "auto";
  /** Every link's delay at the start (default none). */
  readonly delay?: LinkDelay;
  readonly seed: number;
  /** Keep durable stores (a node killed and started again recovers); default true. */
  readonly store?: boolean;
  /**
   * Where the nodes keep their traces: files under the cluster's directory (default; a node killed -9 leaves its
   * trace behind for the verdict), or each node's memory (read back by `ctl trace` while it runs; no write per
   * batch of events, for a run that kills nothing, as the realtime bench).
   */
  readonly trace?: "files" | "memory";
  readonly heartbeat?: HeartbeatOptions;
  /** The nodes' package and behaviour (default: the replicated database at db@1). */
  readonly package?: string;
  readonly behavior?: string;
  readonly env?: NodeEnv;
  /** Spare hosts (namespaces) nodes can move to, besides the ones moved nodes leave (default 1). */
  readonly spareHosts?: number;
}

/** Where a move took a node. */
export interface ChaosMove {
  readonly node: string;
  readonly from: string;
  readonly to: string;
  /** The host (namespace) it runs in now, or "loopback". */
  readonly host: string;
  readonly locationEpoch: number;
}

/** The replicated database's node package, from the sources or from the compiled package. */
export function dbPackagePath(): string {
  const fromSource = import.meta.url.endsWith(".ts");
  return resolve(import.meta.dirname, "..", "scenarios", "replicated-db", fromSource ? "package.ts" : "package.js");
}

interface Link {
  readonly a: string;
  readonly b: string;
  /** a -> b (a dials b through it) and b -> a. */
  readonly proxies: readonly [LinkProxy, LinkProxy];
}

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(":") + 1));

/** Clusters not closed yet: an interrupted run (SIGINT) closes them all (closeAllChaosClusters). */
const live = new Set<ChaosCluster>();

/** Stop every chaos cluster of this process: its nodes, ctl processes, proxies and namespaces. */
export async function closeAllChaosClusters(): Promise<void> {
  await Promise.all([...live].map((c) => c.close()));
}

export class ChaosCluster {
  readonly client: ClusterClient;
  private readonly started = new Map<string, StartedNode>();
  private readonly adopted = new Set<ChildProcess>();
  private readonly stopped = new Set<string>();
  private readonly cuts = new Set<string>();
  private readonly isolated = new Set<string>();
  /** The host (namespace) each node runs in: its own at first, another after a move. */
  private readonly hostOf = new Map<string, string>();
  /** A moved node's location proxy: where it is dialled now. Every one made, for close. */
  private readonly located = new Map<string, LinkProxy>();
  private readonly locationProxies: LinkProxy[] = [];
  /** The processes of nodes' old locations. */
  private readonly formers: StartedNode[] = [];
  private moves = 0;
  private closing = false;

  private constructor(
    readonly cluster: Cluster,
    readonly network: ChaosNetworkKind,
    /** Why namespaces were not used (loopback chosen by auto). */
    readonly why: string | undefined,
    /** The directory of keys: signing.key signs update packages. */
    readonly keys: string,
    private readonly links: ReadonlyMap<string, Link>,
    private readonly controlProxies: ReadonlyMap<string, LinkProxy>,
    private readonly netns: NetnsNetwork | undefined,
    private readonly env: NodeEnv | undefined,
    /** Hosts (namespaces) no node runs in yet: where moves go. */
    private readonly spares: readonly string[],
    private readonly o: Pick<ChaosClusterOptions, "delay" | "seed" | "dir">,
  ) {
    this.client = new ClusterClient(cluster, { commandTimeoutMs: 3_000 });
    for (const n of cluster.nodes) this.hostOf.set(n.id, n.id);
    live.add(this);
  }

  /** A process of the run's (a `ctl update`): killed at close if still running. */
  adopt(child: ChildProcess): void {
    this.adopted.add(child);
    child.once("exit", () => this.adopted.delete(child));
  }

  /**
   * On loopback a port found free may be taken by another process before its node binds it (a busy machine): the
   * cluster then starts again on fresh ports, up to 3 times, as startLocalCluster does.
   */
  static async start(o: ChaosClusterOptions): Promise<ChaosCluster> {
    const { kind, why } = await chooseNetwork(o.network ?? "auto");
    mkdirSync(o.dir, { recursive: true });
    keysInit(join(o.dir, "keys"), [...o.nodes], { force: true });
    // Namespaces an earlier run left (killed before its cleanup) go first: their owners are dead.
    if (kind === "netns") await sweepStaleNetns();
    for (let attempt = 1; ; attempt++) {
      try {
        return await ChaosCluster.startOnce(o, kind, why);
      } catch (e) {
        // Taken before its node bound it: the bind fails (EADDRINUSE), or `cluster up` finds something listening there.
        const taken = /EADDRINUSE/.test(describeError(e)) || e instanceof ClusterRunningError;
        if (kind !== "loopback" || attempt >= 3 || !taken) throw e;
        // The nodes that did start kept stores and traces naming the old ports: the next attempt starts afresh.
        for (const d of ["store", "traces", ".liveswap-trace"]) rmSync(join(o.dir, d), { recursive: true, force: true });
      }
    }
  }

  private static async startOnce(o: ChaosClusterOptions, kind: ChaosNetworkKind, why: string | undefined): Promise<ChaosCluster> {
    const spares = Array.from({ length: o.spareHosts ?? 1 }, (_, i) => `spare${i}`);
    const netns = kind === "netns" ? await createNetnsNetwork([...o.nodes, ...spares]) : undefined;
    const made: LinkProxy[] = [];
    const keys = join(o.dir, "keys");
    let c: ChaosCluster | undefined;
    try {
      const layout = await layOut(o, netns, made);
      const file = join(o.dir, "cluster.yaml");
      writeFileSync(file, stringify(clusterFileOf(o, keys, layout)));
      c = new ChaosCluster(loadClusterFile(file), kind, why, keys, layout.links, layout.control, netns, o.env, kind === "netns" ? spares : [], o);
      await c.startNodes(o.nodes);
      return c;
    } catch (e) {
      // Its client, any process it started, its proxies and namespaces: nothing of a failed start stays.
      await c?.close();
      for (const p of made) await p.close().catch(() => undefined);
      await netns?.close();
      throw e;
    }
  }

  get ids(): readonly string[] {
    return this.cluster.nodes.map((n) => n.id);
  }

  pid(id: string): number | undefined {
    const n = this.started.get(id);
    return n !== undefined && n.child.exitCode === null && n.child.signalCode === null ? n.pid : undefined;
  }

  running(id: string): boolean {
    return this.pid(id) !== undefined;
  }

  /** Start nodes (again: a node killed comes back from its store). */
  async startNodes(ids: readonly string[]): Promise<void> {
    const netns = this.netns;
    const started = await clusterUp(this.cluster, {
      only: ids,
      timeoutMs: 60_000,
      ...(netns !== undefined ? { prefix: (id: string) => ["ip", "netns", "exec", netns.nsName(this.host(id))] } : {}),
      ...(this.env !== undefined ? { env: this.env } : {}),
    });
    for (const s of started) {
      this.started.set(s.id, s);
      this.stopped.delete(s.id);
    }
  }

  /** kill -9, and wait until the process is gone. */
  async kill(id: string): Promise<void> {
    const n = this.started.get(id);
    if (n === undefined || !this.running(id)) return;
    const gone = new Promise<void>((r) => n.child.once("exit", () => r()));
    n.child.kill("SIGKILL");
    await gone;
    this.stopped.delete(id);
  }

  /** SIGSTOP: the process stays, its sockets stay open, it answers nothing (the kernel still accepts connections). */
  stop(id: string): void {
    if (!this.running(id)) return;
    this.started.get(id)?.child.kill("SIGSTOP");
    this.stopped.add(id);
  }

  cont(id: string): void {
    if (!this.stopped.delete(id)) return;
    this.started.get(id)?.child.kill("SIGCONT");
  }

  private link(a: string, b: string): Link {
    const l = this.links.get(linkKey(a, b));
    if (l === undefined) throw new RangeError(`no link between "${a}" and "${b}" in this cluster`);
    return l;
  }

  /** The host (namespace) node `id` runs in now. */
  host(id: string): string {
    return this.hostOf.get(id) ?? id;
  }

  /** The proxy the link's dialling end (its smaller id) dials: the other end's location proxy once it moved. */
  private dialled(l: Link): LinkProxy {
    return this.located.get(l.b) ?? l.proxies[0];
  }

  /** A link's delay; into a moved node its location proxy carries it (every link dialled into that node). */
  setDelay(a: string, b: string, delay: LinkDelay): void {
    const l = this.link(a, b);
    for (const p of new Set([...l.proxies, this.dialled(l)])) p.setDelay(delay);
  }

  /** Cut the link a - b, both ways (tc drops its packets in namespaces; its proxies black-hole it on loopback). */
  async cut(a: string, b: string): Promise<void> {
    const l = this.link(a, b);
    this.cuts.add(linkKey(a, b));
    if (this.netns === undefined) return this.refreshLoopback();
    await this.netns.cutPort(this.host(l.a), portOf(this.dialled(l).address));
    await this.netns.cutPort(this.host(l.b), portOf(l.proxies[1].address));
  }

  async heal(a: string, b: string): Promise<void> {
    const l = this.link(a, b);
    this.cuts.delete(linkKey(a, b));
    if (this.netns === undefined) return this.refreshLoopback();
    await this.netns.healPort(this.host(l.a), portOf(this.dialled(l).address));
    await this.netns.healPort(this.host(l.b), portOf(l.proxies[1].address));
  }

  /** Cut node `id` from everyone: its links and the control plane. */
  async isolate(id: string): Promise<void> {
    this.isolated.add(id);
    if (this.netns !== undefined) return this.netns.isolate(this.host(id));
    this.refreshLoopback();
  }

  async rejoin(id: string): Promise<void> {
    this.isolated.delete(id);
    if (this.netns !== undefined) return this.netns.rejoin(this.host(id));
    this.refreshLoopback();
  }

  /** On loopback every cut is a black-holed proxy: each proxy is held exactly while some cut or isolation needs it. */
  private refreshLoopback(): void {
    const held = new Set<LinkProxy>();
    for (const id of this.isolated) {
      const control = this.located.get(id) ?? this.controlProxies.get(id);
      if (control !== undefined) held.add(control);
      for (const l of this.links.values()) if (l.a === id || l.b === id) for (const p of [...l.proxies, this.dialled(l)]) held.add(p);
    }
    for (const k of this.cuts) {
      const l = this.links.get(k);
      if (l !== undefined) for (const p of [...l.proxies, this.dialled(l)]) held.add(p);
    }
    const all = [...this.controlProxies.values(), ...this.locationProxies, ...[...this.links.values()].flatMap((l) => l.proxies)];
    for (const p of all) {
      if (held.has(p) && !p.blackholed) p.blackhole();
      else if (!held.has(p) && p.blackholed) p.heal();
    }
  }

  /**
   * Move node `id` to another host with `ctl move` (under load; the run's faults healed first): a free namespace, or
   * a new port on loopback, dialled through a new location proxy. Resolves once it runs there and its neighbours know.
   */
  async move(id: string): Promise<ChaosMove> {
    const netns = this.netns;
    const host = netns !== undefined ? this.freeHost(id) : "loopback";
    const n = ++this.moves;
    const listen = netns !== undefined ? `${netns.ipOf(host)}:${7400 + n}` : `127.0.0.1:${await freePort()}`;
    const proxy = await startLinkProxy(listen, { address: `${netns?.hostIp ?? "127.0.0.1"}:0`, delay: this.o.delay ?? NO_DELAY, seed: this.o.seed * 1000 + n });
    this.locationProxies.push(proxy);
    const opts = { to: proxy.address, listen, store: join(this.o.dir, "moves", `${id}-${n}`), timeoutMs: 60_000, ...(netns !== undefined ? { prefix: ["ip", "netns", "exec", netns.nsName(host)] } : {}) };
    // As an operator would: a move that failed half-way is run again (each step is idempotent), twice at most.
    const r = await moveNode(this.cluster, id, opts).catch(() => moveNode(this.cluster, id, opts)).catch(() => moveNode(this.cluster, id, opts));
    this.located.set(id, proxy);
    this.hostOf.set(id, host);
    if (r.started !== undefined) {
      // The old process retires and exits by itself; it is stopped at close if it did not.
      const former = this.started.get(id);
      if (former !== undefined) this.formers.push(former);
      this.started.set(id, r.started);
      this.stopped.delete(id);
    }
    return { node: id, from: r.from, to: r.to, host, locationEpoch: r.locationEpoch };
  }

  /** Until every node answers and `each` holds of each status (polled every `everyMs`), or `ms` passed: whether it came. */
  async untilEvery(each: (s: NodeStatus) => boolean, ms: number, everyMs: number): Promise<boolean> {
    const end = Date.now() + ms;
    for (;;) {
      const { up } = await this.client.statusAll().catch(() => ({ up: [] as const }));
      if (up.length === this.ids.length && up.every(each)) return true;
      if (Date.now() + everyMs > end) return false;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** The processes of node `id`'s old locations (moved from) that have not exited: a retired one exits by itself. */
  oldLocationsRunning(id: string): number[] {
    return this.formers.filter((f) => f.id === id && f.child.exitCode === null && f.child.signalCode === null).map((f) => f.pid);
  }

  /** A namespace no node runs in (a spare, or one a moved node left), other than `id`'s own: the first in order. */
  private freeHost(id: string): string {
    const taken = new Set(this.hostOf.values());
    const free = [...this.spares, ...this.ids].find((h) => !taken.has(h) && h !== this.host(id));
    if (free === undefined) throw new ChaosNetworkUsageError(`chaos: no free host to move "${id}" to; give the cluster a spare host (spareHosts)`);
    return free;
  }

  /** Undo every fault: continue stopped nodes, heal cuts, rejoin isolated nodes, start killed nodes. */
  async healAll(): Promise<void> {
    for (const id of [...this.stopped]) this.cont(id);
    for (const id of [...this.isolated]) await this.rejoin(id);
    for (const k of [...this.cuts]) {
      const [a, b] = k.split("\n") as [string, string];
      await this.heal(a, b);
    }
    const down = this.ids.filter((id) => !this.running(id));
    if (down.length > 0) await this.startNodes(down);
  }

  /** Stop every process (SIGTERM, SIGKILL after 10 s), the proxies and the namespaces. Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    live.delete(this);
    for (const c of this.adopted) c.kill("SIGKILL");
    this.client.close();
    await Promise.all([...this.started.values(), ...this.formers].map((n) => stopProcess(n)));
    for (const l of this.links.values()) for (const p of l.proxies) await p.close();
    for (const p of [...this.controlProxies.values(), ...this.locationProxies]) await p.close();
    await this.netns?.close();
  }
}

function stopProcess(n: StartedNode): Promise<void> {
  return new Promise<void>((r) => {
    if (n.child.exitCode !== null || n.child.signalCode !== null) return r();
    n.child.once("exit", () => r());
    n.child.kill("SIGCONT");
    n.child.kill("SIGTERM");
    setTimeout(() => n.child.kill("SIGKILL"), 10_000).unref();
  });
}

async function chooseNetwork(want: ChaosNetworkKind | "auto"): Promise<{ readonly kind: ChaosNetworkKind; readonly why?: string }> {
  if (want === "loopback") return { kind: "loopback", why: "asked for (--network loopback)" };
  const support = await netnsSupport();
  if (support.ok) return { kind: "netns" };
  if (want === "netns") throw new ChaosNetworkUsageError(`network namespaces are not available here: ${support.why}; run as root on Linux with iproute2, or pass --network loopback`);
  return { kind: "loopback", why: support.why };
}

interface Layout {
  readonly listen: ReadonlyMap<string, string>;
  readonly address: ReadonlyMap<string, string>;
  readonly dial: ReadonlyMap<string, Readonly<Record<string, string>>>;
  readonly links: ReadonlyMap<string, Link>;
  readonly control: ReadonlyMap<string, LinkProxy>;
}

/** Where each node listens and is dialled, and a proxy pair on every link. */
async function layOut(o: ChaosClusterOptions, netns: NetnsNetwork | undefined, made: LinkProxy[]): Promise<Layout> {
  const listen = new Map<string, string>();
  const address = new Map<string, string>();
  const control = new Map<string, LinkProxy>();
  // The nodes' ports stay held until every proxy listens: a proxy on port 0 could otherwise be given one of them, and
  // its node would find its address taken (`cluster up` refuses an address something listens at).
  const held: { release(): Promise<void> }[] = [];
  try {
    await layOutNodes(o, netns, made, { listen, address, control, held });
    return { listen, address, ...(await layOutLinks(o, netns, made, listen)), control };
  } finally {
    for (const h of held) await h.release();
  }
}

async function layOutNodes(
  o: ChaosClusterOptions,
  netns: NetnsNetwork | undefined,
  made: LinkProxy[],
  into: { listen: Map<string, string>; address: Map<string, string>; control: Map<string, LinkProxy>; held: { release(): Promise<void> }[] },
): Promise<void> {
  const { listen, address, control } = into;
  for (const id of o.nodes) {
    if (netns !== undefined) {
      listen.set(id, `${netns.ipOf(id)}:7400`);
      address.set(id, `${netns.ipOf(id)}:7400`);
      continue;
    }
    const reserved = await reservePort();
    into.held.push(reserved);
    const at = `127.0.0.1:${reserved.port}`;
    const proxy = await startLinkProxy(at);
    made.push(proxy);
    control.set(id, proxy);
    listen.set(id, at);
    address.set(id, proxy.address);
  }
}

async function layOutLinks(o: ChaosClusterOptions, netns: NetnsNetwork | undefined, made: LinkProxy[], listen: ReadonlyMap<string, string>): Promise<Pick<Layout, "dial" | "links">> {
  const host = netns?.hostIp ?? "127.0.0.1";
  const links = new Map<string, Link>();
  const dial = new Map<string, Record<string, string>>(o.nodes.map((id) => [id, {}]));
  let seed = o.seed;
  for (const [x, y] of o.links) {
    const [a, b] = x < y ? [x, y] : [y, x];
    const ab = await startLinkProxy(listen.get(b) as string, { address: `${host}:0`, delay: o.delay ?? NO_DELAY, seed: ++seed });
    made.push(ab);
    const ba = await startLinkProxy(listen.get(a) as string, { address: `${host}:0`, delay: o.delay ?? NO_DELAY, seed: ++seed });
    made.push(ba);
    (dial.get(a) as Record<string, string>)[b] = ab.address;
    (dial.get(b) as Record<string, string>)[a] = ba.address;
    links.set(linkKey(a, b), { a, b, proxies: [ab, ba] });
  }
  return { dial, links };
}

function clusterFileOf(o: ChaosClusterOptions, keys: string, l: Layout): object {
  return {
    nodes: o.nodes.map((id) => ({
      id,
      address: l.address.get(id),
      ...(l.listen.get(id) !== l.address.get(id) ? { listen: l.listen.get(id) } : {}),
      dial: l.dial.get(id),
      package: o.package ?? dbPackagePath(),
      behavior: o.behavior ?? "db-v1",
      cert: join(keys, `${id}.crt`),
      key: join(keys, `${id}.key`),
    })),
    links: o.links.map(([a, b]) => [a, b]),
    trust: { signingKey: join(keys, "signing.pub") },
    tls: { ca: join(keys, "ca.crt"), control: { cert: join(keys, "control.crt"), key: join(keys, "control.key") } },
    ...(o.trace !== "memory" ? { trace: "traces" } : {}),
    ...(o.store !== false ? { store: "store" } : {}),
    ...(o.heartbeat !== undefined ? { heartbeat: o.heartbeat } : {}),
  };
}

/** Start a chaos cluster (see ChaosCluster). */
export function startChaosCluster(o: ChaosClusterOptions): Promise<ChaosCluster> {
  return ChaosCluster.start(o);
}

/** The cluster's link ids in a stable order (for schedules drawn from a seed). */
export function linkPairs(links: readonly (readonly [string, string])[]): readonly (readonly [string, string])[] {
  return links.map(([x, y]) => (x < y ? ([x, y] as const) : ([y, x] as const)));
}

export { portOf };
