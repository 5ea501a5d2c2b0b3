/**
 * A root lost for good mid-update, over real processes: a line r0 - r1 - r2 with a store, the update coordinated by
 * r0; r0 is killed (SIGKILL) once the update is past prepare and its store deleted (lost for good), then the update
 * is taken over at r1 (`ctl takeover --root r1`). It must complete on r1 and r2 with nothing lost between them, the
 * cluster must come out of it, and a second update must then run from the new root. Refusals: a root that still runs,
 * and a node that takes part in no update.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { TakeoverRefusedError } from "../core/errors.js";
import type { Strategy } from "../core/update.js";
import { dbPackagePaths, packDbPackages, until } from "../../test/support/db-packages.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { ClusterClient } from "./cluster-client.js";
import type { StartedNode } from "./cluster-processes.js";

const ids = ["r0", "r1", "r2"];
const live = ["r1", "r2"];
const packages = dbPackagePaths();
const keys = packages.keys;

beforeAll(() => packDbPackages(packages, ids), 120_000);


/** Writes at r1 and r2 while the update runs: each entry's last acknowledged value. */
function writes(client: ClusterClient, seed: number): { readonly acked: Map<number, string>; readonly failed: string[]; stop(): Promise<void> } {
  const acked = new Map<number, string>();
  const failed: string[] = [];
  let stop = false;
  let n = 0;
  const loop = (async () => {
    while (!stop && n < 400) {
      const entry = n % 23;
      const value = `t${seed}-${++n}`;
      await client.request(live[entry % 2] as string, { kind: "write", entry, value }).then(
        () => void acked.set(entry, value),
        (e: unknown) => void failed.push(String(e)),
      );
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    acked,
    failed,
    async stop() {
      stop = true;
      await loop;
    },
  };
}

describe("a root lost for good mid-update is taken over at another node (real processes, store)", () => {
  const cases: readonly Strategy[] = ["cut", "conservative", "snapshot", "rollback"];
  it.each(cases)("%s: r0 killed past prepare and its store gone; taken over at r1: the update completes, nothing lost, a second update runs from r1", async (strategy) => {
    // r2 stalls 1.5 s before reporting it turned new: the update is held past prepare when r0 dies.
    const env = (id: string): Record<string, string> => (id === "r2" ? { LIVESWAP_FAILPOINTS: "daemon.before-report-swapped=stall(1500)@1" } : {});
    const cluster: TestCluster = await startDbCluster({ nodes: 3, keys, traceFiles: true, store: true, env });
    const client = new ClusterClient(cluster.cluster, { retry: { attempts: 100, backoffMs: 50, maxBackoffMs: 300 }, requestTimeoutMs: 60_000 });
    try {
      const load = writes(client, 7);
      await new Promise((r) => setTimeout(r, 200));
      const { id } = await client.submitUpdate(readFileSync(packages.up, "utf8"), { strategy, root: "r0" });
      // Past prepare: some node is new (conservative turns the leaf r2 new first, the others the root r0).
      await until("a node turned new", async () => ((await client.updateView("r0"))?.new.length ?? 0) > 0 || undefined, 20_000);
      const r0 = cluster.nodes.find((n) => n.id === "r0") as StartedNode;
      r0.child.kill("SIGKILL");
      await new Promise<void>((r) => (r0.child.exitCode !== null || r0.child.signalCode !== null ? r() : r0.child.once("exit", () => r())));
      const store = join(cluster.cluster.storeDir as string, "r0");
      rmSync(store, { recursive: true, force: true });
      const view = await client.takeover("r1");
      expect(view.id).toBe(id);
      expect(view.root).toBe("r1");
      const report = await client.watch({ root: "r1", id });
      expect(report.strategy).toBe(strategy);
      expect(report.forgotten).toEqual(["r0"]);
      await load.stop();
      expect(load.failed.filter((f) => !/r0/.test(f))).toEqual([]);
      const { up } = await client.statusAll();
      expect(up.map((s) => [s.id, s.version, s.update, s.neighbors.map((n) => n.id)])).toEqual([
        ["r1", "db@2", null, ["r2"]],
        ["r2", "db@2", null, ["r1"]],
      ]);
      expect(existsSync(store)).toBe(false);
      // Nothing lost between the nodes left: every acknowledged write on both replicas, no null in a global read.
      for (const [entry, value] of load.acked) {
        expect(await Promise.all(live.map((n) => client.request(n, { kind: "read", entry })))).toEqual([value, value]);
      }
      const g = (await client.request("r2", { kind: "global-read", entry: 3 })) as Record<string, unknown>;
      expect(Object.values(g).some((v) => v === null)).toBe(false);
      // And then: a second update, from the new root.
      const back = await client.update(readFileSync(packages.down, "utf8"), { strategy, root: "r1" });
      expect(back.root).toBe("r1");
      const after = await client.statusAll();
      expect(after.up.map((s) => [s.id, s.version, s.update])).toEqual([
        ["r1", "db@1", null],
        ["r2", "db@1", null],
      ]);
      const violations = checkTrace(await client.trace(), { complete: true }).violations;
      expect(violations.map((v) => v.message)).toEqual([]);
    } finally {
      client.close();
      await cluster.stop();
    }
  }, 120_000);

  it("refused: at a node that never took part in an update; while the update's root still runs", async () => {
    // r2 blocks 4 s when the prepare arrives: the update stays in prepare at its root r0, which runs.
    const env = (id: string): Record<string, string> => (id === "r2" ? { LIVESWAP_FAILPOINTS: "daemon.prepare-received=stall(4000)@1" } : {});
    const cluster: TestCluster = await startDbCluster({ nodes: 3, keys, store: true, env });
    const client = new ClusterClient(cluster.cluster);
    try {
      const none = await client.takeover("r1").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((none as { code?: string }).code).toBe(new TakeoverRefusedError("r1", "").code);
      expect((none as Error).message).toMatch(/"r1" never took part in an update/);
      const { id } = await client.submitUpdate(readFileSync(packages.up, "utf8"), { strategy: "cut", root: "r0" });
      await until("r1 prepared", async () => ((await client.status("r1")).update?.id === id ? true : undefined), 20_000);
      const running = await client.takeover("r1").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((running as { code?: string }).code).toBe("TAKEOVER_REFUSED");
      expect((running as Error).message).toMatch(/the root "r0" of update #\d+ is running/);
      // The update goes on at its root as if nothing was asked.
      expect((await client.watch({ root: "r0", id })).strategy).toBe("cut");
    } finally {
      client.close();
      await cluster.stop();
    }
  }, 60_000);
});
