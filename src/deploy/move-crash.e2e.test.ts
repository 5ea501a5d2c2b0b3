import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { StoreLockedError } from "../core/errors.js";
import { clearFailpoints, setFailpoint } from "../core/failpoints.js";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { dbLoad, expectReplicasHold, quiesce } from "../../test/support/db-load.js";
import { ClusterClient } from "./cluster-client.js";
import { readLocations } from "./cluster-locations.js";
import { cancelMove, moveNode } from "./cluster-move.js";
import { clusterUp, type StartedNode } from "./cluster-processes.js";
import { freePort } from "./free-port.js";
import { keysInit } from "./keys.js";
import { openNodeStore } from "./store/open-node-store.js";
import { locationIn } from "./node-location.js";

const IDS = ["r0", "r1", "r2"];
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let cluster: TestCluster | undefined;
const extra: StartedNode[] = [];
const pids: number[] = [];

beforeAll(() => void keysInit(keys, IDS), 120_000);
afterAll(() => rmSync(keys, { recursive: true, force: true }));
afterEach(async () => {
  clearFailpoints();
  delete process.env.LIVESWAP_FAILPOINTS;
  for (const n of extra.splice(0)) n.child.kill("SIGTERM");
  for (const p of pids.splice(0)) kill(p, "SIGTERM");
  await cluster?.stop();
  cluster = undefined;
});

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
/** SIGKILL, then until the process is gone (its store's lock with it: a re-run of the move opens that store). */
async function killed(pid: number): Promise<void> {
  kill(pid, "SIGKILL");
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await pause(50);
  }
  throw new Error(`process ${pid} still runs 10 s after its SIGKILL`);
}
/** The PID `cluster up` (or ctl move) last started for `id`. */
const pidOf = (c: TestCluster, id: string): number => (JSON.parse(readFileSync(join(dirname(c.cluster.file), ".liveswap-cluster.json"), "utf8")) as Record<string, number>)[id] as number;
const source = (c: TestCluster): StartedNode => c.nodes.find((n) => n.id === "r1") as StartedNode;

/**
 * r1 of a line r0 - r1 - r2 moves under load (writes at r0 and r2, global reads from r0) while `interrupt` breaks
 * the move at one step; `recover` then brings back what died and runs the move again (as an operator would).
 */
async function interruptedMove(interrupt: (c: TestCluster, to: string) => Promise<void>, recover: (c: TestCluster, to: string) => Promise<void>, failpoints?: string): Promise<void> {
  const env = (id: string): Record<string, string> => (id === "r1" && failpoints !== undefined ? { LIVESWAP_FAILPOINTS: failpoints } : {});
  cluster = await startDbCluster({ nodes: 3, keys, store: true, traceFiles: true, env });
  const c = cluster;
  const client = new ClusterClient(c.cluster, { retry: { attempts: 400, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 90_000 });
  try {
    const load = dbLoad(client, 3, 11, 5, { writers: ["r0", "r2"] });
    await pause(300);
    const to = `127.0.0.1:${await freePort()}`;
    await interrupt(c, to);
    await pause(200);
    await recover(c, to);
    await pause(300);
    await load.stop();
    const after = new ClusterClient(c.cluster);
    try {
      await quiesce(after, 3);
      // One location: r1 answers at its new address, at location epoch 1, and its old store says it moved.
      const st = await after.status("r1");
      expect(st.location).toEqual({ epoch: 1 });
      expect(readLocations(c.cluster).r1?.address).toBe(to);
      expect(load.tally.failed).toEqual([]);
      expect(load.tally.nulls).toBe(0);
      expect(await expectReplicasHold(after, IDS, load.tally.acked)).toEqual([]);
      const trace = await after.trace();
      expect(checkTrace(trace, { complete: true }).violations.map((v) => v.message)).toEqual([]);
    } finally {
      after.close();
    }
  } finally {
    client.close();
  }
}

async function finishMove(c: TestCluster, to: string): Promise<void> {
  const r = await moveNode(c.cluster, "r1", { to });
  expect(r.done).toBe(true);
  pids.push(pidOf(c, "r1"));
}

/** The old location's store: it moved (or is moving, when it never heard the end), never back to serving. */
async function oldStore(c: TestCluster): Promise<string> {
  // The old process may still be on its way out (it retires, then exits): its store is free once it is gone.
  for (let i = 0; ; i++) {
    try {
      return readOldStore(c);
    } catch (e) {
      if (i >= 50 || !(e instanceof StoreLockedError)) throw e;
      await pause(100);
    }
  }
}

function readOldStore(c: TestCluster): string {
  const store = openNodeStore(join(c.dir, "store", "r1"));
  try {
    const l = locationIn(store.load()?.mark);
    return l.moved !== undefined ? "moved" : l.moving !== undefined ? "moving" : "serving";
  } finally {
    store.close();
  }
}

describe("ctl move interrupted by kill -9 at every step, then run again: the node at one location, nothing lost", () => {
  it("the source killed right after it committed 'moving' (before its record left): it comes back frozen, and the move is finished", async () => {
    await interruptedMove(
      async (c, to) => {
        await expect(moveNode(c.cluster, "r1", { to })).rejects.toThrow();
      },
      async (c, to) => {
        // The failpoint crashed it; started again, it serves nothing (moving), and the move goes on from it.
        extra.push(...(await clusterUp(c.cluster, { only: ["r1"], timeoutMs: 60_000 })));
        await finishMove(c, to);
        expect(await oldStore(c)).toBe("moved");
      },
      "move.after-moving-commit=crash",
    );
  }, 240_000);

  it("the destination killed while it imported the record (before it was in place): the move is run again and imports it again", async () => {
    await interruptedMove(
      async (c, to) => {
        process.env.LIVESWAP_FAILPOINTS = "import.before-rename=crash";
        await expect(moveNode(c.cluster, "r1", { to })).rejects.toThrow(/exited|did not answer/);
        delete process.env.LIVESWAP_FAILPOINTS;
      },
      async (c, to) => {
        // `cluster up` does not start it empty where it goes: it says how to finish the move.
        await expect(clusterUp(c.cluster, { only: ["r1"], timeoutMs: 10_000 })).rejects.toThrow(/"r1".*is moving to 127\.0\.0\.1:\d+ and its record is not there yet .*`ctl move r1 --address 127\.0\.0\.1:\d+`/);
        await finishMove(c, to);
        expect(await oldStore(c)).toBe("moved");
      },
    );
  }, 240_000);

  it("ctl died once the destination ran, and the destination was killed: run again, the destination comes back from its own store", async () => {
    await interruptedMove(
      async (c, to) => {
        setFailpoint("ctl.move-started", { kind: "throw" });
        await expect(moveNode(c.cluster, "r1", { to })).rejects.toThrow(/failpoint/);
        clearFailpoints();
        await killed(pidOf(c, "r1"));
      },
      async (c, to) => {
        await finishMove(c, to);
        expect(await oldStore(c)).toBe("moved");
      },
    );
  }, 240_000);

  it("ctl died once every neighbour was told, and the source was killed: run again, it finishes; the old source, started again, retires itself", async () => {
    await interruptedMove(
      async (c, to) => {
        setFailpoint("ctl.move-relocated", { kind: "throw" });
        await expect(moveNode(c.cluster, "r1", { to })).rejects.toThrow(/failpoint/);
        clearFailpoints();
        pids.push(pidOf(c, "r1"));
        await killed(source(c).pid);
      },
      async (c, to) => {
        await finishMove(c, to);
        // Killed before or after a neighbour that knew the new location told it (then it retired itself).
        expect(["moving", "moved"]).toContain(await oldStore(c));
        // Started again on its old store it serves nothing, and the first neighbour that knows the new location
        // tells it: it retires (its store says so) and exits.
        const [old] = await clusterUp(c.cluster, { only: ["r1"], moving: true, timeoutMs: 60_000 }).catch(() => [undefined]);
        if (old !== undefined) {
          extra.push(old);
          await new Promise<void>((res) => (old.child.exitCode !== null ? res() : old.child.once("exit", () => res())));
        }
        await pause(200);
        expect(await oldStore(c)).toBe("moved");
      },
    );
  }, 240_000);

  it("a move given up (ctl move --cancel) when its destination never came up: the node serves where it was, under location epoch 2, nothing lost", async () => {
    cluster = await startDbCluster({ nodes: 3, keys, store: true, traceFiles: true });
    const c = cluster;
    const client = new ClusterClient(c.cluster, { retry: { attempts: 400, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 90_000 });
    try {
      const load = dbLoad(client, 3, 13, 5, { writers: ["r0", "r2"] });
      await pause(300);
      process.env.LIVESWAP_FAILPOINTS = "import.before-rename=crash";
      await expect(moveNode(c.cluster, "r1", { to: `127.0.0.1:${await freePort()}` })).rejects.toThrow(/exited|did not answer/);
      delete process.env.LIVESWAP_FAILPOINTS;
      const cancelled = await cancelMove(c.cluster, "r1");
      if (cancelled.started !== undefined) extra.push(cancelled.started);
      expect(cancelled.locationEpoch).toBe(2);
      await expect(cancelMove(c.cluster, "r1")).rejects.toThrow(/move of "r1" was refused: it is not moving/);
      await pause(300);
      await load.stop();
      const after = new ClusterClient(c.cluster);
      try {
        await quiesce(after, 3);
        expect((await after.status("r1")).location).toEqual({ epoch: 2 });
        expect(load.tally.failed).toEqual([]);
        expect(await expectReplicasHold(after, IDS, load.tally.acked)).toEqual([]);
        expect(checkTrace(await after.trace(), { complete: true }).violations.map((v) => v.message)).toEqual([]);
      } finally {
        after.close();
      }
    } finally {
      client.close();
    }
  }, 240_000);

  it("the destination killed with SIGKILL after the move: started again where it went, it recovers from its store", async () => {
    await interruptedMove(
      async (c, to) => {
        await finishMove(c, to);
      },
      async (c, to) => {
        await killed(pidOf(c, "r1"));
        const store = readLocations(c.cluster).r1?.store as string;
        const cl = { ...c.cluster, storeDir: store, nodes: c.cluster.nodes.map((n) => (n.id === "r1" ? { ...n, address: to } : n)) };
        extra.push(...(await clusterUp(cl, { only: ["r1"], moving: true, args: () => ["--address", to, "--store", store], timeoutMs: 60_000 })));
      },
    );
  }, 240_000);
});
