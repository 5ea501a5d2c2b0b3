import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { dbLoad, expectReplicasHold, quiesce } from "../../test/support/db-load.js";
import { ClusterClient } from "./cluster-client.js";
import { locationsFile } from "./cluster-locations.js";
import { moveNode } from "./cluster-move.js";
import { spawnSync } from "node:child_process";
import { nodeCommand, type StartedNode } from "./cluster-processes.js";
import { freePort } from "./free-port.js";
import { keysInit } from "./keys.js";

const NODES = 7;
const IDS = Array.from({ length: NODES }, (_, i) => `r${i}`);
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let cluster: TestCluster | undefined;
const extra: StartedNode[] = [];

beforeAll(() => void keysInit(keys, IDS), 120_000);
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
      // The old locations never run again.
      const { cmd, args } = nodeCommand(true);
      const old = spawnSync(cmd, [...args, "node", "--cluster", c.cluster.file, "--id", "r3"], { encoding: "utf8", timeout: 60_000 });
      expect(old.status).not.toBe(0);
      expect(old.stderr + old.stdout).toMatch(/moved to 127\.0\.0\.1:\d+ \(location epoch 1\): its store .* is an old location and does not run again/);
    } finally {
      client.close();
    }
  }, 240_000);

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
