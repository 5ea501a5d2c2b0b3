import { describe, expect, it } from "vitest";
import { isolatedCpu } from "./cpu-isolation.js";
import { measureNoiseFloor } from "./noise-floor.js";

describe("the noise floor (a child process timing steps of fixed computation)", () => {
  it("times each of its steps, near the work asked for at the median, pinned where the machine allows", async () => {
    const f = await measureNoiseFloor({ cpu: isolatedCpu(), workMs: 0.5, n: 9, gapMs: 2 });
    expect(f?.steps.count).toBe(9);
    // Calibrated on a 20 ms run: the median lands near the work asked for (a loaded machine only slows it).
    expect(f?.workMs).toBeGreaterThan(0.1);
    expect(f?.steps.max).toBeGreaterThanOrEqual(f?.steps.p50 ?? Infinity);
  });
});
