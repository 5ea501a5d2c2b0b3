import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { dbLoad, expectReplicasHold, quiesce } from "../../test/support/db-load.js";
import { ClusterClient } from "./cluster-client.js";
import { clusterUp, type StartedNode } from "./cluster-processes.js";
import { keysInit } from "./keys.js";
import { pack } from "./update-package.js";

const NODES = 3;
const IDS = ["r0", "r1", "r2"];
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let cluster: TestCluster | undefined;
const started: StartedNode[] = [];

beforeAll(() => void keysInit(keys, IDS), 120_000);
afterAll(() => rmSync(keys, { recursive: true, force: true }));
afterEach(async () => {
  for (const n of started.splice(0)) n.child.kill("SIGTERM");
  await cluster?.stop();
  cluster = undefined;
});

const exited = (n: StartedNode, ms: number): Promise<number | null> =>
  new Promise((res, rej) => {
    if (n.child.exitCode !== null) return res(n.child.exitCode);
    const t = setTimeout(() => rej(new Error(`node ${n.id} still runs after ${ms} ms`)), ms);
    n.child.once("exit", (code) => {
      clearTimeout(t);
      res(code);
    });
  });

/** r1 started from `file`: how it ended ("exit N"), or why it never answered (a ClusterStartError's text). */
function importAndWait(c: TestCluster, file: string): Promise<string> {
  return clusterUp(c.cluster, { only: ["r1"], args: () => ["--import", file], timeoutMs: 60_000 }).then(
    async ([n]) => {
      if (n !== undefined) started.push(n);
      return n === undefined ? "not started" : `exit ${String(await exited(n, 30_000))}`;
    },
    (e: unknown) => String(e),
  );
}

/** r1's process killed with SIGKILL and its store deleted: the machine is gone. */
function loseMachine(c: TestCluster, id: string): void {
  (c.nodes.find((n) => n.id === id) as StartedNode).child.kill("SIGKILL");
}

describe("a node's record exported, its machine lost, and the node started elsewhere from the record (ctl export, node --import)", () => {
  it("restored from an export taken after its last step: nothing lost, replicas identical, the merged trace clean", async () => {
    cluster = await startDbCluster({ nodes: NODES, keys, store: true, traceFiles: true });
    const c = cluster;
    const client = new ClusterClient(c.cluster, { retry: { attempts: 200, backoffMs: 50, maxBackoffMs: 500 }, requestTimeoutMs: 90_000 });
    try {
      const before = dbLoad(client, NODES, 1, 5, { writers: ["r0", "r2"] });
      await new Promise((r) => setTimeout(r, 400));
      await before.stop();
      await quiesce(client, NODES);
      const file = join(c.dir, "r1.record.json");
      const record = await client.exportRecord("r1");
      writeFileSync(file, JSON.stringify(record));
      expect(record).toMatchObject({ node: "r1", version: "db@1", format: "liveswap-node-record/1" });
      loseMachine(c, "r1");
      await new Promise((r) => setTimeout(r, 200));
      rmSync(join(c.dir, "store", "r1"), { recursive: true, force: true });
      // Writes go on at r0 and r2 meanwhile: what they send r1 waits in their outboxes.
      const during = dbLoad(client, NODES, 2, 5, { writers: ["r0", "r2"], globalReads: false });
      await new Promise((r) => setTimeout(r, 300));
      started.push(...(await clusterUp(c.cluster, { only: ["r1"], args: () => ["--import", file], timeoutMs: 60_000 })));
      await new Promise((r) => setTimeout(r, 300));
      await during.stop();
      await quiesce(client, NODES);
      expect([...before.tally.failed, ...during.tally.failed]).toEqual([]);
      expect(before.tally.nulls).toBe(0);
      const acked = new Map([...before.tally.acked, ...during.tally.acked]);
      expect(await expectReplicasHold(client, IDS, acked)).toEqual([]);
      expect(readFileSync(join(c.dir, ".liveswap-logs", "r1.log"), "utf8")).toMatch(/imported .*r1\.record\.json \(db@1, exported .*\) into /);
      const trace = await client.trace();
      expect(checkTrace(trace, { complete: true }).violations.map((v) => v.message)).toEqual([]);
    } finally {
      client.close();
    }
  }, 240_000);

  it("refuses a record of a version an update retired since: the node stops, saying so", async () => {
    cluster = await startDbCluster({ nodes: NODES, keys, store: true });
    const c = cluster;
    const client = new ClusterClient(c.cluster, { requestTimeoutMs: 30_000 });
    try {
      const file = join(c.dir, "r1.record.json");
      writeFileSync(file, JSON.stringify(await client.exportRecord("r1")));
      const update = JSON.stringify(await pack(resolve(import.meta.dirname, "../scenarios/replicated-db/key-update.ts"), { key: join(keys, "signing.key") }));
      await client.update(update, { strategy: "cut", root: "r0" });
      loseMachine(c, "r1");
      await new Promise((r) => setTimeout(r, 200));
      rmSync(join(c.dir, "store", "r1"), { recursive: true, force: true });
      const old = await importAndWait(c, file);
      expect(old).toMatch(/exit 1|exited \(code 1\)/);
      expect(readFileSync(join(c.dir, ".liveswap-logs", "r1.log"), "utf8")).toMatch(/was started from a record of version db@1, which an update retired here \(this node runs db@2\)/);
    } finally {
      client.close();
    }
  }, 240_000);

  it("refuses a non-empty store and a stale record (the node had applied and acknowledged more since), each saying why", async () => {
    cluster = await startDbCluster({ nodes: NODES, keys, store: true });
    const c = cluster;
    const client = new ClusterClient(c.cluster, { retry: { attempts: 20, backoffMs: 50, maxBackoffMs: 500 }, requestTimeoutMs: 30_000 });
    try {
      const file = join(c.dir, "r1.record.json");
      writeFileSync(file, JSON.stringify(await client.exportRecord("r1")));
      // After the export, r1 applies and acknowledges writes from r0 and r2.
      const after = dbLoad(client, NODES, 3, 5, { writers: ["r0", "r2"], globalReads: false });
      await new Promise((r) => setTimeout(r, 400));
      await after.stop();
      await quiesce(client, NODES);
      loseMachine(c, "r1");
      await new Promise((r) => setTimeout(r, 200));
      const nonEmpty = await clusterUp(c.cluster, { only: ["r1"], args: () => ["--import", file], timeoutMs: 30_000 }).then(
        () => "started",
        (e: unknown) => String(e),
      );
      expect(nonEmpty).toMatch(/already holds a record; a record is imported into an empty store/);
      rmSync(join(c.dir, "store", "r1"), { recursive: true, force: true });
      // Its neighbours refuse it for good: it stops with exit code 1, saying why (while starting, or just after).
      const stale = await importAndWait(c, file);
      expect(stale).toMatch(/exit 1|exited \(code 1\)/);
      expect(readFileSync(join(c.dir, ".liveswap-logs", "r1.log"), "utf8")).toMatch(/refused it for good: node "r1" came back from a record older than what it had made durable/);
      // The others serve on.
      expect(await client.request("r0", { kind: "read", entry: 1 })).toBeTypeOf("string");
    } finally {
      client.close();
    }
  }, 240_000);
});
