import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { PrepareDeadlineError, UpdateHaltedError } from "../core/errors.js";
import type { Strategy } from "../core/update.js";
import { dbPackagePaths, packDbPackages } from "../../test/support/db-packages.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { dbLoad, expectReplicasHold, quiesce } from "../../test/support/db-load.js";
import { ClusterClient } from "./cluster-client.js";
import { clusterUp, nodeCommand, type StartedNode } from "./cluster-processes.js";

const NODES = 3;
const ids = Array.from({ length: NODES }, (_, i) => `r${i}`);
const packages = dbPackagePaths();
const keys = packages.keys;
const STRATEGIES: readonly Strategy[] = ["conservative", "cut", "snapshot", "rollback", "naive"];
const POINTS = ["ctl.watch-prepared", "ctl.watch-first-new"] as const;

beforeAll(() => packDbPackages(packages, ids, ["up", "down", "flaky"]), 120_000);

/** `liveswap ctl update` as its own process, killed by SIGKILL at `point` (a failpoint); resolves with how it ended. */
function ctlUpdate(clusterFile: string, pkg: string, strategy: Strategy, point: string): Promise<{ signal: NodeJS.Signals | null; code: number | null; out: string }> {
  const { cmd, args } = nodeCommand();
  const child = spawn(cmd, [...args, "ctl", "--cluster", clusterFile, "update", pkg, "--strategy", strategy, "--root", "r2"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LIVESWAP_FAILPOINTS: `${point}=crash` },
  });
  let out = "";
  child.stdout.on("data", (b: Buffer) => void (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => void (out += b.toString()));
  return new Promise((r) => child.once("close", (code, signal) => r({ signal, code, out })));
}

describe("the update's coordinator lives in the cluster: killing `ctl update` changes nothing", () => {
  let cluster: TestCluster | undefined;
  let client: ClusterClient | undefined;
  beforeAll(async () => {
    // The nodes other than the root (r2) stall before reporting they turned new, r0 1 s, r1 2 s, and r1 500 ms more
    // before reporting its part over: the watcher (polling every 100 ms, maybe late on a loaded machine) sees the
    // update between its steps (and dies there), not only after it. The root never stalls: a stalled root would not
    // answer the watcher's polls either.
    const env = (id: string): Record<string, string> =>
      id === "r2" ? {} : { LIVESWAP_FAILPOINTS: `daemon.before-report-swapped=stall(${id === "r0" ? 1000 : 2000})${id === "r1" ? ";daemon.before-report-done=stall(500)" : ""}` };
    cluster = await startDbCluster({ nodes: NODES, keys, traceFiles: true, store: true, env });
    client = new ClusterClient(cluster.cluster);
  }, 120_000);
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  // db@1 -> db@2 -> db@1 -> ...: ten updates in a row on one cluster, each with its ctl killed at a step.
  const cases = STRATEGIES.flatMap((strategy) => POINTS.map((point) => ({ strategy, point })));
  it.each(cases.map((c, i) => ({ ...c, i })))("$strategy, ctl killed at $point: the update completes, status shows it over, the load is served", async ({ strategy, point, i }) => {
    const c = cluster as TestCluster;
    const cl = client as ClusterClient;
    const load = dbLoad(cl, NODES, 100 + i, 10);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const ctl = await ctlUpdate(c.cluster.file, i % 2 === 0 ? packages.up : packages.down, strategy, point);
      expect(ctl.signal, ctl.out).toBe("SIGKILL");
      // Another watcher finds the update at its root and follows it to its end.
      const report = await cl.watch();
      expect(report.strategy).toBe(strategy);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await load.stop();
    }
    await quiesce(cl, NODES);
    // Every request answered (rollback's held answers released).
    expect(load.tally.failed).toEqual([]);
    const { up } = await cl.statusAll();
    expect(up.map((s) => [s.id, s.version, s.update])).toEqual(ids.map((id) => [id, i % 2 === 0 ? "db@2" : "db@1", null]));
    // naive lets old and new code run each other's messages: reads may see null and writes may be lost (the checker
    // says so below); every other strategy leaves no null read and every acknowledged write on every replica.
    if (strategy === "naive") return;
    expect(load.tally.nulls).toBe(0);
    expect(await expectReplicasHold(cl, ids, load.tally.acked)).toEqual([]);
    const after = await cl.request("r0", { kind: "global-read", entry: 3 });
    expect(Object.values(after as Record<string, unknown>).some((v) => v === null)).toBe(false);
  }, 120_000);

  it("the merged trace of the ten updates is clean (naive's own leaks aside)", async () => {
    const trace = await (client as ClusterClient).trace();
    const violations = checkTrace(trace, { complete: true }).violations;
    expect(trace.filter((e) => e.kind === "update-end").length).toBeGreaterThanOrEqual(cases.length);
    // naive lets old and new nodes exchange messages: the checker must say so, and say nothing else.
    expect(violations.filter((v) => !/naive|epoch|mixed/i.test(`${v.invariant} ${v.message}`))).toEqual([]);
  }, 120_000);
});

describe("faults at the update's root and during prepare", () => {
  let cluster: TestCluster | undefined;
  let client: ClusterClient | undefined;
  const restarted: StartedNode[] = [];
  beforeAll(async () => {
    // r1 blocks 1.5 s when its first prepare arrives: the test SIGSTOPs it then, so it is frozen in the middle of prepare.
    const env = (id: string): Record<string, string> => (id === "r1" ? { LIVESWAP_FAILPOINTS: "daemon.prepare-received=stall(1500)@1" } : {});
    cluster = await startDbCluster({ nodes: NODES, keys, traceFiles: true, store: true, env });
    client = new ClusterClient(cluster.cluster, { retry: { attempts: 200, backoffMs: 50, maxBackoffMs: 500 }, requestTimeoutMs: 90_000 });
  }, 120_000);
  afterAll(async () => {
    client?.close();
    for (const n of restarted) n.child.kill("SIGTERM");
    await cluster?.stop();
  });

  it("a node SIGSTOPped during prepare: the deadline aborts the update naming it, nothing changed; after SIGCONT the next update completes", async () => {
    const c = cluster as TestCluster;
    const cl = client as ClusterClient;
    const frozen = c.nodes.find((n) => n.id === "r1") as StartedNode;
    const t0 = Date.now();
    const { id, root } = await cl.submitUpdate(await readPackage(packages.up), { strategy: "cut", root: "r2", deadlineMs: 2000 });
    frozen.child.kill("SIGSTOP");
    try {
      const err = await cl.watch({ id, root }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PrepareDeadlineError);
      expect((err as Error).message).toMatch(/node\(s\) "r1" did not prepare within 2000 ms/);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      frozen.child.kill("SIGCONT");
    }
    // The abort is resent until r1 takes it: then no node is in the update, and every one still runs db@1.
    for (let i = 0; i < 100; i++) {
      const { up } = await cl.statusAll();
      if (up.length === NODES && up.every((s) => s.update === null)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { up } = await cl.statusAll();
    expect(up.map((s) => [s.version, s.update])).toEqual(ids.map(() => ["db@1", null]));
    const report = await cl.update(await readPackage(packages.up), { strategy: "cut", root: "r2" });
    expect(Object.keys(report.nodes).sort()).toEqual(ids);
  }, 120_000);

  it("the root killed with SIGKILL after the first node turned new and started again: it resumes coordinating and the update completes", async () => {
    const c = cluster as TestCluster;
    const cl = client as ClusterClient;
    const load = dbLoad(cl, NODES, 7, 10);
    await new Promise((r) => setTimeout(r, 200));
    const { id, root } = await cl.submitUpdate(await readPackage(packages.down), { strategy: "conservative", root: "r2" });
    let killed: Promise<void> | undefined;
    const report = await cl.watch({
      root,
      id,
      onProgress: (p) => {
        if (p.kind !== "new" || killed !== undefined) return;
        liveNode(c, restarted, "r2").child.kill("SIGKILL");
        killed = clusterUp(c.cluster, { only: ["r2"], timeoutMs: 90_000 }).then((s) => void restarted.push(...s));
      },
    });
    await killed;
    expect(killed).toBeDefined();
    await load.stop();
    await quiesce(cl, NODES);
    expect(load.tally.failed).toEqual([]);
    expect(load.tally.nulls).toBe(0);
    expect(Object.keys(report.nodes).sort()).toEqual(ids);
    const { up } = await cl.statusAll();
    expect(up.map((s) => [s.version, s.update])).toEqual(ids.map(() => ["db@1", null]));
    expect(await expectReplicasHold(cl, ids, load.tally.acked)).toEqual([]);
    const trace = await cl.trace();
    expect(trace.some((e) => e.kind === "restart" && e.node === "r2")).toBe(true);
    expect(checkTrace(trace, { complete: true }).violations).toEqual([]);
  }, 180_000);

  // The window CI once hit: the root journals the report that completes the update and dies before it traces the
  // update-end and saves the outcome. Started again, it must say both, or every watcher waits for ever.
  it("the root crashed after journaling the update's completion, before saying it: started again, it says it and the watch ends", async () => {
    const c = cluster as TestCluster;
    const cl = client as ClusterClient;
    await restartNode(c, restarted, "r2", { LIVESWAP_FAILPOINTS: "coordinator.before-update-end=crash" });
    const root = liveNode(c, restarted, "r2");
    const crashed = ended(root);
    const { id } = await cl.submitUpdate(await readPackage(packages.up), { strategy: "conservative", root: "r2" });
    const watched = cl.watch({ root: "r2", id });
    expect(await crashed).toBe("SIGKILL");
    restarted.push(...(await clusterUp(c.cluster, { only: ["r2"], timeoutMs: 90_000 })));
    const report = await watched;
    expect(Object.keys(report.nodes).sort()).toEqual(ids);
    expect(await cl.updateView("r2")).toMatchObject({ id, phase: "completed", outcome: { ok: true } });
    const { up } = await cl.statusAll();
    expect(up.map((s) => [s.version, s.update])).toEqual(ids.map(() => ["db@2", null]));
    const trace = await cl.trace();
    expect(trace.filter((e) => e.kind === "update-end" && e.update === id).map((e) => e.kind === "update-end" && e.outcome)).toEqual(["completed"]);
    expect(checkTrace(trace, { complete: true }).violations).toEqual([]);
  }, 120_000);
});

describe("a halted update over TCP: `ctl watch` shows it halted, abort is refused, `ctl resume` finishes it", () => {
  let cluster: TestCluster | undefined;
  let client: ClusterClient | undefined;
  const restarted: StartedNode[] = [];
  beforeAll(async () => {
    cluster = await startDbCluster({ nodes: NODES, keys, traceFiles: true, store: true });
    // The load's requests to the root while it restarts are retried under their id until it answers.
    client = new ClusterClient(cluster.cluster, { retry: { attempts: 200, backoffMs: 50, maxBackoffMs: 500 }, requestTimeoutMs: 90_000 });
  }, 120_000);
  afterAll(async () => {
    client?.close();
    for (const n of restarted) n.child.kill("SIGTERM");
    await cluster?.stop();
  });

  it("r1's transfer throws at swap time: halted (UpdateHaltedError), r1 serves on, resumed with the sound transfer, and then a back-out", async () => {
    const cl = client as ClusterClient;
    const load = dbLoad(cl, NODES, 21, 10);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const err = await cl.update(await readPackage(packages.flaky), { strategy: "cut", root: "r2" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UpdateHaltedError);
      expect((err as Error).message).toMatch(/"r1": .*cannot convert/);
      const view = await cl.updateView();
      expect(view).toMatchObject({ phase: "halted", root: "r2", halted: [{ node: "r1" }] });
      await expect(cl.abortUpdate()).rejects.toThrow(/cannot be aborted: it is halted/);
      // The root stopped and started again: its journal still has the update halted, and a watcher hears so.
      await restartNode(cluster as TestCluster, restarted, "r2");
      await expect(cl.watch()).rejects.toThrow(UpdateHaltedError);
      // r1 stays old and serves its local reads while halted.
      expect(await cl.request("r1", { kind: "read", entry: 1 })).not.toBeNull();
      const report = await cl.resumeUpdate(await readPackage(packages.up));
      expect(Object.keys(report.nodes).sort()).toEqual(ids);
    } finally {
      await load.stop();
    }
    await quiesce(cl, NODES);
    expect(load.tally.failed).toEqual([]);
    expect(load.tally.nulls).toBe(0);
    expect(await expectReplicasHold(cl, ids, load.tally.acked)).toEqual([]);
    // And then a back-out: the cluster is as updatable as before.
    await cl.update(await readPackage(packages.down), { strategy: "conservative", root: "r0" });
    const { up } = await cl.statusAll();
    expect(up.map((s) => [s.version, s.update])).toEqual(ids.map(() => ["db@1", null]));
    expect(checkTrace(await cl.trace(), { complete: true }).violations).toEqual([]);
  }, 120_000);
});

/** The process now running node `id` (started with the cluster, or since). */
function liveNode(c: TestCluster, restarted: readonly StartedNode[], id: string): StartedNode {
  const n = [...restarted, ...c.nodes].find((s) => s.id === id && s.child.exitCode === null && s.child.signalCode === null);
  if (n === undefined) throw new Error(`no process of node "${id}" is running`);
  return n;
}

/** Resolves with the signal that ended the process (null: it exited). */
function ended(n: StartedNode): Promise<NodeJS.Signals | null> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return Promise.resolve(n.child.signalCode);
  return new Promise((r) => n.child.once("exit", (_code, signal) => r(signal)));
}

/** Stop node `id` (SIGTERM) and start it again from its store, with `env` added to its environment. */
async function restartNode(c: TestCluster, restarted: StartedNode[], id: string, env: Record<string, string> = {}): Promise<void> {
  const n = liveNode(c, restarted, id);
  const gone = ended(n);
  n.child.kill("SIGTERM");
  await gone;
  restarted.push(...(await clusterUp(c.cluster, { only: [id], timeoutMs: 90_000, env })));
}

async function readPackage(file: string): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  return await readFile(file, "utf8");
}
