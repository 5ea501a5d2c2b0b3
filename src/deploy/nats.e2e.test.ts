import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "nats";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { UpdateHaltedError } from "../core/errors.js";
import type { Strategy } from "../core/update.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { expectCleanRun } from "../../test/support/db-clean.js";
import { dbLoad, expectReplicasHold, quiesce } from "../../test/support/db-load.js";
import { natsServerForTests } from "../../test/support/nats-server.js";
import { ClusterClient } from "./cluster-client.js";
import { clusterUp, type NodeEnv, type StartedNode } from "./cluster-processes.js";
import { keysInit } from "./keys.js";
import { pack } from "./update-package.js";

/**
 * The replicated database on 7 OS processes whose every connection (node to node, and the control plane's) rides on
 * NATS (`transport: { kind: nats }`), with mutual TLS over it and durable stores: the 7-node test of the TCP mesh
 * (continuous load, an update from the far end), a node killed with SIGKILL mid-update, and the NATS server itself
 * restarted mid-update. Nothing may be lost, read null or executed twice.
 */
const NODES = 7;
const nats = natsServerForTests();
const missing = nats.missing;
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let signedUpdate = "";
let backOut = "";
let flaky = "";
let names = 0;
let cluster: TestCluster | undefined;
const restarted: StartedNode[] = [];

beforeAll(async () => {
  if (missing !== undefined) return;
  keysInit(keys, Array.from({ length: NODES }, (_, i) => `r${i}`));
  signedUpdate = JSON.stringify(await pack(resolve(import.meta.dirname, "../scenarios/replicated-db/key-update.ts"), { key: join(keys, "signing.key") }));
  backOut = JSON.stringify(await pack(resolve(import.meta.dirname, "../../test/support/db-backout-update.ts"), { key: join(keys, "signing.key") }));
  flaky = JSON.stringify(await pack(resolve(import.meta.dirname, "../../test/support/db-flaky-update.ts"), { key: join(keys, "signing.key") }));
}, 120_000);
afterEach(async () => {
  for (const n of restarted.splice(0)) n.child.kill("SIGTERM");
  await cluster?.stop();
  cluster = undefined;
});

async function start(env?: NodeEnv): Promise<{ readonly c: TestCluster; readonly client: ClusterClient }> {
  const c = await startDbCluster({ nodes: NODES, keys, store: true, traceFiles: true, nats: { url: nats.server().url, name: `e2e${++names}` }, ...(env !== undefined ? { env } : {}) });
  cluster = c;
  // Requests to a node that is down (killed, or NATS restarting) are retried under their id until it answers (once).
  return { c, client: new ClusterClient(c.cluster, { retry: { attempts: 400, backoffMs: 50, maxBackoffMs: 500 }, requestTimeoutMs: 120_000 }) };
}

/** What every run must show once the load stopped (test/support/db-clean.ts). */
function expectClean(client: ClusterClient, load: ReturnType<typeof dbLoad>, report: { readonly nodes: object }, version = "db@2"): Promise<unknown> {
  return expectCleanRun(client, NODES, load.tally, report, version);
}

describe.skipIf(missing !== undefined)(`7 OS processes over NATS${missing !== undefined ? ` (skipped: ${missing})` : ""}`, () => {
  describe.each(["conservative", "cut"] as Strategy[])("the replicated database updated with %s from the far end", (strategy) => {
    it("under continuous load, r3's connections broken mid-update: no null read, every node new, nothing lost or duplicated, trace clean", async () => {
      const { client } = await start();
      try {
        const load = dbLoad(client, NODES, ["conservative", "cut"].indexOf(strategy) + 1);
        await new Promise((r) => setTimeout(r, 300));
        let severed: Promise<unknown> | undefined;
        const report = await client.update(signedUpdate, {
          strategy,
          root: `r${NODES - 1}`,
          onProgress: (p) => {
            if (p.kind === "new") severed ??= client.sever("r3");
          },
        });
        await severed;
        await new Promise((r) => setTimeout(r, 300));
        await load.stop();
        if (strategy === "conservative" || strategy === "cut") expect(report.controlMessages).toBe(2 * (NODES - 1));
        await expectClean(client, load, report);
      } finally {
        client.close();
      }
    }, 240_000);
  });

  it("a node killed with SIGKILL mid-update and started again from its store: the update completes, nothing lost; then a second update (the back-out) from the other end", async () => {
    const { c, client } = await start();
    try {
      const load = dbLoad(client, NODES, 11);
      await new Promise((r) => setTimeout(r, 300));
      let killed: Promise<void> | undefined;
      const report = await client.update(signedUpdate, {
        strategy: "conservative",
        root: `r${NODES - 1}`,
        onProgress: (p) => {
          if (p.kind !== "new" || killed !== undefined) return;
          (c.nodes.find((n) => n.id === "r3") as StartedNode).child.kill("SIGKILL");
          killed = clusterUp(c.cluster, { only: ["r3"], timeoutMs: 90_000 }).then((s) => void restarted.push(...s));
        },
      });
      await killed;
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      await expectClean(client, load, report);
      const trace = await client.trace();
      expect(trace.some((e) => e.kind === "restart" && e.node === "r3")).toBe(true);
      // And then a second update in a row, over the restarted node's links, rooted at the other end.
      const load2 = dbLoad(client, NODES, 21);
      await new Promise((r) => setTimeout(r, 300));
      const back = await client.update(backOut, { strategy: "cut", root: "r0" });
      await new Promise((r) => setTimeout(r, 300));
      await load2.stop();
      await expectClean(client, load2, back, "db@1");
    } finally {
      client.close();
    }
  }, 240_000);

  // The coordinator's sessions ride on NATS too: the root's death must leave the update where its journal has it, and
  // its restarted process (a new life on the same subjects) must pick it up, halted or running.
  it("the root killed with SIGKILL while its update is halted (a transfer threw at r1), then mid-update after the resume: restarted each time, it coordinates on over NATS; nothing lost", async () => {
    // r1 stalls 3 s when the resume reaches it: the root is killed while the resumed update waits for r1.
    const { c, client } = await start((id) => (id === "r1" ? { LIVESWAP_FAILPOINTS: "daemon.resume-received=stall(3000)" } : {}));
    const root = `r${NODES - 1}`;
    const killRoot = async (): Promise<void> => {
      const r = [...restarted, ...c.nodes].find((n) => n.id === root && n.child.exitCode === null && n.child.signalCode === null);
      if (r === undefined) throw new Error(`no process of the root "${root}" is running`);
      const gone = new Promise((res) => r.child.once("exit", res));
      r.child.kill("SIGKILL");
      await gone;
      restarted.push(...(await clusterUp(c.cluster, { only: [root], timeoutMs: 90_000 })));
    };
    try {
      const load = dbLoad(client, NODES, 15);
      await new Promise((r) => setTimeout(r, 300));
      await expect(client.update(flaky, { strategy: "cut", root })).rejects.toThrow(UpdateHaltedError);
      await killRoot();
      await expect(client.watch()).rejects.toThrow(/"r1": .*cannot convert/);
      let killed: Promise<void> | undefined;
      const report = await client.resumeUpdate(signedUpdate, {
        onProgress: (p) => {
          if (p.kind === "new" && p.node !== "r1") killed ??= killRoot();
        },
      });
      await killed;
      expect(killed).toBeDefined();
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      await expectClean(client, load, report);
      // The resumed update completed after the root's second restart: that process finished coordinating it.
      const trace = await client.trace();
      const restarts = trace.flatMap((e, i) => (e.kind === "restart" && e.node === root ? [i] : []));
      expect(restarts).toHaveLength(2);
      expect(trace.findLastIndex((e) => e.kind === "update-end" && e.outcome === "completed")).toBeGreaterThan(restarts[1] as number);
    } finally {
      client.close();
    }
  }, 240_000);

  it("messages to a node that is down wait in the JetStream stream and reach it when it is back: nothing lost; then its link unlinked and linked again, and an update across it", async () => {
    const { c, client } = await start();
    const name = c.cluster.transport?.name as string;
    const nc = await connect({ servers: nats.server().url });
    try {
      const jsm = await nc.jetstreamManager();
      /** Frames in the stream for r3, by channel, not yet acknowledged by it. */
      const waitingFor = async (id: string): Promise<number> => {
        const info = await jsm.streams.info(`LIVESWAP_${name}`, { subjects_filter: `liveswap.${name}.ch.*.${id}.>` });
        return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
      };
      const r3 = c.nodes.find((n) => n.id === "r3") as StartedNode;
      r3.child.kill("SIGKILL");
      await new Promise((r) => r3.child.once("exit", r));
      // Writes on both sides of r3 replicate through it: what its neighbours send it waits in the stream.
      const load = dbLoad(client, NODES, 13, 5, { writers: ["r0", "r1", "r2", "r4", "r5", "r6"], globalReads: false });
      let waiting = 0;
      for (let i = 0; i < 100 && waiting < 20; i++) {
        await new Promise((r) => setTimeout(r, 100));
        waiting = await waitingFor("r3");
      }
      expect(waiting).toBeGreaterThanOrEqual(20);
      restarted.push(...(await clusterUp(c.cluster, { only: ["r3"], timeoutMs: 90_000 })));
      await new Promise((r) => setTimeout(r, 500));
      await load.stop();
      await quiesce(client, NODES);
      expect(load.tally.failed).toEqual([]);
      const { up } = await client.statusAll();
      expect(await expectReplicasHold(client, up.map((s) => s.id), load.tally.acked)).toEqual([]);
      const trace = await client.trace();
      expect(checkTrace(trace, { complete: true }).violations).toEqual([]);
      // r3 acknowledged what it committed: nothing of it is left in the stream.
      let left = -1;
      for (let i = 0; i < 100 && left !== 0; i++) {
        left = await waitingFor("r3");
        if (left !== 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(left).toBe(0);
      // And then the configuration changes over NATS: r3's link to r4 removed and made again (a new incarnation, a
      // new subject), and an update across it under load.
      expect((await client.unlink("r3", "r4")).pending).toEqual([]);
      await client.link("r3", "r4");
      const load2 = dbLoad(client, NODES, 14);
      await new Promise((r) => setTimeout(r, 300));
      const report = await client.update(signedUpdate, { strategy: "conservative", root: "r6" });
      await new Promise((r) => setTimeout(r, 300));
      await load2.stop();
      await expectClean(client, load2, report);
      const links = (await client.statusAll()).up.find((st) => st.id === "r3")?.neighbors.map((n) => n.id);
      expect(links).toEqual(["r2", "r4"]);
    } finally {
      client.close();
      await nc.close();
    }
  }, 240_000);

  it("the NATS server restarted mid-update: every process reconnects, the update completes, nothing lost", async () => {
    const { client } = await start();
    try {
      const load = dbLoad(client, NODES, 12);
      await new Promise((r) => setTimeout(r, 300));
      let bounced: Promise<void> | undefined;
      const report = await client.update(signedUpdate, {
        strategy: "cut",
        root: `r${NODES - 1}`,
        onProgress: (p) => {
          if (p.kind !== "new" || bounced !== undefined) return;
          const s = nats.server();
          bounced = (async () => {
            await s.stop();
            await new Promise((r) => setTimeout(r, 1_000));
            await s.start();
          })();
        },
      });
      await bounced;
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      await expectClean(client, load, report);
      // Every node's links were broken by the restart and made again.
      const { up } = await client.statusAll();
      expect(up.every((s) => s.neighbors.every((n) => n.reconnects >= 1))).toBe(true);
    } finally {
      client.close();
    }
  }, 240_000);
});
