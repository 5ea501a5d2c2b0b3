import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import type { Strategy } from "../core/update.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { dbLoad, quiesce } from "../../test/support/db-load.js";
import { ClusterClient } from "./cluster-client.js";
import { clusterUp, type StartedNode } from "./cluster-processes.js";
import { keysInit } from "./keys.js";
import { pack } from "./update-package.js";

const NODES = 5;
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let signedUpdate = "";
let cluster: TestCluster | undefined;
const restarted: StartedNode[] = [];

beforeAll(async () => {
  keysInit(keys, Array.from({ length: NODES }, (_, i) => `r${i}`));
  signedUpdate = JSON.stringify(await pack(resolve(import.meta.dirname, "../scenarios/replicated-db/key-update.ts"), { key: join(keys, "signing.key") }));
}, 120_000);

afterEach(async () => {
  for (const n of restarted.splice(0)) n.child.kill("SIGTERM");
  await cluster?.stop();
  cluster = undefined;
});

describe.each(["conservative", "cut", "rollback"] as Strategy[])("durable nodes over TCP: a node killed with SIGKILL in the middle of a %s update", (strategy) => {
  it("the update waits for it and completes: no null read, replicas identical, every acknowledged write present, merged trace clean", async () => {
    cluster = await startDbCluster({ nodes: NODES, keys, traceFiles: true, store: true });
    const c = cluster;
    // Requests to the killed node are retried under their id until it is back (it answers each once).
    const client = new ClusterClient(c.cluster, { retry: { attempts: 200, backoffMs: 50, maxBackoffMs: 500 }, requestTimeoutMs: 90_000 });
    try {
      const load = dbLoad(client, NODES, ["conservative", "cut", "rollback"].indexOf(strategy) + 1);
      await new Promise((r) => setTimeout(r, 300));
      let killed: Promise<void> | undefined;
      const report = await client.update(signedUpdate, {
        strategy,
        root: `r${NODES - 1}`,
        onProgress: (p) => {
          if (p.kind !== "new" || killed !== undefined) return;
          // Mid-update: r2 dies at once (no commit, no goodbye) and is started again from its store.
          (c.nodes.find((n) => n.id === "r2") as StartedNode).child.kill("SIGKILL");
          killed = clusterUp(c.cluster, { only: ["r2"], timeoutMs: 90_000 }).then((s) => void restarted.push(...s));
        },
      });
      await killed;
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      await quiesce(client, NODES);

      expect(load.tally.failed).toEqual([]);
      expect(load.tally.nulls).toBe(0);
      expect(Object.keys(report.nodes)).toHaveLength(NODES);
      const { up } = await client.statusAll();
      expect(up.map((s) => s.version)).toEqual(Array(NODES).fill("db@2"));
      // Every replica holds every entry's last acknowledged write (v2 reads take entry numbers as v1 did).
      for (const [entry, value] of load.tally.acked) {
        const seen = await Promise.all(up.map((s) => client.request(s.id, { kind: "read", entry })));
        expect(seen, `entry ${entry}`).toEqual(Array(NODES).fill(value));
      }
      const trace = await client.trace();
      expect(trace.some((e) => e.kind === "restart" && e.node === "r2")).toBe(true);
      expect(checkTrace(trace, { complete: true }).violations).toEqual([]);
    } finally {
      client.close();
    }
  }, 240_000);
});
