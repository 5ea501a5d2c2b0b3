import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChaosNetworkError, ChaosNetworkUsageError } from "./errors.js";
import { createNetnsNetwork, netCommand, type NetnsNetwork, netnsSupport, sweepStaleNetns } from "./netns.js";

const support = await netnsSupport();
if (!support.ok) console.log(`src/chaos/netns.test.ts skipped: ${support.why}`);

/** How long a cut link must stay silent to count as cut (the bytes go out every ~10 ms while it flows). */
const SILENCE_MS = 1000;
/** After a heal, TCP's backed-off retransmission timer decides when the held bytes go: a few seconds for a cut of a few. */
const HEAL_MS = 10_000;
const NODE_PORT = 7100;

/**
 * Runs inside a namespace: an echo server on the node's own IP (the harness
 * dials it), and a connection to hostIp for each given port. Stdin "i text"
 * writes a line on connection i; stdout reports "i:got:line", "i:open",
 * "i:closed", "i:error:CODE".
 */
const CLIENT = `
const net = require("net"), readline = require("readline");
const [host, ports, ownIp, ownPort] = process.argv.slice(1);
const out = (s) => process.stdout.write(s + "\\n");
net.createServer((s) => s.pipe(s)).listen(Number(ownPort), ownIp, () => out("listening"));
const conns = ports.split(",").map((p, i) => {
  const s = net.connect(Number(p), host);
  s.setNoDelay(true);
  let buf = "";
  s.on("connect", () => out(i + ":open"));
  s.on("data", (d) => { buf += d; for (let k = buf.indexOf("\\n"); k >= 0; k = buf.indexOf("\\n")) { out(i + ":got:" + buf.slice(0, k)); buf = buf.slice(k + 1); } });
  s.on("error", (e) => out(i + ":error:" + e.code));
  s.on("close", () => out(i + ":closed"));
  return s;
});
readline.createInterface({ input: process.stdin }).on("line", (l) => { const k = l.indexOf(" "); conns[Number(l.slice(0, k))].write(l.slice(k + 1) + "\\n"); });
process.stdin.on("end", () => process.exit(0));
`;

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A node-side process in namespace `ns`: its lines, and what it sent per connection. */
class Client {
  readonly lines: string[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  constructor(ns: string, host: string, ports: readonly number[], ownIp: string) {
    this.child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", CLIENT, host, ports.join(","), ownIp, String(NODE_PORT)]);
    let buf = "";
    this.child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      this.lines.push(...parts);
    });
  }
  async ready(conns: number): Promise<void> {
    await until("the client to listen and connect", () => this.lines.includes("listening") && [...Array(conns).keys()].every((i) => this.lines.includes(`${i}:open`)), 5000);
  }
  send(conn: number, text: string): void {
    this.child.stdin.write(`${conn} ${text}\n`);
  }
  got(conn: number): string[] {
    return this.lines.filter((l) => l.startsWith(`${conn}:got:`)).map((l) => l.slice(`${conn}:got:`.length));
  }
  broken(): string[] {
    return this.lines.filter((l) => /:(closed|error)/.test(l));
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGKILL");
    await once(this.child, "exit");
  }
}

/** The role of a link proxy: an echo server on hostIp; it can also push lines to the node at an IP (proving the root-to-node direction alone). */
class Echo {
  readonly sockets: net.Socket[] = [];
  private readonly server = net.createServer((s) => {
    this.sockets.push(s);
    s.on("error", () => undefined);
    s.pipe(s);
  });
  port = 0;
  async listen(ip: string): Promise<void> {
    this.server.listen(0, ip);
    await once(this.server, "listening");
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  push(toIp: string, text: string): void {
    for (const s of this.sockets) if (s.remoteAddress === toIp) s.write(`${text}\n`);
  }
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

/** Can the root namespace open a TCP connection to ip:port within `ms`? */
async function reachable(ip: string, port: number, ms = 800): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, ip);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    s.on("connect", () => done(true));
    s.on("error", () => done(false));
  });
}

/** Packets dropped by the drop class (1:2's leaf) of `dev`, in namespace `ns` or the root one. */
function drops(dev: string, ns?: string): number {
  const args = [...(ns === undefined ? [] : ["-n", ns]), "-s", "-j", "qdisc", "show", "dev", dev];
  const qdiscs = JSON.parse(execFileSync("tc", args).toString()) as { handle: string; drops?: number }[];
  return qdiscs.find((q) => q.handle === "2:")?.drops ?? 0;
}

/** Every namespace and interface name on the host that starts with `prefix`. */
function namesWith(prefix: string): string[] {
  const ns = execFileSync("ip", ["netns", "list"]).toString().split("\n").map((l) => l.split(" ")[0] ?? "");
  const links = execFileSync("ip", ["-o", "link", "show"]).toString().split("\n").map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? "");
  return [...ns, ...links].filter((n) => n !== "" && n.startsWith(prefix));
}

/** The name prefix of a network: its namespaces' names without the kind and index. */
const prefixOf = (n: NetnsNetwork, id: string): string => n.nsName(id).replace(/-n[0-9a-z]+$/, "-");

describe("the netns fabric's commands", () => {
  it("a command that cannot run names itself, its purpose and the fix, not the bare ENOENT", async () => {
    const err = await netCommand(["liveswap-no-such-ip-tool", "link"], "listing the links").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChaosNetworkError);
    expect((err as ChaosNetworkError).code).toBe("CHAOS_NETWORK");
    expect((err as Error).message).toMatch(/`liveswap-no-such-ip-tool link` failed while listing the links; install iproute2/);
  });
});

describe.skipIf(!support.ok)("the netns fabric: namespaces on a bridge, links cut with tc", () => {
  let n: NetnsNetwork;
  const p = new Echo();
  const q = new Echo();
  let a: Client;
  let b: Client;
  /** Everything sent so far on a's link to P (connection 0) and to Q (connection 1), in order. */
  const sentP: string[] = [];
  const sentQ: string[] = [];
  const sendP = (text: string): void => {
    sentP.push(text);
    a.send(0, text);
  };
  const sendQ = (text: string): void => {
    sentQ.push(text);
    a.send(1, text);
  };
  /** Every byte sent is back, once and in order, and the connections never broke. */
  const allBack = async (): Promise<void> => {
    await until("every line to come back", () => a.got(0).length >= sentP.length && a.got(1).length >= sentQ.length, HEAL_MS);
    expect(a.got(0)).toEqual(sentP);
    expect(a.got(1)).toEqual(sentQ);
    expect(a.broken()).toEqual([]);
  };

  beforeAll(async () => {
    n = await createNetnsNetwork(["a", "b", "c"]);
    await p.listen(n.hostIp);
    await q.listen(n.hostIp);
    a = new Client(n.nsName("a"), n.hostIp, [p.port, q.port], n.ipOf("a"));
    b = new Client(n.nsName("b"), n.hostIp, [p.port], n.ipOf("b"));
    await Promise.all([a.ready(2), b.ready(1)]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    p.close();
    q.close();
    await n?.close();
  });

  it("carries bytes both ways over the bridge, and the root namespace reaches each node at its IP", async () => {
    expect(n.hostIp).toMatch(/^10\.213\.\d+\.1$/);
    expect(new Set(["a", "b", "c"].map((id) => n.ipOf(id))).size).toBe(3);
    sendP("hello");
    sendQ("hello-q");
    await allBack();
    expect(await reachable(n.ipOf("a"), NODE_PORT)).toBe(true);
    expect(await reachable(n.ipOf("c"), NODE_PORT)).toBe(false); // nothing listens in c: refused, which proves the route
    expect(() => n.ipOf("zz")).toThrow(ChaosNetworkUsageError);
    await expect(n.cutPort("zz", p.port)).rejects.toThrow(/no node "zz"/);
    await expect(n.cutPort("a", 70000)).rejects.toThrow(ChaosNetworkUsageError);
  });

  it("cutPort silences that link both ways and only it; the connection survives; healPort delivers what was held, in order; twice", async () => {
    for (const round of [1, 2]) {
      const [nsDrops, hostDrops] = [drops("eth0", n.nsName("a")), drops(`${prefixOf(n, "a")}h0`)];
      await n.cutPort("a", p.port);
      const before = a.got(0).length;
      // From the proxy's side first (only the root-side filter stops it): it leads the echoes in that direction.
      p.push(n.ipOf("a"), `r${round}-pushed`);
      sentP.push(`r${round}-pushed`);
      for (const i of [1, 2, 3]) sendP(`r${round}-c${i}`);
      sendQ(`r${round}-q`); // another link of the same node still flows
      b.send(0, `r${round}-b`); // the same port from another node still flows
      await until("the uncut links to carry", () => a.got(1).includes(`r${round}-q`) && b.got(0).includes(`r${round}-b`), 3000);
      await sleep(SILENCE_MS);
      expect(a.got(0).length).toBe(before);
      expect(drops("eth0", n.nsName("a"))).toBeGreaterThan(nsDrops);
      expect(drops(`${prefixOf(n, "a")}h0`)).toBeGreaterThan(hostDrops);
      await n.healPort("a", p.port);
      await n.healPort("a", p.port); // a second heal is nothing
      await allBack();
    }
  });

  it("isolate cuts a node from everyone (its links and the harness's dial); rejoin heals; the others never notice", async () => {
    await n.isolate("a");
    await n.isolate("a");
    sendP("iso-p");
    sendQ("iso-q");
    b.send(0, "iso-b");
    expect(await reachable(n.ipOf("a"), NODE_PORT)).toBe(false);
    expect(await reachable(n.ipOf("b"), NODE_PORT)).toBe(true);
    await until("b's link to carry", () => b.got(0).includes("iso-b"), 3000);
    await sleep(SILENCE_MS);
    expect(a.got(0)).not.toContain("iso-p");
    expect(a.got(1)).not.toContain("iso-q");
    await n.rejoin("a");
    await allBack();
    expect(await reachable(n.ipOf("a"), NODE_PORT)).toBe(true);
  });

  it("a cut and an isolation coexist: healing either leaves the other in force", async () => {
    await n.cutPort("a", p.port);
    await n.isolate("a");
    await n.rejoin("a");
    sendP("both-p1");
    sendQ("both-q1");
    await until("Q to carry once a rejoins", () => a.got(1).includes("both-q1"), HEAL_MS);
    await sleep(SILENCE_MS);
    expect(a.got(0)).not.toContain("both-p1"); // still cut
    await n.healPort("a", p.port);
    await allBack();

    await n.cutPort("a", p.port);
    await n.isolate("a");
    await n.healPort("a", p.port);
    sendQ("both-q2");
    await sleep(SILENCE_MS);
    expect(a.got(1)).not.toContain("both-q2"); // still isolated
    await n.rejoin("a");
    await allBack();
  });
});

describe.skipIf(!support.ok)("the netns fabric's cleanup", () => {
  const extra: string[] = [];
  const children: ChildProcessWithoutNullStreams[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const ns of extra) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // Already gone: what the test expects.
      }
    }
  });

  it("close removes every namespace, veth and the bridge, with a node still running inside; twice is fine; then it refuses cuts", async () => {
    const n = await createNetnsNetwork(["x", "y"]);
    const prefix = prefixOf(n, "x");
    expect(namesWith(prefix).sort()).toEqual([`${prefix}b`, `${prefix}h0`, `${prefix}h1`, `${prefix}n0`, `${prefix}n1`]);
    await n.cutPort("x", 9);
    await n.isolate("y");
    const inside = spawn("ip", ["netns", "exec", n.nsName("x"), "sleep", "30"]);
    children.push(inside);
    await sleep(100);
    await n.close();
    expect(namesWith(prefix)).toEqual([]);
    await n.close();
    await expect(n.cutPort("x", 9)).rejects.toThrow(ChaosNetworkUsageError);
  });

  it("a taken name fails the build with the fix, undoes only what it made, and leaves the owner's network alone", async () => {
    const first = await createNetnsNetwork(["x"], { tag: "t1" });
    const err = await createNetnsNetwork(["x"], { tag: "t1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChaosNetworkError);
    expect(String((err as Error).message)).toMatch(/sweepStaleNetns/);
    expect(namesWith(prefixOf(first, "x"))).toHaveLength(3);
    await first.close();

    // Half way: the second node's namespace is taken; the bridge and the first node made before are removed.
    const base = prefixOf(first, "x").replace("_t1-", "_t2-");
    execFileSync("ip", ["netns", "add", `${base}n1`]);
    extra.push(`${base}n1`);
    await expect(createNetnsNetwork(["x", "y"], { tag: "t2" })).rejects.toThrow(/making the namespace of node "y"/);
    expect(namesWith(base)).toEqual([`${base}n1`]);
    await expect(createNetnsNetwork(["x"], { tag: "toolong" })).rejects.toThrow(ChaosNetworkUsageError);
  });

  it("sweepStaleNetns removes a dead owner's leftovers (and kills what runs inside) but not a live owner's", async () => {
    const gone = spawn(process.execPath, ["-e", ""]);
    await once(gone, "exit");
    const live = spawn("sleep", ["30"]);
    children.push(live);
    const make = (pid: number): string => {
      const base = `lsw${pid.toString(36)}_zz-`;
      execFileSync("ip", ["netns", "add", `${base}n0`]);
      extra.push(`${base}n0`);
      execFileSync("ip", ["link", "add", "name", `${base}h0`, "type", "veth", "peer", "name", "eth0", "netns", `${base}n0`]);
      execFileSync("ip", ["link", "add", "name", `${base}b`, "type", "bridge"]);
      return base;
    };
    const dead = make(gone.pid ?? 0);
    const alive = make(live.pid ?? 0);
    const orphan = spawn("ip", ["netns", "exec", `${dead}n0`, "sleep", "30"]);
    children.push(orphan);
    await sleep(100);
    try {
      const removed = await sweepStaleNetns();
      expect(removed).toEqual(expect.arrayContaining([`${dead}b`, `${dead}h0`, `${dead}n0`]));
      expect(removed.filter((r) => r.startsWith(alive))).toEqual([]);
      expect(namesWith(dead)).toEqual([]);
      expect(namesWith(alive).sort()).toEqual([`${alive}b`, `${alive}h0`, `${alive}n0`]);
      await until("the orphan in the dead namespace to be killed", () => orphan.signalCode === "SIGKILL", 3000);
    } finally {
      for (const name of [`${alive}h0`, `${alive}b`]) execFileSync("ip", ["link", "del", name]);
    }
  });
});
