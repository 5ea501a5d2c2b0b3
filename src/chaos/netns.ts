/**
 * The network-namespace fabric of `liveswap chaos`: every node in its own
 * namespace, joined by a veth pair to one bridge in the root namespace, and
 * link cuts made with `tc`.
 *
 * This kernel (and many CI kernels) has no netem, iptables, nft, nor the tc
 * `gact` action (`action drop` fails: "Failed to load TC action module"), nor
 * the flower/matchall/bpf classifiers. What does work, and what we use: an
 * `htb` root qdisc on each veth end, a class 1:2 whose leaf qdisc is
 * `blackhole` (or `pfifo limit 0` where blackhole is missing: both drop every
 * packet enqueued), and `u32` filters that classify the packets to cut into
 * 1:2. Unclassified traffic takes htb's direct queue, unshaped. The drop is on
 * egress of both ends (the namespace side for packets from the node, the root
 * side for packets to it), and a dropped packet looks sent to TCP, so a cut
 * is a real one: the peer retransmits, and after the heal the bytes arrive in
 * order on the same connection.
 *
 * Names: `lsw<pid36>_<tag>-<kind><index36>` (15 characters at most, the
 * limit of an interface name): the owner's pid lets sweepStaleNetns() remove
 * only what a dead run left.
 */
import { execFile } from "node:child_process";
import { ChaosNetworkError, ChaosNetworkUsageError } from "./errors.js";
import { processAlive } from "../core/process-alive.js";

export interface NetnsNetwork {
  /** The namespace of node `id` (start its process with ["ip", "netns", "exec", nsName(id)] before the command). */
  nsName(id: string): string;
  /** The node's IP inside its namespace (it binds there; the harness in the root namespace dials it there). */
  ipOf(id: string): string;
  /** The bridge's IP in the root namespace: where link proxies listen. */
  readonly hostIp: string;
  /** Drop every packet between node `id` and hostIp:port, both ways (TCP retransmits as across a real cut), or heal. */
  cutPort(id: string, port: number): Promise<void>;
  healPort(id: string, port: number): Promise<void>;
  /** Drop every IP packet to and from node `id` (its links and the control plane: a node partitioned from everyone), or heal. */
  isolate(id: string): Promise<void>;
  rejoin(id: string): Promise<void>;
  /** Remove every namespace, veth, bridge and tc rule it made; idempotent; never throws for something already gone. */
  close(): Promise<void>;
}

/** How long one `ip`/`tc` command may take: they answer in milliseconds; one that hangs is a broken host. */
const COMMAND_TIMEOUT_MS = 10_000;
/** A /24 holds the bridge (.1) and the nodes (.2 ..). */
export const MAX_NODES = 250;
/** 10.213.x.0/24: a private range rarely routed; x is chosen free of the host's routes and addresses. */
const SUBNET_PREFIX = "10.213.";
/** Every name we make: lsw, the owner's pid in base 36, `_`, the tag, `-`, the kind (bridge, host veth, namespace, probe) and an index. */
const OUR_NAME = /^lsw([0-9a-z]{1,5})_([0-9a-z]{1,2})-([bhnp])([0-9a-z]{0,2})$/;
/** The filter preference of an isolation; a cut port takes one from PORT_PREF_BASE up, kept for that port. */
const ISOLATE_PREF = 1;
const PORT_PREF_BASE = 10;
/** Nodes set up at once: enough to overlap the commands' start-up, few enough not to flood a small host with processes. */
const PARALLEL_NODES = 8;

const ROOT_FIX = "run it as root (network namespaces and tc need CAP_NET_ADMIN)";
const IPROUTE_FIX = "install iproute2 (`apt-get install iproute2`): it provides `ip` and `tc`";
const KERNEL_FIX =
  "this kernel lacks something the chaos network needs (network namespaces, veth, bridge, the htb and blackhole qdiscs, the u32 classifier); " +
  "run chaos through the userspace link proxies on loopback instead";
const STALE_FIX = "a name is taken, most likely by a run that was killed before it cleaned up: remove its leftovers with sweepStaleNetns()";

// ---------------------------------------------------------------------------
// Running ip and tc
// ---------------------------------------------------------------------------

interface CommandFailure {
  readonly code?: unknown;
  readonly killed?: boolean;
  readonly signal?: unknown;
  readonly stderr?: unknown;
}

/** The fix for a failed command, from what it said (the tool's words alone tell a user little). */
function fixFor(failure: CommandFailure, stderr: string): string {
  if (failure.code === "ENOENT") return IPROUTE_FIX;
  if (failure.killed === true || failure.signal != null) return `it did not answer within ${COMMAND_TIMEOUT_MS / 1000} s: the host's networking is stuck, retry once it answers`;
  if (/Operation not permitted|Permission denied/i.test(stderr)) return ROOT_FIX;
  if (/File exists|already exists/i.test(stderr)) return STALE_FIX;
  if (/unknown|not supported|Failed to load|not found|Unsupported|invalid/i.test(stderr)) return KERNEL_FIX;
  return "see what it said; the chaos network needs root, iproute2 and a kernel with namespaces, veth, bridge, htb and u32";
}

/** Runs one command (no shell) and returns its stdout; a failure throws a ChaosNetworkError naming the command, its purpose and the fix. */
export async function netCommand(command: readonly string[], purpose: string): Promise<string> {
  const [file, ...args] = command;
  if (file === undefined) throw new ChaosNetworkUsageError("chaos network: an empty command");
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout);
      const said = (typeof stderr === "string" ? stderr : "").trim().split("\n").slice(0, 3).join("; ");
      reject(new ChaosNetworkError(command, purpose, fixFor(error as CommandFailure, said), said, { cause: error }));
    });
  });
}

/** What a command says when the thing it acts on is already gone (deleting twice is not a failure). */
const GONE = /Cannot find device|No such file or directory|does not exist|doesn.t exist|Cannot open network namespace|No such device|Cannot find specified (qdisc|filter)|not found/i;

/** Runs a removal; something already gone is fine (returns false), anything else throws. */
async function remove(command: readonly string[], purpose: string): Promise<boolean> {
  try {
    await netCommand(command, purpose);
    return true;
  } catch (e) {
    if (e instanceof ChaosNetworkError && GONE.test(e.detail)) return false;
    throw e;
  }
}

/** `ip` or `tc` in namespace `ns` (the root namespace when undefined). */
function inNs(tool: "ip" | "tc", ns: string | undefined, ...args: string[]): string[] {
  return ns === undefined ? [tool, ...args] : [tool, "-n", ns, ...args];
}

// ---------------------------------------------------------------------------
// What exists: our namespaces and links
// ---------------------------------------------------------------------------

async function namespaces(): Promise<string[]> {
  const out = await netCommand(["ip", "netns", "list"], "listing the network namespaces");
  return out.split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "").filter((n) => n !== "");
}

async function links(): Promise<string[]> {
  const out = await netCommand(["ip", "-o", "link", "show"], "listing the network interfaces");
  // "12: lswab12_0-h0@if11: <BROADCAST,...": the name, without its peer's "@ifN".
  return out
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? "")
    .filter((n) => n !== "");
}

/**
 * Removes namespaces then links (the bridge last). Deleting a namespace takes
 * its veth end and the peer with it, unless a process still holds the
 * namespace: then the root-side end is deleted by name, which takes the pair.
 */
async function removeAll(nsNames: readonly string[], linkNames: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  const before = new Set(await links());
  for (const ns of nsNames) if (await remove(["ip", "netns", "del", ns], `removing the namespace ${ns}`)) removed.push(ns);
  const present = new Set(await links());
  const ordered = [...linkNames.filter((l) => !l.endsWith("-b")), ...linkNames.filter((l) => l.endsWith("-b"))];
  for (const link of ordered) {
    if (present.has(link)) await remove(["ip", "link", "del", link], `removing the interface ${link}`);
  }
  const after = new Set(await links());
  // A veth that went with its namespace counts as removed too.
  return [...removed, ...linkNames.filter((l) => before.has(l) && !after.has(l))];
}

// ---------------------------------------------------------------------------
// Support: a probe that does, in a throwaway namespace, what a network does
// ---------------------------------------------------------------------------

/** The leaf qdisc of the drop class: blackhole where the kernel has it, else a pfifo that holds nothing. */
type DropLeaf = readonly string[];
const BLACKHOLE: DropLeaf = ["blackhole"];
const EMPTY_FIFO: DropLeaf = ["pfifo", "limit", "0"];

type Probe = { readonly ok: true; readonly leaf: DropLeaf } | { readonly ok: false; readonly why: string };
let probed: Promise<Probe> | undefined;

/** Adds htb with the drop class 1:2 to `dev` (in `ns`), with `leaf` as the class's qdisc. */
async function addDropClass(ns: string | undefined, dev: string, leaf: DropLeaf): Promise<void> {
  const why = `preparing the drop class on ${dev}`;
  await netCommand(inNs("tc", ns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb"), why);
  // The rate is never used: the leaf drops every packet it is given. quantum silences htb's warning about a small rate.
  await netCommand(inNs("tc", ns, "class", "add", "dev", dev, "parent", "1:", "classid", "1:2", "htb", "rate", "1kbit", "quantum", "1514"), why);
  await netCommand(inNs("tc", ns, "qdisc", "add", "dev", dev, "parent", "1:2", "handle", "2:", ...leaf), why);
}

async function probeIn(ns: string): Promise<DropLeaf> {
  await netCommand(["ip", "netns", "add", ns], "making a namespace (probing support)");
  await netCommand(inNs("ip", ns, "link", "add", "name", "pa", "type", "veth", "peer", "name", "pb"), "making a veth pair (probing support)");
  await netCommand(inNs("ip", ns, "link", "add", "name", "pbr", "type", "bridge"), "making a bridge (probing support)");
  let leaf = BLACKHOLE;
  try {
    await addDropClass(ns, "pa", BLACKHOLE);
  } catch (e) {
    // Only a kernel without the blackhole qdisc is worth the fallback; a missing `tc` or a refusal is said as it is.
    if (!(e instanceof ChaosNetworkError) || !/unknown/i.test(e.detail)) throw e;
    leaf = EMPTY_FIFO;
    await remove(inNs("tc", ns, "qdisc", "del", "dev", "pa", "root"), "removing a probe qdisc");
    await addDropClass(ns, "pa", EMPTY_FIFO);
  }
  const filter = ["parent", "1:", "protocol", "ip", "pref", String(PORT_PREF_BASE), "u32"];
  await netCommand(inNs("tc", ns, "filter", "add", "dev", "pa", ...filter, "match", "ip", "dst", "10.0.0.1/32", "match", "ip", "dport", "7", "0xffff", "flowid", "1:2"), "adding a u32 drop filter (probing support)");
  await netCommand(inNs("tc", ns, "filter", "del", "dev", "pa", ...filter), "removing a u32 filter (probing support)");
  return leaf;
}

async function probe(): Promise<Probe> {
  if (process.platform !== "linux") return { ok: false, why: `network namespaces are Linux only (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, why: `not root: ${ROOT_FIX}` };
  const ns = `lsw${process.pid.toString(36)}_0-p`;
  try {
    return { ok: true, leaf: await probeIn(ns) };
  } catch (e) {
    return { ok: false, why: e instanceof Error ? e.message : String(e) };
  } finally {
    await remove(["ip", "netns", "del", ns], "removing the probe namespace").catch(() => false);
  }
}

/** Can this process make namespaces and tc drop rules here (root, `ip`, `tc`, the kernel's support)? Says why not. */
export async function netnsSupport(): Promise<{ readonly ok: true } | { readonly ok: false; readonly why: string }> {
  probed ??= probe();
  const p = await probed;
  return p.ok ? { ok: true } : { ok: false, why: p.why };
}

// ---------------------------------------------------------------------------
// Sweeping what dead runs left
// ---------------------------------------------------------------------------

function deadOwners(names: readonly string[]): string[] {
  return names.filter((n) => {
    const pid = OUR_NAME.exec(n)?.[1];
    return pid !== undefined && !processAlive(Number.parseInt(pid, 36));
  });
}

/**
 * Kills what still runs in a dead run's namespace: node processes orphaned
 * when their harness was killed (they would run forever, cut off, holding
 * the namespace alive).
 */
async function killInside(ns: string): Promise<void> {
  const out = await netCommand(["ip", "netns", "pids", ns], `listing the processes left in ${ns}`).catch(() => "");
  for (const pid of out.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

/** Remove what an earlier run left (killed before its close): names carry the owner's pid; only dead owners' are removed. */
export async function sweepStaleNetns(): Promise<readonly string[]> {
  const nsNames = deadOwners(await namespaces());
  for (const ns of nsNames) await killInside(ns);
  const removed = await removeAll(nsNames, deadOwners(await links()));
  return removed.sort();
}

// ---------------------------------------------------------------------------
// The network
// ---------------------------------------------------------------------------

interface Layout {
  readonly ids: readonly string[];
  readonly bridge: string;
  readonly subnet: string;
  readonly ns: ReadonlyMap<string, string>;
  readonly host: ReadonlyMap<string, string>;
  readonly ip: ReadonlyMap<string, string>;
}

let nextTag = 0;

function tagOf(requested: string | undefined): string {
  if (requested === undefined) return (nextTag++ % 36 ** 2).toString(36);
  if (!/^[0-9a-z]{1,2}$/.test(requested)) {
    throw new ChaosNetworkUsageError(`chaos network: tag "${requested}" must be 1 or 2 characters of [0-9a-z] (interface names hold 15 characters)`);
  }
  return requested;
}

function checkIds(ids: readonly string[]): void {
  if (ids.length === 0 || ids.length > MAX_NODES) {
    throw new ChaosNetworkUsageError(`chaos network: ${ids.length} nodes; give 1 to ${MAX_NODES} (one /24 holds them)`);
  }
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new ChaosNetworkUsageError(`chaos network: node "${dup}" is listed twice; give each node once`);
}

/** A 10.213.x.0/24 that no route or address of the host uses, starting from a spot that depends on the owner and tag. */
async function freeSubnet(tag: string): Promise<string> {
  const used = (await netCommand(["ip", "-4", "-o", "addr", "show"], "listing the host's addresses")) + (await netCommand(["ip", "-4", "route", "show", "table", "all"], "listing the host's routes"));
  const start = (process.pid * 31 + Number.parseInt(tag, 36) * 7) % 250;
  for (let i = 0; i < 250; i++) {
    const subnet = `${SUBNET_PREFIX}${((start + i) % 250) + 1}.`;
    if (!used.includes(subnet)) return subnet;
  }
  throw new ChaosNetworkError(["ip", "-4", "route", "show"], "choosing a free subnet", "free one of 10.213.1-250.0/24 (every one is in use on this host)", "");
}

function layoutOf(ids: readonly string[], tag: string, subnet: string): Layout {
  const base = `lsw${process.pid.toString(36)}_${tag}`;
  return {
    ids,
    bridge: `${base}-b`,
    subnet,
    ns: new Map(ids.map((id, i) => [id, `${base}-n${i.toString(36)}`])),
    host: new Map(ids.map((id, i) => [id, `${base}-h${i.toString(36)}`])),
    ip: new Map(ids.map((id, i) => [id, `${subnet}${i + 2}`])),
  };
}

/** A node's namespace: veth to the bridge, lo and eth0 up, its address, and the drop class on both ends. */
async function addNode(layout: Layout, id: string, leaf: DropLeaf, made: Made): Promise<void> {
  const ns = layout.ns.get(id) ?? "";
  const host = layout.host.get(id) ?? "";
  const why = `making the namespace of node "${id}"`;
  await netCommand(["ip", "netns", "add", ns], why);
  made.ns.push(ns);
  // The peer is born inside the namespace, so it is never seen in the root namespace and may be called eth0.
  await netCommand(["ip", "link", "add", "name", host, "type", "veth", "peer", "name", "eth0", "netns", ns], `joining node "${id}" to the bridge`);
  made.links.push(host);
  await netCommand(["ip", "link", "set", host, "master", layout.bridge], `joining node "${id}" to the bridge`);
  await netCommand(["ip", "link", "set", host, "up"], `joining node "${id}" to the bridge`);
  await netCommand(inNs("ip", ns, "link", "set", "lo", "up"), why);
  await netCommand(inNs("ip", ns, "addr", "add", `${layout.ip.get(id) ?? ""}/24`, "dev", "eth0"), why);
  await netCommand(inNs("ip", ns, "link", "set", "eth0", "up"), why);
  await addDropClass(ns, "eth0", leaf);
  await addDropClass(undefined, host, leaf);
}

/** What a build made so far: on a failure half way, exactly this is removed (a name that was taken belongs to someone else). */
interface Made {
  readonly ns: string[];
  readonly links: string[];
}

async function build(layout: Layout, leaf: DropLeaf, made: Made): Promise<void> {
  const why = "making the bridge of the chaos network";
  await netCommand(["ip", "link", "add", "name", layout.bridge, "type", "bridge"], why);
  made.links.push(layout.bridge);
  await netCommand(["ip", "addr", "add", `${layout.subnet}1/24`, "dev", layout.bridge], why);
  await netCommand(["ip", "link", "set", layout.bridge, "up"], why);
  // A few nodes side by side (each is ~12 commands); a batch settles whole before a failure is undone, so `made` is complete.
  for (let i = 0; i < layout.ids.length; i += PARALLEL_NODES) {
    const batch = layout.ids.slice(i, i + PARALLEL_NODES);
    const results = await Promise.allSettled(batch.map((id) => addNode(layout, id, leaf, made)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }
}

export async function createNetnsNetwork(ids: readonly string[], opts?: { readonly tag?: string }): Promise<NetnsNetwork> {
  checkIds(ids);
  const tag = tagOf(opts?.tag);
  probed ??= probe();
  const support = await probed;
  if (!support.ok) throw new ChaosNetworkError(["ip", "netns", "add"], "checking that this host can make a chaos network", support.why, "");
  const layout = layoutOf(ids, tag, await freeSubnet(tag));
  const made: Made = { ns: [], links: [] };
  try {
    await build(layout, support.leaf, made);
  } catch (e) {
    await removeAll(made.ns, made.links).catch(() => []);
    throw e;
  }
  return new TcNetwork(layout);
}

/** One rule's two filters: on the namespace side (packets from the node) and the root side (packets to it). */
interface Rule {
  readonly pref: number;
  readonly fromNode: readonly string[];
  readonly toNode: readonly string[];
}

class TcNetwork implements NetnsNetwork {
  readonly hostIp: string;
  /** The rules in force, per node: "isolate" or "port:P". */
  private readonly active = new Map<string, Set<string>>();
  /** A port keeps its filter preference, so cut/heal/cut finds and deletes exactly its filters. */
  private readonly portPrefs = new Map<number, number>();
  /** Operations on one node run one at a time: a cut and a heal racing would leave half a rule. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(private readonly layout: Layout) {
    this.hostIp = `${layout.subnet}1`;
    for (const id of layout.ids) this.active.set(id, new Set());
  }

  nsName(id: string): string {
    return this.known(this.layout.ns, id);
  }

  ipOf(id: string): string {
    return this.known(this.layout.ip, id);
  }

  async cutPort(id: string, port: number): Promise<void> {
    return this.apply(id, `port:${this.checkPort(port)}`, true, () => this.portRule(port));
  }

  async healPort(id: string, port: number): Promise<void> {
    return this.apply(id, `port:${this.checkPort(port)}`, false, () => this.portRule(port));
  }

  async isolate(id: string): Promise<void> {
    return this.apply(id, "isolate", true, () => this.isolateRule());
  }

  async rejoin(id: string): Promise<void> {
    return this.apply(id, "isolate", false, () => this.isolateRule());
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.queues.values()]);
    const ours = new Set([...this.layout.ns.values()]);
    const present = (await namespaces()).filter((n) => ours.has(n));
    await removeAll(present, [...this.layout.host.values(), this.layout.bridge]);
  }

  private known(map: ReadonlyMap<string, string>, id: string): string {
    const v = map.get(id);
    if (v === undefined) throw new ChaosNetworkUsageError(`chaos network: there is no node "${id}" (nodes: ${this.layout.ids.join(", ")})`);
    return v;
  }

  private checkPort(port: number): number {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ChaosNetworkUsageError(`chaos network: port ${port} is not a TCP port (1-65535)`);
    return port;
  }

  private isolateRule(): Rule {
    return { pref: ISOLATE_PREF, fromNode: ["match", "u32", "0", "0"], toNode: ["match", "u32", "0", "0"] };
  }

  private portRule(port: number): Rule {
    let pref = this.portPrefs.get(port);
    if (pref === undefined) {
      pref = PORT_PREF_BASE + this.portPrefs.size;
      this.portPrefs.set(port, pref);
    }
    const p = String(port);
    return {
      pref,
      fromNode: ["match", "ip", "dst", `${this.hostIp}/32`, "match", "ip", "dport", p, "0xffff"],
      toNode: ["match", "ip", "src", `${this.hostIp}/32`, "match", "ip", "sport", p, "0xffff"],
    };
  }

  /** Adds (on) or deletes (off) a rule's two filters on node `id`, once: cutting a cut port or healing a healed one does nothing. */
  private apply(id: string, key: string, on: boolean, rule: () => Rule): Promise<void> {
    const ns = this.nsName(id);
    const host = this.known(this.layout.host, id);
    if (this.closed) return Promise.reject(new ChaosNetworkUsageError(`chaos network: closed; node "${id}" can no longer be cut or healed`));
    const prev = this.queues.get(id) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        const active = this.active.get(id) ?? new Set<string>();
        if (active.has(key) === on) return;
        const r = rule();
        await (on ? this.addFilters(id, ns, host, r) : this.deleteFilters(id, ns, host, r));
        if (on) active.add(key);
        else active.delete(key);
      });
    this.queues.set(id, next);
    return next;
  }

  private async addFilters(id: string, ns: string, host: string, r: Rule): Promise<void> {
    const head = ["filter", "add", "dev"];
    const tail = ["parent", "1:", "protocol", "ip", "pref", String(r.pref), "u32"];
    const why = `cutting node "${id}"`;
    await netCommand(inNs("tc", ns, ...head, "eth0", ...tail, ...r.fromNode, "flowid", "1:2"), why);
    try {
      await netCommand(inNs("tc", undefined, ...head, host, ...tail, ...r.toNode, "flowid", "1:2"), why);
    } catch (e) {
      // Half a cut is worse than none: take the first filter back.
      await remove(inNs("tc", ns, "filter", "del", "dev", "eth0", ...tail), why).catch(() => false);
      throw e;
    }
  }

  private async deleteFilters(id: string, ns: string, host: string, r: Rule): Promise<void> {
    const tail = ["parent", "1:", "protocol", "ip", "pref", String(r.pref), "u32"];
    const why = `healing node "${id}"`;
    await remove(inNs("tc", ns, "filter", "del", "dev", "eth0", ...tail), why);
    await remove(inNs("tc", undefined, "filter", "del", "dev", host, ...tail), why);
  }
}
