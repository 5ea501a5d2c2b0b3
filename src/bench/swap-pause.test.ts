import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { measureSwapPause } from "./swap-pause.js";

/** This process's CPUs as Linux lists them ("0-1"), or undefined off Linux. */
const cpusAllowed = (): string | undefined => {
  try {
    return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  } catch {
    return undefined;
  }
};

describe("the swap-pause benchmark (smoke: 2 replicas, 3 updates, real node processes)", () => {
  it("times every swap of the measured node, in parts that add up to the pause, with the CPU beside it; the others' beside", async () => {
    let updates = 0;
    const before = cpusAllowed();
    const f = await measureSwapPause({ entries: 50, nodes: 2, updates: 3, runs: 1, onUpdate: () => updates++ });
    expect(updates).toBe(3);
    expect(f.swapsPerRun).toBe(3);
    expect(f.measured).toBe("r1");
    const [run] = f.runs;
    expect(run?.swaps.map((s) => s.node)).toEqual(["r1", "r1", "r1"]);
    expect(run?.others.count).toBe(3); // r0's swaps
    // Isolated where the machine allows it (or says why not), and this process gets its CPUs back after.
    expect(run?.isolation).toMatch(/the measured node on CPU \d+|not isolated: /);
    // Isolated, the run measured the machine's floor on that CPU too: 60 steps.
    if (run?.isolation.startsWith("the measured node")) expect(run?.floor?.steps.count).toBe(60);
    expect(cpusAllowed()).toBe(before);
    for (const s of run?.swaps ?? []) {
      const p = s.phases;
      for (const x of [s.pauseMs, s.cpuMs, s.gcMs, p.before, p.transfer, p.swap, p.after]) expect(x).toBeGreaterThanOrEqual(0);
      expect(p.before + p.transfer + p.swap + p.after).toBeCloseTo(s.pauseMs, 6);
      // The collector's pauses are inside the step: never more than it.
      expect(s.gcMs).toBeLessThanOrEqual(s.pauseMs);
      // Every update converts the 50 keys: the transfer is never free.
      expect(p.transfer).toBeGreaterThan(0);
    }
    expect(run?.pause.count).toBe(3);
    expect(run?.p99Swap.pauseMs).toBe(run?.pause.p99);
  }, 90_000);
});
