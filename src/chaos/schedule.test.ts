import { describe, expect, it } from "vitest";
import { CONSISTENT_STRATEGIES, drawPlan, FAULT_KINDS, withKillOf } from "./schedule.js";

const nodes = ["r0", "r1", "r2", "r3", "r4"];
const links = nodes.slice(1).map((id, i) => [nodes[i] as string, id] as const);
const opts = { nodes, links, updates: 3, strategies: CONSISTENT_STRATEGIES };

describe("a chaos plan", () => {
  it("is the seed's: the same seed gives the same plan, another seed another", () => {
    expect(drawPlan({ ...opts, seed: 7 })).toEqual(drawPlan({ ...opts, seed: 7 }));
    expect(drawPlan({ ...opts, seed: 7 })).not.toEqual(drawPlan({ ...opts, seed: 8 }));
  });

  it("chains db@1 -> db@2 -> ..., strategies from the list, roots and targets among the nodes, links among the links", () => {
    for (let seed = 1; seed <= 50; seed++) {
      const plan = drawPlan({ ...opts, seed });
      expect(plan.updates.map((u) => u.from)).toEqual([1, 2, 3]);
      for (const u of plan.updates) {
        expect(CONSISTENT_STRATEGIES).toContain(u.strategy);
        expect(nodes).toContain(u.root);
        expect(u.faults.length).toBeLessThanOrEqual(3);
        expect([...u.faults].sort((a, b) => a.atMs - b.atMs)).toEqual(u.faults);
        const processFaults = u.faults.flatMap((f) => (f.kind === "kill" || f.kind === "pause" ? [f.node] : []));
        expect(new Set(processFaults).size).toBe(processFaults.length); // one process fault a node per update
        for (const f of u.faults) {
          expect(FAULT_KINDS).toContain(f.kind);
          if (f.kind === "cut" || f.kind === "delay") expect(links.some(([a, b]) => a === f.a && b === f.b)).toBe(true);
          if (f.kind === "delay") expect(f.maxMs).toBeGreaterThan(f.minMs);
        }
      }
    }
  });

  it("draws every fault kind over a few seeds, and only the kinds asked for", () => {
    const seen = new Set(Array.from({ length: 30 }, (_, i) => drawPlan({ ...opts, seed: i })).flatMap((p) => p.updates.flatMap((u) => u.faults.map((f) => f.kind))));
    expect([...seen].sort()).toEqual([...FAULT_KINDS].sort());
    const only = Array.from({ length: 30 }, (_, i) => drawPlan({ ...opts, seed: i, faults: ["cut"] })).flatMap((p) => p.updates.flatMap((u) => u.faults.map((f) => f.kind)));
    expect(new Set(only)).toEqual(new Set(["cut"]));
    // ctl is killed both before the root took the update (from its start) and while it follows it.
    const ctlKills = Array.from({ length: 30 }, (_, i) => drawPlan({ ...opts, seed: i, faults: ["kill-ctl"] })).flatMap((p) => p.updates.flatMap((u) => u.faults.flatMap((f) => (f.kind === "kill-ctl" ? [f.from] : []))));
    expect(new Set(ctlKills)).toEqual(new Set(["start", "taken"]));
  });

  it("moves nodes before as many different updates as asked (at most one each), from a stream of their own: the updates and faults are the same with or without moves", () => {
    const movedBy = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      const plain = drawPlan({ ...opts, seed });
      const moving = drawPlan({ ...opts, seed, moves: 2 });
      expect(moving.updates.map(({ moveBefore: _m, ...u }) => u)).toEqual(plain.updates);
      expect(plain.updates.filter((u) => u.moveBefore !== undefined)).toEqual([]);
      const moved = moving.updates.flatMap((u) => (u.moveBefore !== undefined ? [u.moveBefore] : []));
      expect(moved).toHaveLength(2);
      for (const n of moved) movedBy.add(n);
      expect(drawPlan({ ...opts, seed, moves: 9 }).updates.every((u) => u.moveBefore !== undefined)).toBe(true);
    }
    expect([...movedBy].sort()).toEqual(nodes);
  });

  it("the broken variant's node is killed in the first update, whatever was drawn", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const plan = withKillOf(drawPlan({ ...opts, seed, faults: ["delay"] }), "r2");
      expect(plan.updates[0]?.faults.filter((f) => f.kind === "kill" && f.node === "r2")).toHaveLength(1);
      expect(plan.updates.slice(1)).toEqual(drawPlan({ ...opts, seed, faults: ["delay"] }).updates.slice(1));
    }
  });
});
