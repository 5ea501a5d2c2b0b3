import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ClusterClient } from "./cluster-client.js";
import { clusterUp, type StartedNode } from "./cluster-processes.js";
import { BusyError } from "./errors.js";
import { startLocalCluster, type LocalCluster } from "./local-cluster.js";
import { childModule } from "../../test/support/child-tree.js";

const pkg = childModule(resolve(import.meta.dirname, "../bench/outbox-flood.ts"));
let cluster: LocalCluster | undefined;
let frozen: StartedNode | undefined;
const extra: StartedNode[] = [];

afterEach(async () => {
  // A stopped process cannot take the SIGTERM that stops it.
  frozen?.child.kill("SIGCONT");
  frozen = undefined;
  for (const n of extra.splice(0)) n.child.kill("SIGTERM");
  await cluster?.stop();
  cluster = undefined;
});

async function until(what: string, test: () => Promise<boolean>, withinMs: number, debug?: () => Promise<unknown>): Promise<void> {
  const end = Date.now() + withinMs;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`not ${what} after ${withinMs} ms${debug === undefined ? "" : `: ${JSON.stringify(await debug())}`}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Counts = Readonly<Record<string, number>>;
const FLOOD = { kind: "flood", n: 500, pad: 200 } as const;

/**
 * a is linked to b and c; b is frozen (SIGSTOP) while a is flooded with requests, each sending 500 messages to b and
 * to c. a's outbox to b fills its socket, then its memory bound, then spills to disk; near the quota, new requests
 * get BusyError while c keeps receiving. After SIGCONT everything reaches b, once, and the merged trace is clean.
 */
async function frozenNeighbour(store: boolean, restartSender = false): Promise<void> {
  const ids = ["a", "b", "c"];
  cluster = await startLocalCluster({
    nodes: ids.map((id) => ({ id, package: pkg, behavior: "flood-1" })),
    links: [["a", "b"], ["a", "c"]],
    trace: "traces",
    outbox: { memoryBytes: 64 * 1024, diskQuotaBytes: 4 * 1024 * 1024 },
    ...(store ? { store: "store" } : {}),
  });
  const client = new ClusterClient(cluster.cluster);
  try {
    let accepted = 1;
    await client.request("a", FLOOD);
    frozen = cluster.nodes.find((n) => n.id === "b");
    frozen?.child.kill("SIGSTOP");
    const acceptedIds: string[] = [];
    // Flood a until it refuses a request (what it refused with), counting what it accepted.
    const floodUntilBusy = async (prefix: string, most: number): Promise<unknown> => {
      for (let i = 0; i < most; i++) {
        const id = `${prefix}-${i}`;
        try {
          await client.request("a", FLOOD, { id });
          accepted++;
          acceptedIds.push(id);
        } catch (e) {
          return e;
        }
      }
      return undefined;
    };
    const busy = await floodUntilBusy("flood", 400);
    expect(busy).toBeInstanceOf(BusyError);
    expect(busy).toMatchObject({ code: "BUSY", node: "a", waitingOn: "b" });
    expect((busy as Error).message).toMatch(/node "a" is busy: its outbox to "b" is backed up .* Retry later/);
    expect((busy as BusyError).spilledBytes).toBeGreaterThanOrEqual(0.75 * 4 * 1024 * 1024);
    // Most of it is b's (c, alive, lags a little behind the flood too, and catches up).
    const st = await client.status("a");
    expect(st.neighbors.find((p) => p.id === "b")?.spilledBytes).toBeGreaterThan(1024 * 1024);
    const spillDir = join(cluster.dir, "store", "a", "outbox-spill");
    if (store) expect(readdirSync(spillDir).length).toBeGreaterThan(0);
    if (restartSender) {
      // a dies with its outbox spilled; its store's record has every unacknowledged frame: the new process rebuilds
      // the outbox from it (the old spill files are deleted at start, the frames spill again past the bound).
      const a = cluster.nodes.find((n) => n.id === "a");
      const gone = new Promise((r) => a?.child.once("exit", r));
      a?.child.kill("SIGKILL");
      await gone;
      const [again] = await clusterUp(cluster.cluster, { only: ["a"], timeoutMs: 30_000 });
      if (again !== undefined) extra.push(again);
      // Every frame b had not acknowledged is back in a's outbox (b, frozen, acknowledged nothing since; an ack that
      // reached a after its last commit is not in the record, so its frame comes back too).
      const rebuilt = (await client.status("a")).neighbors.find((p) => p.id === "b");
      expect(rebuilt?.unacked).toBeGreaterThanOrEqual(st.neighbors.find((p) => p.id === "b")?.unacked ?? Infinity);
      expect(rebuilt?.spilledBytes).toBeGreaterThan(1024 * 1024);
      // And a is busy again once the spill nears the quota: at once when b's share alone was past it, else after
      // a few more requests (c's share, acknowledged meanwhile, is not rebuilt).
      expect(await floodUntilBusy("flood-again", 100)).toBeInstanceOf(BusyError);
    }
    // The retry of a request a accepted is never refused: it gets its recorded answer.
    expect(await client.request("a", FLOOD, { id: acceptedIds.at(-1) as string })).toBe(FLOOD.n);
    // Node-to-node traffic goes on: c got every message of every accepted request while b is frozen.
    await until("delivered to c", async () => ((await client.request("c", { kind: "count" })) as Counts)["a"] === accepted * FLOOD.n, 20_000, async () => [accepted, await client.request("c", { kind: "count" }), (await client.status("a")).neighbors]);
    frozen?.child.kill("SIGCONT");
    frozen = undefined;
    await until("delivered to b", async () => ((await client.request("b", { kind: "count" })) as Counts)["a"] === accepted * FLOOD.n, 30_000);
    // And then: a is not busy any more, its spill is gone, and it serves again.
    await until("unspilled", async () => (await client.status("a")).neighbors.every((p) => p.unacked === 0 && (p.spilledBytes ?? 0) === 0), 10_000);
    expect(await client.request("a", FLOOD)).toBe(FLOOD.n);
    await until("delivered to b again", async () => ((await client.request("b", { kind: "count" })) as Counts)["a"] === (accepted + 1) * FLOOD.n, 10_000);
    const report = await client.check();
    expect(report.violations.map((v) => v.message)).toEqual([]);
  } finally {
    client.close();
  }
  // A stopped node leaves no spill behind.
  await cluster.stop();
  for (const n of extra.splice(0)) await new Promise((r) => (n.child.exitCode !== null ? r(null) : (n.child.once("exit", r), n.child.kill("SIGTERM"))));
  if (store) expect(existsSync(join(cluster.dir, "store", "a", "outbox-spill"))).toBe(false);
}

describe("a frozen neighbour over TCP: bounded outbox, spill, Busy", () => {
  it("volatile nodes: the sender spills, then refuses new requests with BusyError; after SIGCONT nothing is lost", () => frozenNeighbour(false), 60_000);
  it("durable nodes (store:): the same, the spill in the store directory", () => frozenNeighbour(true), 60_000);
  it("durable nodes: the sender killed (SIGKILL) while spilled and started again rebuilds its outbox from its store; nothing lost", () => frozenNeighbour(true, true), 60_000);
});
