import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ClusterClient } from "./cluster-client.js";
import { clusterUp, nodeCommand, type StartedNode } from "./cluster-processes.js";
import { startLocalCluster, type LocalCluster } from "./local-cluster.js";
import { segmentDir } from "./node-trace.js";
import { childModule } from "../../test/support/child-tree.js";

const pkg = childModule(resolve(import.meta.dirname, "../../test/support/big-answer-package.ts"));
/** The nodes' frame limit in these tests (LIVESWAP_MAX_FRAME_BYTES): small, so a trace passes it many times over quickly. */
const FRAME = 16384;
let cluster: LocalCluster | undefined;
const extra: StartedNode[] = [];

afterEach(async () => {
  for (const n of extra.splice(0)) n.child.kill("SIGTERM");
  await cluster?.stop();
  cluster = undefined;
});

async function load(client: ClusterClient, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.all([client.request("a", { kind: "burst", count: 3, hops: 4 }), client.request("b", { kind: "burst", count: 3, hops: 4 })]);
}

/** Until both nodes' channels are acknowledged, within a bound. */
async function quiet(client: ClusterClient, withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  for (;;) {
    const st = await Promise.all(["a", "b"].map((id) => client.status(id)));
    if (st.every((s) => s.neighbors.every((p) => p.connected && p.unacked === 0))) return;
    if (Date.now() > until) throw new Error(`not quiet after ${withinMs} ms: ${JSON.stringify(st.map((s) => [s.id, s.neighbors]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("ctl trace streams a node's trace; a reply over the frame limit fails its command, not the node", () => {
  it("a trace many times the frame limit arrives whole, and an answer over the limit is refused while the node goes on", async () => {
    cluster = await startLocalCluster({ nodes: ["a", "b"].map((id) => ({ id, package: pkg, behavior: "ledger-big" })), links: [["a", "b"]], env: { LIVESWAP_MAX_FRAME_BYTES: String(FRAME) } });
    const client = new ClusterClient(cluster.cluster);
    try {
      await load(client, 60);
      await quiet(client, 30_000);
      const { events, horizon } = await client.traceFromHorizon();
      // In memory (no trace directory) and far over one frame: before streaming, this reply alone took a node down.
      expect(JSON.stringify(events).length).toBeGreaterThan(8 * FRAME);
      expect(horizon).toBeUndefined();
      const sends = events.filter((e) => e.kind === "send").length;
      expect(sends).toBeGreaterThan(500);
      expect(events.filter((e) => e.kind === "deliver").length).toBe(sends);
      expect((await client.check()).violations).toEqual([]);

      // An answer over the limit: that one request fails, saying why; the node and the connection go on.
      await expect(client.request("a", { kind: "big", chars: 4 * FRAME })).rejects.toThrow(new RegExp(`the answer to this command would take a frame of \\d+ bytes, over the ${FRAME}-byte frame limit`));
      expect(cluster.nodes[0]?.child.exitCode).toBeNull();
      expect(await client.request("a", { kind: "big", chars: 100 })).toBe("x".repeat(100));
      await load(client, 5);
      await quiet(client, 30_000);
      expect((await client.status("a")).neighbors[0]?.connected).toBe(true);
      expect((await client.trace()).length).toBeGreaterThan(events.length);
    } finally {
      client.close();
    }
  }, 90_000);

  it("durable nodes with a small retention: disk stays within it, a node killed mid-load recovers across rotated segments, and ctl trace checks from the horizon and says so", async () => {
    const retention = { segmentBytes: 4096, maxBytes: 32768 };
    cluster = await startLocalCluster({
      nodes: ["a", "b"].map((id) => ({ id, package: pkg, behavior: "ledger-big" })),
      links: [["a", "b"]],
      store: "store",
      trace: "traces",
      traceRetention: retention,
      env: { LIVESWAP_MAX_FRAME_BYTES: String(FRAME) },
    });
    const client = new ClusterClient(cluster.cluster);
    const traces = join(cluster.dir, "traces");
    const onDisk = (id: string): number => readdirSync(segmentDir(traces, id)).filter((f) => f.endsWith(".ndjson")).reduce((s, f) => s + statSync(join(segmentDir(traces, id), f)).size, 0);
    try {
      await load(client, 40);
      const b = cluster.nodes.find((n) => n.id === "b");
      b?.child.kill("SIGKILL");
      await new Promise<void>((r) => b?.child.once("exit", () => r()));
      await Promise.all(Array.from({ length: 10 }, () => client.request("a", { kind: "burst", count: 3, hops: 4 })));
      const [again] = await clusterUp(cluster.cluster, { only: ["b"], timeoutMs: 60_000 });
      if (again !== undefined) extra.push(again);
      await load(client, 40);
      await quiet(client, 30_000);
      for (const id of ["a", "b"]) expect(onDisk(id)).toBeLessThanOrEqual(retention.maxBytes);
      const reads = (await Promise.all(["a", "b"].map((id) => client.request(id, { kind: "read" })))) as { anomalies: string[] }[];
      expect(reads.flatMap((r) => r.anomalies)).toEqual([]);

      const { events, horizon } = await client.traceFromHorizon();
      expect(horizon?.dropped.map((d) => d.node).sort()).toEqual(["a", "b"]);
      expect(horizon?.dropped.every((d) => d.droppedEvents > 0 && d.droppedSegments > 0)).toBe(true);
      expect(events.length).toBeGreaterThan(100);
      const report = await client.check();
      expect(report.violations.map((v) => v.message)).toEqual([]);
      expect(report.beforeHorizon).toBeDefined(); // checked from the horizon, counting what began before it

      // The CLI says where its check starts and what it left out.
      const { cmd, args } = nodeCommand();
      const out = spawnSync(cmd, [...args, "ctl", "--cluster", cluster.cluster.file, "trace"], { encoding: "utf8", timeout: 60_000 });
      expect(out.stdout).toMatch(/^\d+ events; 0 violation\(s\)\ntrace retention: "a" dropped \d+ events \(\d+ segments, \d+ bytes\); "b" dropped .* Checked from the horizon at Lamport time \d+, where every node's trace is complete; \d+ retained events before it left out\n {2}begun before the horizon, not judged: \d+ message\(s\), \d+ update\(s\)/);
      expect(out.status).toBe(0);
    } finally {
      client.close();
    }
  }, 120_000);
});
