import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ClusterClient } from "./cluster-client.js";
import { spawn } from "node:child_process";
import { clusterUp, nodeCommandFor, type StartedNode } from "./cluster-processes.js";
import { startLocalCluster, type LocalCluster } from "./local-cluster.js";
import { childModule } from "../../test/support/child-tree.js";

const pkg = childModule(resolve(import.meta.dirname, "../../test/support/ledger-package.ts"));
let cluster: LocalCluster | undefined;
const extra: StartedNode[] = [];

afterEach(async () => {
  for (const n of extra.splice(0)) n.child.kill("SIGTERM");
  await cluster?.stop();
  cluster = undefined;
});

interface LedgerRead {
  readonly anomalies: readonly string[];
  readonly got: Readonly<Record<string, number>>;
}

/** Until every node's channels are acknowledged (nothing left to resend) or the bound passes. */
async function quiet(client: ClusterClient, ids: readonly string[], withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  for (;;) {
    const st = await Promise.all(ids.map((id) => client.status(id)));
    if (st.every((s) => s.neighbors.every((p) => p.connected && p.unacked === 0))) return;
    if (Date.now() > until) throw new Error(`not quiet after ${withinMs} ms: ${JSON.stringify(st.map((s) => [s.id, s.neighbors]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("durable nodes over TCP (store: in the cluster file)", () => {
  it("a node killed with SIGKILL under load and started again recovers: nothing lost, nothing run twice, the merged trace is clean", async () => {
    const ids = ["a", "b", "c"];
    cluster = await startLocalCluster({ nodes: ids.map((id) => ({ id, package: pkg, behavior: "ledger-v1" })), links: [["a", "b"], ["b", "c"]], store: "store", trace: "traces" });
    const client = new ClusterClient(cluster.cluster);
    try {
      const load = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) await Promise.all([client.request("a", { kind: "burst", count: 3, hops: 5 }), client.request("c", { kind: "burst", count: 3, hops: 5 })]);
      };
      await load(10);
      const b = cluster.nodes.find((n) => n.id === "b");
      b?.child.kill("SIGKILL");
      await load(5); // a and c keep serving; what they send to b waits in their outboxes
      const [again] = await clusterUp(cluster.cluster, { only: ["b"], timeoutMs: 60_000 });
      if (again !== undefined) extra.push(again);
      await load(5);
      await quiet(client, ids, 30_000);
      const reads = (await Promise.all(ids.map((id) => client.request(id, { kind: "read" })))) as LedgerRead[];
      expect(reads.flatMap((r) => r.anomalies)).toEqual([]);
      // Every message a and c sent to b arrived: b's positions equal what a and c numbered.
      expect(reads[1]?.got["a"]).toBeGreaterThan(0);
      const report = await client.check();
      expect(report.violations.map((v) => v.message)).toEqual([]);
    } finally {
      client.close();
    }
  }, 120_000);

  it("a node started on an empty store while its neighbour remembers it is refused (no silent empty replica)", async () => {
    cluster = await startLocalCluster({ nodes: ["a", "b"].map((id) => ({ id, package: pkg, behavior: "ledger-v1" })), links: [["a", "b"]], store: "store" });
    const client = new ClusterClient(cluster.cluster);
    try {
      await client.request("a", { kind: "burst", count: 2, hops: 0 });
      // a remembers b only once they have met: a hello from b's first instance. Under load a's first dial could still
      // be on its way when b was killed, and then nothing remembered b (b rightly served on, and the test failed).
      for (let i = 0; i < 200; i++) {
        if ((await client.status("a")).neighbors.some((p) => p.id === "b" && p.connected)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await client.status("a")).neighbors.find((p) => p.id === "b")?.connected).toBe(true);
      const b = cluster.nodes.find((n) => n.id === "b");
      const gone = new Promise((r) => b?.child.once("exit", r));
      b?.child.kill("SIGKILL");
      await gone;
      rmSync(join(cluster.dir, "store", "b"), { recursive: true, force: true }); // the record is lost
      // Started by hand (no status poll): it must exit on its own, with code 1, once "a" reconnects and remembers it.
      const { cmd, args } = nodeCommandFor(cluster.cluster);
      const child = spawn(cmd, [...args, "node", "--cluster", cluster.cluster.file, "--id", "b"], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      // a's dial loop backs off while b is down; closing a's connections every 2 s until b exits makes it reach the
      // new "b" without waiting for its backoff. (What once looked like a holding its connection to the killed
      // process was a that had never met b's first instance: its first connection was to the new b. The wait above
      // rules that out.)
      void (async () => {
        for (let i = 0; i < 240 && child.exitCode === null && !output.includes("listening on"); i++) await new Promise((r) => setTimeout(r, 250));
        while (child.exitCode === null && child.signalCode === null) {
          await client.sever("a").catch(() => undefined);
          await new Promise((r) => setTimeout(r, 2000));
        }
      })();
      const code = await new Promise<number | null>((r) => {
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          r(null);
        }, 60_000);
        child.once("exit", (c) => {
          clearTimeout(timer);
          r(c);
        });
      });
      const aAlive = cluster.nodes.find((n) => n.id === "a")?.child.exitCode;
      const aStatus = await client.status("a").then((st) => JSON.stringify(st.neighbors), (e: unknown) => String(e));
      expect(code, `${output}\na exit: ${String(aAlive)}; a's channels: ${aStatus}`).toBe(1);
      expect(output).toMatch(/started with an empty store .* its neighbour "a" remembers an earlier instance of it/);
    } finally {
      client.close();
    }
  }, 120_000);
});
