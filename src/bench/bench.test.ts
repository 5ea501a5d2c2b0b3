import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../cli/program.js";
import { measureOverhead } from "./overhead.js";
import { runScale, runScaleInChild } from "./scale.js";

// Smoke tests only: benchmarks are measured by `npm run bench`, never timed in tests.
describe("the benchmarks run (smoke, 3 nodes)", () => {
  it("liveswap bench prints a record per strategy and writes the report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-bench-"));
    const lines: string[] = [];
    await buildProgram((l) => lines.push(l)).parseAsync(["node", "liveswap", "bench", "disruption", "--nodes", "3", "--entries", "5", "--seeds", "1", "--strategy", "naive,cut", "--json", "--report", dir]);
    const records = lines.map((l) => JSON.parse(l)).filter((r) => r.target === undefined);
    expect(records.map((r) => r.strategy)).toEqual(["naive", "cut"]);
    const cut = records[1];
    expect(cut.nullReads).toBe(0);
    expect(cut.violations).toBe(0);
    expect(cut.duration.mean).toBeGreaterThan(0);
    // The bound is the eccentricity (2) x the delay messages took in the run, never under the network's minimum delay.
    expect(cut.duration.nominalBound).toBe(2 * 5.5);
    expect(cut.duration.channelDelay).toBeGreaterThanOrEqual(1);
    expect(cut.duration.bound).toBeCloseTo(2 * cut.duration.channelDelay, 9);
    expect(cut.latency.during.count).toBeGreaterThan(0);
    expect(records[0].violations).toBeGreaterThanOrEqual(0);
    expect(existsSync(join(dir, "report.md"))).toBe(true);
    expect(readFileSync(join(dir, "report.html"), "utf8")).toContain("<svg");
  });

  it("a scale run and the overhead comparison produce their figures", async () => {
    const s = await runScale(60, "cut");
    expect(s.nodes).toBe(60);
    expect(s.controlMessages).toBe(2 * s.links);
    expect(s.events).toBeGreaterThan(0);
    const o = await measureOverhead(["cut"], { nodes: 20, tokens: 10, hops: 20, rounds: 1 });
    expect(o.map((r) => r.strategy)).toEqual(["none", "cut", "none (control)"]);
    expect(new Set(o.map((r) => r.events)).size).toBe(1); // the same work on every system
  });

  it("a scale size runs in a child of its own, and one that outruns its time limit is stopped and says so", async () => {
    expect((await runScaleInChild(60, "cut")).nodes).toBe(60);
    await expect(runScaleInChild(200_000, "cut", 1, 300)).rejects.toThrow(process.platform === "linux" ? /stopped after 0.3 s at \d+ MB peak RSS \(the benchmark.s limit/ : /stopped after 0.3 s/);
  });
});

describe("targets", () => {
  it("are judged by their operator and printed beside their figure, met or not, with a count", async () => {
    const { targetFigure } = await import("./benchmark.js");
    const { targetTable } = await import("./run.js");
    const a = targetFigure("trace on / bare loop", 0.42, ">=", 0.5);
    const b = targetFigure("update of 1M nodes", 21.5, "<", 30, "s");
    expect(a).toEqual({ figure: "trace on / bare loop", value: 0.42, unit: "", goal: ">= 0.5", met: false });
    expect(b.met).toBe(true);
    expect(targetFigure("edge", 0.5, ">=", 0.5).met).toBe(true);
    expect(targetFigure("edge", 30, "<", 30, "s").met).toBe(false);
    const lines = targetTable([
      { benchmark: "sim-speed", t: a },
      { benchmark: "scale", t: b },
    ]);
    expect(lines[0]).toBe("targets (1 of 2 met):");
    expect(lines[1]).toMatch(/sim-speed: trace on \/ bare loop\s+0\.420\s+target >= 0\.5\s+NOT met$/);
    expect(lines[2]).toMatch(/scale: update of 1M nodes\s+21\.5 s\s+target < 30 s\s+met$/);
  });
});
