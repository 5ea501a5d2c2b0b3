import { describe, expect, it } from "vitest";
import {
  ForgetRefusedError,
  MoveInterruptedError,
  MoveRefusedError,
  NodeMovingError,
  System,
  UnknownNodeError,
  UpdateHaltedError,
  UpdateInProgressError,
  type TraceEvent,
} from "./index.js";
import { databaseV1, keyFormatUpdate, type DbState } from "./scenarios/replicated-db/db.js";
import { throwsAtSwapIfChanged } from "./harness/faulty-update.js";
import { ledgerUpdate, ledgerV1, type LedgerState } from "./harness/ledger.js";

const IDS = ["r0", "r1", "r2", "r3", "r4", "r5", "r6"];
const ENTRIES = 30;

/** Seven replicas, a ring with two chords (cycles: duplicates of reads and writes are handled). */
function replicatedDb(seed: number, groupCommitMs: number | { min: number; max: number } = 0): System {
  const sys = new System({ seed, groupCommitMs });
  for (const id of IDS) sys.create(id, databaseV1(ENTRIES));
  for (let i = 0; i < IDS.length; i++) sys.link(IDS[i] as string, IDS[(i + 1) % IDS.length] as string);
  sys.link("r0", "r3");
  sys.link("r2", "r5");
  return sys;
}

/**
 * Continuous load until `stop()`: every 2 virtual ms a write of a fresh value (each entry written by one client
 * only, so every acknowledged write must be the entry's final value) and a global read, at nodes in turn.
 */
function load(sys: System) {
  const acked = new Map<number, string>();
  const reads: Promise<Readonly<Record<string, string | null>>>[] = [];
  const writes: Promise<unknown>[] = [];
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const at = IDS[n % IDS.length] as string;
      const entry = n % ENTRIES;
      const value = `w${n}`;
      writes.push(sys.request(at, { kind: "write", entry, value }).then(() => acked.set(entry, value)));
      reads.push(sys.request(IDS[(n + 3) % IDS.length] as string, { kind: "global-read", entry: (n * 7) % ENTRIES }));
      n++;
      await sys.sleep(2);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await Promise.all(writes);
      return { acked, reads: await Promise.all(reads) };
    },
  };
}

/** The invariants of the paper's experiment, after the load stopped and the system settled. */
async function judge(sys: System, result: { acked: Map<number, string>; reads: Readonly<Record<string, string | null>>[] }) {
  await sys.settle();
  const nullReads = result.reads.flatMap((r) => Object.entries(r).filter(([, v]) => v === null));
  const states = IDS.map((id) => (sys.state(id) as DbState).entries);
  const first = JSON.stringify(states[0]);
  const differing = IDS.filter((_, i) => JSON.stringify(states[i]) !== first);
  const values = Object.values(states[0] ?? {}).map((e) => e.value);
  const missing = [...result.acked.values()].filter((v) => !values.includes(v));
  return { nullReads: nullReads.length, differing, missing, violations: sys.check().violations.map((v) => v.message) };
}

const kinds = (trace: readonly TraceEvent[], node: string) => trace.filter((e) => (e.kind === "move" || e.kind === "arrive" || e.kind === "fence") && e.node === node);

describe("move: a node continues at another location, nothing lost (simulated network)", () => {
  it("under continuous load on a 7-node replicated database, three moves, an update between them: no null read, replicas identical, every acknowledged write present, trace clean", async () => {
    for (const groupCommitMs of [0, { min: 0, max: 4 }]) {
      const sys = replicatedDb(5, groupCommitMs);
      const l = load(sys);
      await sys.sleep(15);
      await sys.move("r3", "rack-2");
      expect(sys.location("r3")).toEqual({ at: "rack-2", epoch: 1 });
      await sys.sleep(10);
      // Two moves at once, and the update's root among them.
      await Promise.all([sys.move("r0", "rack-3"), sys.move("r5", "rack-3")]);
      await sys.update(keyFormatUpdate(ENTRIES), { strategy: "cut", root: "r0" });
      await sys.move("r3", "origin");
      await sys.sleep(10);
      const verdict = await judge(sys, await l.stop());
      expect(verdict).toEqual({ nullReads: 0, differing: [], missing: [], violations: [] });
      expect(sys.location("r3")).toEqual({ at: "origin", epoch: 2 });
      expect(IDS.map((id) => sys.version(id))).toEqual(IDS.map(() => "db@2"));
      // The node's two locations are one life: the arrive follows its move, at the same version and epoch.
      const r3 = kinds(sys.trace(), "r3").map((e) => (e.kind === "move" ? `move ${e.from}->${e.to} #${e.locationEpoch}` : e.kind === "arrive" ? `arrive ${e.at} #${e.locationEpoch} ${e.version}` : e.kind));
      expect(r3).toEqual(["move origin->rack-2 #1", "arrive rack-2 #1 db@1", "move rack-2->origin #2", "arrive origin #2 db@2"]);
    }
  });

  it("messages sent to a moving node wait in order, its timers and requests come with it, and the run is deterministic", async () => {
    const run = async () => {
      const sys = new System({ seed: 8, groupCommitMs: 3 });
      for (const id of ["a", "b", "c"]) sys.create(id, ledgerV1);
      sys.link("a", "b");
      sys.link("b", "c");
      const work = [sys.request("a", { kind: "burst", count: 4, hops: 6 }), sys.request("b", { kind: "tick", delay: 6, times: 5 })];
      await sys.sleep(7);
      const moved = sys.move("b", "host-2");
      expect(sys.isMoving("b")).toBe(true);
      expect(sys.isDown("b")).toBe(false);
      const waiting = sys.request("b", { kind: "burst", count: 1, hops: 1 });
      await moved;
      await Promise.all([...work, waiting]);
      await sys.settle();
      const reads = await Promise.all(["a", "b", "c"].map((n) => sys.request<{ anomalies: string[] }>(n, { kind: "read" })));
      expect(reads.flatMap((r) => r.anomalies)).toEqual([]);
      // Five ticks of b, none lost or run twice across the move.
      expect(Object.values((sys.state("b") as LedgerState).ran).every((n) => n === 1)).toBe(true);
      expect(sys.check().violations).toEqual([]);
      return JSON.stringify(sys.trace());
    };
    expect(await run()).toBe(await run());
  });

  it("is refused while an update runs, and allowed while one is halted (the halted update's root moves, then resume finishes it)", async () => {
    const sys = replicatedDb(9);
    const up = keyFormatUpdate(ENTRIES);
    const running = sys.update(up, { strategy: "conservative", root: "r1" });
    await expect(sys.move("r2", "rack-2")).rejects.toThrow(UpdateInProgressError);
    await running;
    const fresh = replicatedDb(9);
    const l = load(fresh);
    // Replay-safe: a node that moves replays its log since prepare, the dry run included (throwsAtSwap counts calls).
    const broken = throwsAtSwapIfChanged([up], "r4")[0];
    if (broken === undefined) throw new Error("no update");
    const err = await fresh.update(broken, { strategy: "cut", root: "r1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpdateHaltedError);
    await fresh.move("r1", "rack-9");
    await fresh.move("r4", "rack-9");
    await fresh.resume(up);
    const verdict = await judge(fresh, await l.stop());
    expect(verdict).toEqual({ nullReads: 0, differing: [], missing: [], violations: [] });
    expect(fresh.location("r4").at).toBe("rack-9");
  });

  it("a crash of the node while it travels interrupts the move: it is down where it was, comes back there fenced, and moves again", async () => {
    const sys = replicatedDb(12, { min: 1, max: 5 });
    const l = load(sys);
    await sys.sleep(9);
    const moving = sys.move("r2", "rack-5");
    sys.crash("r2");
    await expect(moving).rejects.toThrow(MoveInterruptedError);
    await expect(moving).rejects.toThrow(/stays at "origin"/);
    expect(sys.isDown("r2")).toBe(true);
    await sys.sleep(20);
    await sys.restart("r2");
    // Location epoch 1 was the interrupted move's: the node takes 2 where it is, so that move can never land.
    expect(sys.location("r2")).toEqual({ at: "origin", epoch: 2 });
    await sys.move("r2", "rack-5");
    expect(sys.location("r2")).toEqual({ at: "rack-5", epoch: 3 });
    const verdict = await judge(sys, await l.stop());
    expect(verdict).toEqual({ nullReads: 0, differing: [], missing: [], violations: [] });
    expect(kinds(sys.trace(), "r2").map((e) => e.kind)).toEqual(["move", "fence", "move", "arrive"]);
  });

  it("refuses bad moves with errors that name the node and the fix, and what a moving node cannot do", async () => {
    const sys = replicatedDb(2);
    await expect(sys.move("nope", "x")).rejects.toThrow(UnknownNodeError);
    await expect(sys.move("r1", "")).rejects.toThrow(/location label/);
    await expect(sys.move("r1", "origin")).rejects.toThrow(/at "origin" already/);
    const off = new System({ store: false });
    off.create("a", databaseV1(3));
    await expect(off.move("a", "x")).rejects.toThrow(MoveRefusedError);
    const moving = sys.move("r1", "rack-1");
    await expect(sys.move("r1", "rack-2")).rejects.toThrow(NodeMovingError);
    await expect(sys.restart("r1")).rejects.toThrow(NodeMovingError);
    expect(() => sys.destroy("r1")).toThrow(NodeMovingError);
    expect(() => sys.link("r1", "r4")).toThrow(/moving to "rack-1"; await its move\(\)/);
    expect(() => sys.forget("r1")).toThrow(ForgetRefusedError);
    expect(() => sys.state("r1")).toThrow(NodeMovingError);
    expect(sys.version("r1")).toBe("db@1");
    await moving;
    await sys.close();
    const closing = new System();
    closing.create("a", ledgerV1);
    const pending = closing.move("a", "b");
    await closing.close();
    await expect(pending).rejects.toThrow(/closed/);
  });

  it("a move before a rollback update, then every node moves at once: the ledger stays exact", async () => {
    const sys = new System({ seed: 4, groupCommitMs: { min: 0, max: 3 } });
    for (const id of ["a", "b", "c", "d"]) sys.create(id, ledgerV1);
    sys.link("a", "b");
    sys.link("b", "c");
    sys.link("c", "d");
    const work = sys.request("a", { kind: "burst", count: 6, hops: 8 });
    await sys.move("c", "east");
    await sys.update(ledgerUpdate, { strategy: "rollback", root: "b" });
    await Promise.all(["a", "b", "c", "d"].map((n) => sys.move(n, "west")));
    await work;
    await sys.settle();
    const reads = await Promise.all(["a", "b", "c", "d"].map((n) => sys.request<{ anomalies: string[] }>(n, { kind: "read" })));
    expect(reads.flatMap((r) => r.anomalies)).toEqual([]);
    expect(sys.check().violations).toEqual([]);
    expect(["a", "b", "c", "d"].map((n) => sys.location(n).at)).toEqual(["west", "west", "west", "west"]);
  });
});
