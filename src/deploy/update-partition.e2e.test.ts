import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { startProxiedDbCluster, type ProxiedCluster } from "../../test/support/proxied-cluster.js";
import { dbLoad, expectReplicasHold, quiesce } from "../../test/support/db-load.js";
import { ClusterClient } from "./cluster-client.js";
import { keysInit } from "./keys.js";
import { pack } from "./update-package.js";

/**
 * A node cut from everything (its neighbours and the update's coordinator) for 30 s right after G, by a black hole
 * (test/support/blackhole-proxy.ts: bytes stop both ways, no connection closes). Line r0 - r2 - r1: both of r2's
 * links and every control session to it pass its proxy. The coordinator (root r0) keeps what it sends r2 and waits;
 * heartbeats suspect r2, connections are closed and redialled, and after the heal everything resumes from the
 * positions: the update completes, nothing lost.
 */
const IDS = ["r0", "r1", "r2"];
const LINKS = [["r0", "r2"], ["r2", "r1"]] as const;
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let signedUpdate = "";
let cluster: ProxiedCluster | undefined;

beforeAll(async () => {
  keysInit(keys, IDS);
  signedUpdate = JSON.stringify(await pack(resolve(import.meta.dirname, "../scenarios/replicated-db/key-update.ts"), { key: join(keys, "signing.key") }));
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

describe("a partition of 30 s between a node and everything else, right after G", () => {
  it("the update completes after the heal: every request answered, no null read, every acknowledged write on every replica, trace clean", async () => {
    // r1 stalls 1.5 s before reporting it turned new: the update cannot be over before the cut lands, right after G.
    const env = (id: string): Record<string, string> => (id === "r1" ? { LIVESWAP_FAILPOINTS: "daemon.before-report-swapped=stall(1500)" } : {});
    cluster = await startProxiedDbCluster({ nodes: IDS, links: LINKS, proxied: ["r2"], keys, store: true, env });
    const proxy = cluster.proxies.get("r2");
    if (proxy === undefined) throw new Error("no proxy in front of r2");
    const client = new ClusterClient(cluster.cluster, { retry: { attempts: 1000, backoffMs: 100, maxBackoffMs: 1000 }, requestTimeoutMs: 120_000 });
    try {
      const load = dbLoad(client, IDS.length, 11, 10);
      let healAt = 0;
      try {
        await new Promise((r) => setTimeout(r, 500));
        const { id, root } = await client.submitUpdate(signedUpdate, { strategy: "conservative", root: "r0" });
        // G: the root started the strategy (every node prepared). Cut r2 off at once.
        for (let i = 0; ; i++) {
          const v = await client.updateView(root);
          expect(v?.outcome, "the update ended before the cut").toBeUndefined();
          if (v?.phase === "running") break;
          if (i > 2000) throw new Error("the update never reached G");
          await new Promise((r) => setTimeout(r, 5));
        }
        proxy.blackhole();
        await new Promise((r) => setTimeout(r, 30_000));
        const cut = await client.updateView(root);
        expect(cut?.outcome, "the update completed while r2 was cut off").toBeUndefined();
        expect(cut?.waiting).toContain("r2");
        proxy.heal();
        healAt = Date.now();
        const report = await client.watch({ root, id });
        expect(report.completedAt).toBeGreaterThan(healAt);
        expect(Object.keys(report.nodes).sort()).toEqual([...IDS].sort());
      } finally {
        proxy.heal();
        await load.stop();
      }
      await quiesce(client, IDS.length);
      expect(load.tally.failed).toEqual([]);
      expect(load.tally.nulls).toBe(0);
      const { up } = await client.statusAll();
      expect(up.map((s) => [s.version, s.update])).toEqual(IDS.map(() => ["db@2", null]));
      expect(await expectReplicasHold(client, IDS, load.tally.acked)).toEqual([]);
      expect(checkTrace(await client.trace(), { complete: true }).violations).toEqual([]);
    } finally {
      client.close();
    }
  }, 150_000);
});
