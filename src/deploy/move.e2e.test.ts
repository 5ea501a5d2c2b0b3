import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadClusterFile } from "./cluster-file.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { dbLoad, expectReplicasHold, quiesce } from "../../test/support/db-load.js";
import { UpdateHaltedError } from "../core/errors.js";
import { ClusterClient } from "./cluster-client.js";
import { locationsFile } from "./cluster-locations.js";
import { moveNode } from "./cluster-move.js";
import { spawnSync } from "node:child_process";
import { clusterUp, nodeCommandFor, type StartedNode } from "./cluster-processes.js";
import { freePort } from "./free-port.js";
import { dbPackagePaths, packDbPackages } from "../../test/support/db-packages.js";

const NODES = 7;
const IDS = Array.from({ length: NODES }, (_, i) => `r${i}`);
const packages = dbPackagePaths();
const keys = packages.keys;
let cluster: TestCluster | undefined;
const extra: StartedNode[] = [];

beforeAll(() => packDbPackages(packages, IDS, ["up", "down", "flaky"]), 120_000);
afterAll(() => rmSync(keys, { recursive: true, force: true }));
afterEach(async () => {
  for (const n of extra.splice(0)) n.child.kill("SIGTERM");
  await cluster?.stop();
  cluster = undefined;
});

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("ctl move over TCP: a running node continues at another address, nothing lost", () => {
  it("under continuous load on 7 replicas (global reads, writes to every node), moved twice: no null read, no failed request, replicas identical, every acknowledged write present, merged trace clean", async () => {
    cluster = await startDbCluster({ nodes: NODES, keys, store: true, traceFiles: true, ring: true });
    const c = cluster;
    const client = new ClusterClient(c.cluster, { retry: { attempts: 400, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 90_000 });
    try {
      const load = dbLoad(client, NODES, 7);
      await pause(400);
      const first = await moveNode(c.cluster, "r3", { to: `127.0.0.1:${await freePort()}` });
      if (first.started !== undefined) extra.push(first.started);
      await pause(300);
      const second = await moveNode(c.cluster, "r3", { to: `127.0.0.1:${await freePort()}` });
      if (second.started !== undefined) extra.push(second.started);
      await pause(300);
      await load.stop();
      await quiesce(client, NODES);
      expect(load.tally.failed).toEqual([]);
      expect(load.tally.nulls).toBe(0);
      expect(load.tally.globalReads).toBeGreaterThan(20);
      expect(await expectReplicasHold(client, IDS, load.tally.acked)).toEqual([]);
      const st = await client.status("r3");
      expect(st.location).toEqual({ epoch: 2 });
      expect(JSON.parse(readFileSync(locationsFile(c.cluster), "utf8")).r3).toMatchObject({ address: second.to, locationEpoch: 2 });
      const trace = await client.trace();
      const r3 = trace.filter((e) => (e.kind === "move" || e.kind === "arrive") && e.node === "r3").map((e) => e.kind);
      expect(r3).toEqual(["move", "arrive", "move", "arrive"]);
      expect(checkTrace(trace, { complete: true }).violations.map((v) => v.message)).toEqual([]);
      // Killed where it went, `cluster up` starts it there again (address and store from the address book).
      if (second.started !== undefined) {
        const gone = new Promise((r) => second.started?.child.once("exit", r));
        second.started.child.kill("SIGKILL");
        await gone;
      }
      extra.push(...(await clusterUp(c.cluster, { only: ["r3"], timeoutMs: 60_000 })));
      expect((await client.status("r3")).location?.epoch).toBe(2);
      expect(await expectReplicasHold(client, IDS, load.tally.acked)).toEqual([]);
      // The old locations never run again.
      const { cmd, args } = nodeCommandFor(c.cluster);
      const old = spawnSync(cmd, [...args, "node", "--cluster", c.cluster.file, "--id", "r3"], { encoding: "utf8", timeout: 60_000 });
      expect(old.status).not.toBe(0);
      expect(old.stderr + old.stdout).toMatch(/moved to 127\.0\.0\.1:\d+ \(location epoch 1\): its store .* is an old location and does not run again/);
    } finally {
      client.close();
    }
  }, 240_000);

  it("found through its neighbours by clients without ctl's address book (ctl and the root on other machines): an update rooted at the moved node right after its move, a second move, a second update rooted elsewhere, under load: nothing lost", async () => {
    cluster = await startDbCluster({ nodes: 5, keys, store: true, traceFiles: true, ring: true });
    const c = cluster;
    const forgetBook = (): void => rmSync(locationsFile(c.cluster), { force: true });
    const clients: ClusterClient[] = [];
    // A client made now knows no more than the cluster file, the address book if any, and what the nodes say.
    const fresh = (): ClusterClient => {
      const client = new ClusterClient(c.cluster, { retry: { attempts: 400, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 90_000 });
      clients.push(client);
      return client;
    };
    const load = dbLoad(fresh(), 5, 11);
    // A long-lived client on "another machine": the cluster file copied where no address book ever is, its sessions
    // open before the moves (it must find r2 through the nodes it talks to).
    const elsewhere = mkdtempSync(join(tmpdir(), "liveswap-elsewhere-"));
    writeFileSync(join(elsewhere, "cluster.yaml"), readFileSync(c.cluster.file));
    const far = new ClusterClient(loadClusterFile(join(elsewhere, "cluster.yaml")), { retry: { attempts: 400, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 90_000 });
    clients.push(far);
    try {
      await pause(300);
      expect((await far.statusAll()).up).toHaveLength(5);
      const first = await moveNode(c.cluster, "r2", { to: `127.0.0.1:${await freePort()}` });
      if (first.started !== undefined) extra.push(first.started);
      forgetBook();
      expect(await far.request("r2", { kind: "read", entry: 1 })).not.toBeNull();
      expect((await far.status("r2")).location?.epoch).toBe(1);
      const { up } = await fresh().statusAll();
      expect(up.map((s) => s.id).sort()).toEqual(["r0", "r1", "r2", "r3", "r4"]);
      const up1 = await fresh().update(readFileSync(packages.up, "utf8"), { strategy: "cut", root: "r2" });
      expect(Object.keys(up1.nodes)).toHaveLength(5);
      // A second move by a ctl without the book: it finds r2 where it went, and moves it on.
      const second = await moveNode(c.cluster, "r2", { to: `127.0.0.1:${await freePort()}` });
      if (second.started !== undefined) extra.push(second.started);
      expect(second.from).toBe(first.to);
      forgetBook();
      expect(await far.request("r2", { kind: "read", entry: 2 })).not.toBeNull();
      expect((await far.status("r2")).location?.epoch).toBe(2);
      const down = await fresh().update(readFileSync(packages.down, "utf8"), { strategy: "conservative", root: "r0" });
      expect(Object.keys(down.nodes)).toHaveLength(5);
      await pause(300);
      await load.stop();
      const client = fresh();
      await quiesce(client, 5);
      expect(load.tally.failed).toEqual([]);
      expect(load.tally.nulls).toBe(0);
      expect(await expectReplicasHold(client, IDS.slice(0, 5), load.tally.acked)).toEqual([]);
      const st = await client.statusAll();
      expect(st.up.map((s) => [s.id, s.version])).toEqual(IDS.slice(0, 5).map((id) => [id, "db@1"]));
      expect(st.up.find((s) => s.id === "r2")?.location?.epoch).toBe(2);
      const trace = await client.trace();
      expect(trace.filter((e) => (e.kind === "move" || e.kind === "arrive") && e.node === "r2").map((e) => e.kind)).toEqual(["move", "arrive", "move", "arrive"]);
      expect(checkTrace(trace, { complete: true }).violations.map((v) => v.message)).toEqual([]);
    } finally {
      for (const client of clients) client.close();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  }, 300_000);

  it("a halted update does not block a move (draining a host stays possible): the halted node and a node already new move under load, the root is refused, the resume and a back-out complete: nothing lost", async () => {
    cluster = await startDbCluster({ nodes: 5, keys, store: true, traceFiles: true, ring: true });
    const c = cluster;
    const client = new ClusterClient(c.cluster, { retry: { attempts: 400, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 90_000 });
    try {
      const load = dbLoad(client, 5, 12);
      await pause(300);
      const halted = await client.update(readFileSync(packages.flaky, "utf8"), { strategy: "cut", root: "r2" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(halted).toBeInstanceOf(UpdateHaltedError);
      await expect(moveNode(c.cluster, "r2", { to: `127.0.0.1:${await freePort()}` })).rejects.toThrow(/move of "r2" was refused: it is the root of update #\d+ \(halted\)/);
      for (const id of ["r1", "r3"]) {
        const moved = await moveNode(c.cluster, id, { to: `127.0.0.1:${await freePort()}` });
        if (moved.started !== undefined) extra.push(moved.started);
      }
      const report = await client.resumeUpdate(readFileSync(packages.up, "utf8"));
      expect(Object.keys(report.nodes).sort()).toEqual(IDS.slice(0, 5));
      await client.update(readFileSync(packages.down, "utf8"), { strategy: "conservative", root: "r1" });
      await pause(300);
      await load.stop();
      await quiesce(client, 5);
      expect(load.tally.failed).toEqual([]);
      expect(load.tally.nulls).toBe(0);
      expect(await expectReplicasHold(client, IDS.slice(0, 5), load.tally.acked)).toEqual([]);
      const { up } = await client.statusAll();
      expect(up.map((s) => [s.id, s.version, s.update, s.location?.epoch])).toEqual(IDS.slice(0, 5).map((id) => [id, "db@1", null, id === "r1" || id === "r3" ? 1 : 0]));
      const trace = await client.trace();
      expect(trace.filter((e) => e.kind === "arrive").map((e) => e.node).sort()).toEqual(["r1", "r3"]);
      expect(checkTrace(trace, { complete: true }).violations.map((v) => v.message)).toEqual([]);
    } finally {
      client.close();
    }
  }, 300_000);

  it("is refused while a neighbour does not answer, naming it; and for an address the node is at", async () => {
    cluster = await startDbCluster({ nodes: 3, keys, store: true });
    const c = cluster;
    (c.nodes.find((n) => n.id === "r2") as StartedNode).child.kill("SIGKILL");
    await pause(200);
    await expect(moveNode(c.cluster, "r1", { to: `127.0.0.1:${await freePort()}` })).rejects.toThrow(/move of "r1" was refused: its neighbour\(s\) "r2" do not answer/);
    const here = c.cluster.nodes.find((n) => n.id === "r0")?.address as string;
    await expect(moveNode(c.cluster, "r0", { to: here })).rejects.toThrow(/move of "r0" was refused: it is at .* already/);
    expect(existsSync(locationsFile(c.cluster))).toBe(false);
  }, 120_000);
});
