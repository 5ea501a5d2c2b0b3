import { describe, expect, it } from "vitest";
import { NodeDownError, NodeNotDownError, PartitionError, System, UnknownNodeError } from "./index.js";
import { ledgerUpdate, ledgerV1, type LedgerState } from "./harness/ledger.js";

function line3(sys: System): void {
  for (const id of ["a", "b", "c"]) sys.create(id, ledgerV1);
  sys.link("a", "b");
  sys.link("b", "c");
}

async function anomalies(sys: System): Promise<string[]> {
  const reads = await Promise.all(["a", "b", "c"].map((n) => sys.request<{ anomalies: string[] }>(n, { kind: "read" })));
  return reads.flatMap((r) => r.anomalies);
}

describe("crash, restart, partition, heal (durable nodes in the simulator)", () => {
  it("a crash loses nothing committed: messages to the crashed node wait, its timers come back, requests to it are answered after restart", async () => {
    for (const groupCommitMs of [0, 5]) {
      const sys = new System({ seed: 11, groupCommitMs });
      line3(sys);
      const load = [sys.request("a", { kind: "burst", count: 4, hops: 6 }), sys.request("b", { kind: "tick", delay: 6, times: 5 })];
      await sys.sleep(9);
      sys.crash("b");
      expect(() => sys.state("b")).toThrow(NodeDownError);
      expect(sys.version("b")).toBe("ledger@1");
      const waiting = sys.request("b", { kind: "burst", count: 1, hops: 1 });
      await sys.sleep(30);
      await sys.restart("b");
      await Promise.all([...load, waiting]);
      await sys.settle();
      expect(await anomalies(sys)).toEqual([]);
      // Five ticks of b survive the crash: each sends to both neighbours once.
      const state = sys.state("b") as LedgerState;
      expect(Object.values(state.ran).every((n) => n === 1)).toBe(true);
      expect(sys.check().violations).toEqual([]);
      const kinds = sys.trace().map((e) => e.kind);
      expect(kinds).toContain("crash");
      expect(kinds).toContain("restart");
    }
  });

  it("an update waits for a node crashed in the middle of it and completes after its restart, for every strategy", async () => {
    for (const strategy of ["conservative", "rollback", "snapshot", "cut"] as const) {
      for (const at of [0, 2, 5, 9]) {
        const sys = new System({ seed: 3 + at, groupCommitMs: { min: 0, max: 4 } });
        line3(sys);
        const load = sys.request("a", { kind: "burst", count: 3, hops: 6 });
        const update = sys.update(ledgerUpdate, { strategy, root: "a" });
        await sys.sleep(at);
        if (sys.updating()) sys.crash("b");
        await sys.sleep(25);
        if (sys.isDown("b")) await sys.restart("b");
        await update;
        await load;
        await sys.settle();
        expect(sys.version("b")).toBe("ledger@2");
        expect(await anomalies(sys)).toEqual([]);
        expect(sys.check().violations.map((v) => `${strategy}@${at}: ${v.message}`)).toEqual([]);
      }
    }
  });

  it("a partition delays a link's messages and loses none; heal delivers them in order", async () => {
    const sys = new System({ seed: 5 });
    line3(sys);
    sys.partition("a", "b");
    const load = sys.request("a", { kind: "burst", count: 5, hops: 3 });
    await sys.sleep(50);
    const blocked = (sys.state("b") as LedgerState).got["a"];
    expect(blocked).toBeUndefined();
    sys.heal("a", "b");
    await load;
    await sys.settle();
    expect((sys.state("b") as LedgerState).got["a"]).toBeGreaterThanOrEqual(5);
    expect(await anomalies(sys)).toEqual([]);
    expect(sys.check().ok).toBe(true);
  });

  it("a node still crashed when the run ends breaks termination; bad fault commands are refused with clear errors", async () => {
    const sys = new System({ seed: 1 });
    line3(sys);
    sys.crash("c");
    expect(() => sys.crash("c")).toThrow(NodeDownError);
    expect(() => sys.crash("z")).toThrow(UnknownNodeError);
    await expect(sys.restart("a")).rejects.toThrow(NodeNotDownError);
    expect(() => sys.link("a", "c")).toThrow(NodeDownError);
    expect(() => sys.heal("a", "b")).toThrow(PartitionError);
    sys.partition("a", "b");
    expect(() => sys.partition("b", "a")).toThrow(PartitionError);
    sys.heal("b", "a");
    await sys.settle();
    const report = sys.check();
    expect(report.violations.map((v) => v.invariant)).toEqual(["termination"]);
    expect(report.violations[0]?.message).toMatch(/"c".*crashed and never restarted/);
  });
});
