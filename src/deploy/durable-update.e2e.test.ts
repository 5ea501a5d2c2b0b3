import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { Rng } from "../core/rng.js";
import type { Strategy } from "../core/update.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
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

/**
 * Global reads from r0, local reads everywhere, and writes: each entry has one writer node and one write in flight
 * at a time, so the last acknowledged write of an entry is the value every replica must end with.
 */
function workload(client: ClusterClient, seed: number) {
  const rng = new Rng(seed);
  const tally = { globalReads: 0, nulls: 0, failed: [] as string[], acked: new Map<number, string>() };
  const busy = new Set<number>();
  const inflight: Promise<void>[] = [];
  let stop = false;
  let writes = 0;
  const fail = (e: unknown): void => void tally.failed.push(String(e));
  const loop = (async () => {
    while (!stop) {
      const entry = rng.int(0, 37);
      inflight.push(
        client.request("r0", { kind: "global-read", entry }).then((r) => {
          tally.globalReads++;
          if (Object.values(r as Record<string, string | null>).some((v) => v === null)) tally.nulls++;
        }, fail),
      );
      if (!busy.has(entry)) {
        busy.add(entry);
        const value = `w${++writes}`;
        inflight.push(
          client.request(`r${entry % NODES}`, { kind: "write", entry, value }).then(() => {
            tally.acked.set(entry, value);
            busy.delete(entry);
          }, fail),
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    tally,
    async stop() {
      stop = true;
      await loop;
      await Promise.all(inflight);
    },
  };
}

async function quiesce(client: ClusterClient): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { up } = await client.statusAll();
    if (up.length === NODES && up.every((s) => s.openRequests === 0 && s.neighbors.every((n) => n.unacked === 0 && n.connected))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(["conservative", "cut", "rollback"] as Strategy[])("durable nodes over TCP: a node killed with SIGKILL in the middle of a %s update", (strategy) => {
  it("the update waits for it and completes: no null read, replicas identical, every acknowledged write present, merged trace clean", async () => {
    cluster = await startDbCluster({ nodes: NODES, keys, traceFiles: true, store: true });
    const c = cluster;
    // Requests to the killed node are retried under their id until it is back (it answers each once).
    const client = new ClusterClient(c.cluster, { retry: { attempts: 200, backoffMs: 50, maxBackoffMs: 500 }, requestTimeoutMs: 90_000 });
    try {
      const load = workload(client, ["conservative", "cut", "rollback"].indexOf(strategy) + 1);
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
      await quiesce(client);

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
