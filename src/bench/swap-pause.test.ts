import { describe, expect, it } from "vitest";
import { measureSwapPause } from "./swap-pause.js";

describe("the swap-pause benchmark (smoke: 2 replicas, 3 updates, real node processes)", () => {
  it("times every swap of every update, in parts that add up to the pause, with the CPU beside it", async () => {
    let updates = 0;
    const f = await measureSwapPause({ entries: 50, nodes: 2, updates: 3, runs: 1, onUpdate: () => updates++ });
    expect(updates).toBe(3);
    expect(f.swapsPerRun).toBe(6);
    const [run] = f.runs;
    expect(run?.swaps.map((s) => s.node).sort()).toEqual(["r0", "r0", "r0", "r1", "r1", "r1"]);
    for (const s of run?.swaps ?? []) {
      const p = s.phases;
      for (const x of [s.pauseMs, s.cpuMs, p.before, p.transfer, p.swap, p.after]) expect(x).toBeGreaterThanOrEqual(0);
      expect(p.before + p.transfer + p.swap + p.after).toBeCloseTo(s.pauseMs, 6);
      // Every update converts the 50 keys: the transfer is never free.
      expect(p.transfer).toBeGreaterThan(0);
    }
    expect(run?.pause.count).toBe(6);
    expect(run?.p99Swap.pauseMs).toBe(run?.pause.p99);
  }, 90_000);
});
