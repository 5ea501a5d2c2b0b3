import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { RequestTimeoutError } from "../core/errors.js";
import { connectCluster } from "./cluster-connection.js";
import { ClusterClient } from "./cluster-client.js";
import { clusterUp, nodeCommand, type StartedNode } from "./cluster-processes.js";
import { ClusterRunningError, NodeAliveError, NodeNotAnsweringError } from "./errors.js";
import { keysInit } from "./keys.js";
import { readSegments } from "./node-trace.js";
import { startLocalCluster, type LocalCluster } from "./local-cluster.js";
import { childModule } from "../../test/support/child-tree.js";

const dbPackage = childModule(resolve(import.meta.dirname, "../scenarios/replicated-db/package.ts"));
const keys = mkdtempSync(join(tmpdir(), "liveswap-ops-keys-"));
let cluster: LocalCluster | undefined;

beforeAll(() => keysInit(keys, ["r0", "r1", "r2"]), 60_000);

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** The replicated database on a line r0 - r1 - r2, mutual TLS. */
function dbLine(extra: { readonly requestTimeoutMs?: number; readonly store?: string; readonly trace?: string } = {}): Promise<LocalCluster> {
  const ids = ["r0", "r1", "r2"];
  return startLocalCluster({
    nodes: ids.map((id) => ({ id, package: dbPackage, behavior: "db-v1", cert: join(keys, `${id}.crt`), key: join(keys, `${id}.key`) })),
    links: [["r0", "r1"], ["r1", "r2"]],
    trust: { signingKey: join(keys, "signing.pub") },
    tls: { ca: join(keys, "ca.crt"), control: { cert: join(keys, "control.crt"), key: join(keys, "control.key") } },
    ...extra,
  });
}

/** `liveswap ARGS` in a process of its own: its output, exit code and wall time. */
function cli(args: readonly string[]): Promise<{ stdout: string; stderr: string; code: number | null; ms: number }> {
  const { cmd, args: pre } = nodeCommand();
  const t0 = performance.now();
  return new Promise((done) => {
    const child = spawn(cmd, [...pre, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => done({ stdout, stderr, code, ms: performance.now() - t0 }));
  });
}

describe("every ctl command has a bound per node and answers with what it knows", () => {
  it("with one node SIGSTOPped (the kernel accepts, nothing answers), status answers within its bound, showing it as not answering", async () => {
    cluster = await dbLine();
    const stopped = cluster.nodes.find((n) => n.id === "r1");
    // A client whose connection to r1 is open before r1 freezes (the command's bound), and one that dials it after (the dial's).
    const before = await connectCluster({ cluster: cluster.cluster.file });
    expect((await before.status()).up.map((s) => s.id).sort()).toEqual(["r0", "r1", "r2"]);
    stopped?.child.kill("SIGSTOP");
    try {
      for (const c of [before, await connectCluster({ cluster: cluster.cluster.file })]) {
        const t0 = performance.now();
        const s = await c.status({ timeoutMs: 4000 });
        const ms = performance.now() - t0;
        expect(s.up.map((n) => n.id).sort()).toEqual(["r0", "r2"]);
        expect(s.down).toEqual([{ id: "r1", code: "NODE_NOT_ANSWERING", error: expect.stringMatching(/^node "r1" at 127\.0\.0\.1:\d+ did not answer within 4000 ms: its process may be stopped/) }]);
        // Within its bound (and a margin for a loaded machine), not the minutes of a dial to a frozen process.
        expect(ms).toBeLessThan(4000 + 3000);
        await expect(c.nodeStatus("r1", { timeoutMs: 300 })).rejects.toThrow(NodeNotAnsweringError);
        c.close();
      }
      // The command line: it prints what it knows and exits by itself (no dial left hanging).
      const run = await cli(["ctl", "--cluster", cluster.cluster.file, "status", "--timeout", "4000"]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^r0 +db@1 /m);
      expect(run.stdout).toMatch(/^r2 +db@1 /m);
      expect(run.stdout).toMatch(/^r1 +NOT ANSWERING: node "r1" at 127\.0\.0\.1:\d+ did not answer within 4000 ms/m);
      // The node thawed answers again: nothing was changed by asking.
      stopped?.child.kill("SIGCONT");
      const after = await connectCluster({ cluster: cluster.cluster.file });
      expect((await after.status()).down).toEqual([]);
      after.close();
    } finally {
      stopped?.child.kill("SIGCONT");
    }
  });

  it("a node never started (nothing listens) is shown as down at once, with why", async () => {
    cluster = await dbLine();
    const r2 = cluster.nodes.find((n) => n.id === "r2");
    await new Promise<void>((r) => {
      r2?.child.once("exit", () => r());
      r2?.child.kill("SIGKILL");
    });
    const c = new ClusterClient(cluster.cluster, { commandTimeoutMs: 10_000 });
    try {
      const t0 = performance.now();
      const s = await c.statusAll();
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect(s.down).toEqual([{ id: "r2", code: "NODE_UNREACHABLE", error: expect.stringMatching(/nothing listens there: connection refused/) }]);
    } finally {
      c.close();
    }
  });
});

describe("outside requests have a timeout over TCP too", () => {
  it("a global read routed through a killed middle node rejects with RequestTimeoutError at the cluster file's requestTimeoutMs", async () => {
    cluster = await dbLine({ requestTimeoutMs: 2_000 });
    expect(cluster.cluster.requestTimeoutMs).toBe(2_000);
    const c = await connectCluster({ cluster: cluster.cluster.file });
    try {
      expect(await c.request("r0", { kind: "global-read", entry: 1 })).toEqual({ r0: "v1", r1: "v1", r2: "v1" });
      const r1 = cluster.nodes.find((n) => n.id === "r1");
      await new Promise<void>((r) => {
        r1?.child.once("exit", () => r());
        r1?.child.kill("SIGKILL");
      });
      const t0 = performance.now();
      const err = await c.request("r0", { kind: "global-read", entry: 2 }).catch((e: unknown) => e);
      const ms = performance.now() - t0;
      expect(err).toBeInstanceOf(RequestTimeoutError);
      expect((err as Error).message).toMatch(/^request [-0-9a-f]+ to node "r0" got no response within 2000 ms/);
      expect(ms).toBeGreaterThanOrEqual(1_900);
      expect(ms).toBeLessThan(2_000 + 5_000);
      // r0 itself still serves: only what needs r1 waits.
      expect(await c.request("r0", { kind: "read", entry: 3 })).toBe("v3");
      // ctl request takes the file's bound as its default.
      const run = await cli(["ctl", "--cluster", cluster.cluster.file, "request", "r0", '{"kind":"global-read","entry":4}']);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/got no response within 2000 ms/);
    } finally {
      c.close();
    }
  });
});

describe("cluster up over a running cluster", () => {
  it("refuses, naming the nodes that run, and leaves the PID file and the running nodes as they were; a node that died is started again", async () => {
    cluster = await dbLine();
    const file = cluster.cluster.file;
    const pidFile = join(dirname(file), ".liveswap-cluster.json");
    const pids = readFileSync(pidFile, "utf8");
    const err = await clusterUp(cluster.cluster, { timeoutMs: 30_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterRunningError);
    const [p0, p1, p2] = ["r0", "r1", "r2"].map((id) => cluster?.nodes.find((n) => n.id === id)?.pid);
    expect((err as Error).message).toBe(
      `node "r0" is running (pid ${p0}, started by \`cluster up\`); node "r1" is running (pid ${p1}, started by \`cluster up\`); ` +
        `node "r2" is running (pid ${p2}, started by \`cluster up\`). ${file} is already (partly) running: ` +
        `\`liveswap ctl --cluster ${file} status\` shows it; \`liveswap cluster down ${file}\` stops what \`up\` started`,
    );
    expect(readFileSync(pidFile, "utf8")).toBe(pids);
    // The command line says the same, with no success line.
    const run = await cli(["cluster", "up", file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^liveswap: node "r0" is running \(pid \d+, started by `cluster up`\); node "r1" is running/);
    expect(readFileSync(pidFile, "utf8")).toBe(pids);
    // A node started by hand (not in the PID file) is found at its address.
    writeFileSync(pidFile, JSON.stringify({ r0: p0, r1: p1 }));
    await expect(clusterUp(cluster.cluster, { only: ["r2"] })).rejects.toThrow(/^node "r2" has a process listening at its address 127\.0\.0\.1:\d+ \(one started by hand, or another `up`\)/);
    const c = new ClusterClient(cluster.cluster);
    try {
      const { up } = await c.statusAll();
      expect(up.map((s) => [s.id, s.pid])).toEqual([["r0", p0], ["r1", p1], ["r2", p2]]);
      // And then: r1 dies; up of r1 alone starts it again, and the PID file keeps the others.
      const r1 = cluster.nodes.find((n) => n.id === "r1");
      await new Promise<void>((r) => {
        r1?.child.once("exit", () => r());
        r1?.child.kill("SIGKILL");
      });
      const [again] = await clusterUp(cluster.cluster, { only: ["r1"], timeoutMs: 60_000 });
      try {
        expect(JSON.parse(readFileSync(pidFile, "utf8"))).toEqual({ r0: p0, r1: again?.pid });
        expect((await c.status("r1")).pid).toBe(again?.pid);
      } finally {
        again?.child.kill("SIGTERM");
      }
    } finally {
      c.close();
    }
  });
});

/** Until `f` holds (polled), or fail naming what was last seen. */
async function until<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean, withinMs = 30_000): Promise<T> {
  const end = Date.now() + withinMs;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${withinMs} ms; last seen ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function kill9(c: LocalCluster, id: string, restarted: readonly StartedNode[] = []): Promise<void> {
  const n = [...restarted].reverse().find((x) => x.id === id) ?? c.nodes.find((x) => x.id === id);
  return new Promise<void>((r) => {
    if (n === undefined || n.child.exitCode !== null || n.child.signalCode !== null) return r();
    n.child.once("exit", () => r());
    n.child.kill("SIGKILL");
  });
}

const neighbours = (c: ClusterClient, id: string) => async (): Promise<string[]> => (await c.status(id)).neighbors.map((n) => n.id);

describe("unlink and destroy with a node down (durable nodes, store:)", () => {
  const restarted: StartedNode[] = [];
  afterEach(() => {
    for (const n of restarted.splice(0)) n.child.kill("SIGTERM");
  });

  it("unlink: the live side completes, the down side drops the link when it restarts, whichever side dials; and then it stays dropped", async () => {
    cluster = await dbLine({ store: "store", trace: "traces" });
    const lc = cluster;
    const c = new ClusterClient(lc.cluster);
    const restart = async (id: string): Promise<void> => void restarted.push(...(await clusterUp(lc.cluster, { only: [id], timeoutMs: 60_000 })));
    try {
      // r2 down: r1 (the smaller id, the side that dials) unlinks and tells r2 when it is back.
      await kill9(lc, "r2");
      expect(await c.unlink("r1", "r2")).toEqual({ pending: ["r2"] });
      expect(await neighbours(c, "r1")()).toEqual(["r0"]);
      await restart("r2");
      await until("r2 drops its link to r1", neighbours(c, "r2"), (n) => n.length === 0);
      // r0 down: r1 (the side that accepts) refuses r0's reconnection for the link it no longer has.
      await kill9(lc, "r0");
      expect(await c.unlink("r0", "r1")).toEqual({ pending: ["r0"] });
      await restart("r0");
      await until("r0 drops its link to r1", neighbours(c, "r0"), (n) => n.length === 0);
      expect(await neighbours(c, "r1")()).toEqual([]);
      // And then: the drop was made durable (r2 killed and started again has no link), and the nodes link again.
      await kill9(lc, "r2", restarted);
      await restart("r2");
      expect(await neighbours(c, "r2")()).toEqual([]);
      await c.link("r1", "r2");
      await until("r1 - r2 connected again", async () => (await c.status("r1")).neighbors, (n) => n.length === 1 && n[0]?.connected === true);
      expect(await c.request("r1", { kind: "write", entry: 1, value: "after" })).toBe("ok");
      await until("the write reaches r2", () => c.request("r2", { kind: "read", entry: 1 }), (v) => v === "after");
      // Each unlink is in the merged trace once: traced by the live side whichever id is smaller (r1 unlinked r0
      // alone), not again by the side that learnt it at its restart.
      const unlinks = (await c.trace()).flatMap((e) => (e.kind === "unlink" ? [`${e.a}-${e.b}`] : []));
      expect(unlinks).toEqual(["r1-r2", "r0-r1"]);
    } finally {
      c.close();
    }
  });

  it("destroy of a node that is down: its live neighbours unlink it, its store is cleared, its trace kept; a frozen node is refused", async () => {
    cluster = await dbLine({ store: "store", trace: "traces" });
    const lc = cluster;
    const c = new ClusterClient(lc.cluster, { commandTimeoutMs: 4000 });
    const storeOf = (id: string): string => join(lc.cluster.storeDir as string, id);
    try {
      const r0 = lc.nodes.find((n) => n.id === "r0");
      r0?.child.kill("SIGSTOP");
      try {
        const frozen = await c.destroy("r0").catch((e: unknown) => e);
        expect(frozen).toBeInstanceOf(NodeAliveError);
        expect((frozen as Error).message).toMatch(/^destroy: node "r0" does not answer, but it accepts connections at 127\.0\.0\.1:\d+ \(a stopped or overloaded process\?\); stop its process first/);
      } finally {
        r0?.child.kill("SIGCONT");
      }
      expect(existsSync(storeOf("r0"))).toBe(true);
      await kill9(lc, "r2");
      expect(existsSync(storeOf("r2"))).toBe(true);
      const run = await cli(["ctl", "--cluster", lc.cluster.file, "destroy", "r2"]);
      expect(run.stderr).toBe("");
      expect(run.stdout).toBe("destroyed r2 (it was down: its neighbours unlinked it, its store is cleared; its trace is kept)\n");
      expect(existsSync(storeOf("r2"))).toBe(false);
      // Its trace is kept: the segments of its lives under the trace directory (node-trace.ts).
      expect(readSegments(join(lc.dir, "traces"), "r2")?.events.some((e) => e.ev.kind === "create")).toBe(true);
      expect(await neighbours(c, "r1")()).toEqual(["r0"]);
      // And then: created again it starts empty (no link, no old record refusing it) and links back.
      restarted.push(...(await clusterUp(lc.cluster, { only: ["r2"], unlinked: true, timeoutMs: 60_000 })));
      expect(await neighbours(c, "r2")()).toEqual([]);
      await c.link("r1", "r2");
      expect(await c.request("r2", { kind: "global-read", entry: 5 })).toEqual({ r0: "v5", r1: "v5", r2: "v5" });
    } finally {
      c.close();
    }
  });
});
