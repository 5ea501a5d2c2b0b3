import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { erlangMissing, parseErlangResults, runErlangHalf } from "./realtime-erlang.js";
import { liveswapRow, measureRealtime, PAPER_LOAD, pooledRatio, realtimeLines, realtimeTargets } from "./realtime.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { maxPause, type LiveswapRun } from "./realtime-liveswap.js";

// Smoke test of the realtime bench on real processes: it measures, it never times (figures are the bench's).
describe("the realtime bench (3 replica processes, cut, a few seconds of load)", () => {
  it("produces a sane row for cut (no null read, no dropped write, reads completed before and after) and reports the Erlang half present or missing", async () => {
    const load = { ...PAPER_LOAD, globalReadsPerSec: 50, localOpsPerSec: 10, warmupMs: 1500, windowMs: 1000, drainMs: 2000 };
    const r = await measureRealtime({ strategies: ["cut"], seeds: [1], nodes: 3, load, erlangVariants: ["all"] });
    const [run] = r.liveswap;
    expect(run?.error).toBeUndefined();
    expect(run?.nullReads).toBe(0);
    expect(run?.droppedWrites).toBe(0);
    expect(run?.globalReads.completed).toBeGreaterThan(0);
    expect(run?.throughput.before).toBeGreaterThan(0);
    expect(run?.throughput.after).toBeGreaterThan(0);
    expect(run?.updateMs).toBeGreaterThan(0);
    // Every global read issued is accounted for: completed, or counted unanswered / refused.
    expect(run?.globalReads.issued).toBeGreaterThanOrEqual(run?.globalReads.completed ?? Infinity);
    const row = r.rows.find((x) => x.system === "liveswap");
    expect(row).toMatchObject({ strategy: "cut", runs: 1, nullReads: { median: 0, min: 0, max: 0 } });
    expect(r.targets.find((t) => t.what.startsWith("cut: 0 null reads"))?.met).toBe(true);
    const text = realtimeLines(r).join("\n");
    if (erlangMissing() === undefined) {
      // erl is installed: the peer ran in the same run, with its figures in the table.
      expect(r.erlang.kind).toBe("ran");
      const erl = r.rows.find((x) => x.system === "erlang/otp");
      expect(erl?.strategy).toBe("all hot upgrade");
      expect(erl?.before).toBeGreaterThan(0);
      expect(text).toMatch(/\| erlang\/otp \| all hot upgrade \|/);
    } else {
      expect(r.erlang.kind).toBe("missing");
      expect(text).toMatch(/Erlang\/OTP half not run: .+ The liveswap half alone/);
    }
  }, 90_000);
});

describe("the realtime bench's arithmetic", () => {
  it("reads the Erlang peer's result terms, as its driver writes them (maps printed over several lines)", () => {
    const text =
      '{run,"rate200","rolling",1,\n     #{completed => 1122,done_during => 121,issued => 1122,\n       max_lat_ms => 103.533,max_susp_ms => 1.395,null_after => 0,null_before => 0,\n       null_reads => 128,thr_after => 200.5,thr_before => 200.0,thr_during => 199.425785589262,upgrade_ms => 606.742,writes_dropped => 266}}.\n' +
      '{run,"rate200","all",2,#{completed => 1001,done_during => 0,issued => 1003,max_lat_ms => 1.0e2,max_susp_ms => 1.9,null_after => 0,null_before => 0,null_reads => 6,thr_after => 200.5,thr_before => 199.5,thr_during => 0.0,upgrade_ms => 1.951,writes_dropped => 14}}.\n';
    const runs = parseErlangResults(text);
    expect(runs.map((x) => [x.variant, x.seed, x.nullReads, x.writesDropped, x.issued - x.completed])).toEqual([
      ["rolling", 1, 128, 266, 0],
      ["all", 2, 6, 14, 2],
    ]);
    expect(runs[1]?.maxLatMs).toBe(100);
    expect(() => parseErlangResults('{run,"rate200","all",2,#{completed => 3}}.\n')).toThrow(/has no issued/);
  });

  it("the Erlang half says why it cannot run (no erl, or no peer where it looks), and runs nothing then", async () => {
    const half = await runErlangHalf({ variants: ["rolling"], seeds: [1], peer: "/nonexistent/peers/erlang" });
    expect(half.kind).toBe("missing");
    // Whether erl is installed, not whether the default peer folder exists (a clone without ../shared has none).
    const erlInstalled = spawnSync("sh", ["-c", "command -v erl && command -v erlc"]).status === 0;
    if (half.kind === "missing") expect(half.why).toMatch(erlInstalled ? /not at \/nonexistent\/peers\/erlang .*LIVESWAP_ERLANG_PEER/ : /not installed/);
  });

  it("max pause: a replica's time from its first held send to its swap, plus its swap step (an unreported step counts 0)", () => {
    const trace = [
      { kind: "update-start", t: 0, update: 1, strategy: "conservative", root: "r1", nodes: ["r0", "r1"] },
      { kind: "hold", t: 10, node: "r1" },
      { kind: "hold", t: 30, node: "r1" },
      { kind: "swap", t: 50, node: "r1" },
      { kind: "swap", t: 60, node: "r0" },
      { kind: "update-end", t: 70, update: 1, outcome: "completed" },
    ] as unknown as TraceEvent[];
    expect(maxPause(trace, new Map([["r1", 2], ["r0", 5]]))).toBe(42);
    expect(maxPause(trace, new Map([["r1", Number.NaN], ["r0", 45]]))).toBe(45);
  });

  it("a row is the median of its runs; the targets read every run; a refused update leaves its row without figures", () => {
    const run = (seed: number, nulls: number, before: number, during: number): LiveswapRun => ({
      strategy: "cut",
      seed,
      globalReads: { issued: 100, completed: 100 },
      nullReads: nulls,
      droppedWrites: 0,
      // A window of 50 ms: the reads done in it are the rate's share (pooled figures add them up).
      throughput: { before, prepare: before - 50, during, after: before, doneDuring: Math.round((during * 50) / 1000) },
      updateMs: 50,
      hgMs: 40,
      maxPauseMs: 2,
      maxSwapMs: 2,
      maxLatencyMs: 90,
      maxLatencyDuringMs: 80,
      unanswered: 0,
      refused: 0,
      cpu: { nodesPct: 100, benchPct: 20, loadAvg: 1 },
    });
    const runs = [run(1, 0, 200, 196), run(2, 1, 200, 180), run(3, 0, 200, 200)];
    const row = liveswapRow("cut", runs);
    expect(row).toMatchObject({ nullReads: { median: 0, min: 0, max: 1 }, ratio: 0.98, before: 200, prepare: 150 });
    // Pooled: 10 + 9 + 10 reads in 150 ms, 193/s against 200/s before.
    expect(pooledRatio(runs)).toBeCloseTo(29 / 0.15 / 200, 6);
    const targets = realtimeTargets(runs, 200);
    expect(targets.map((t) => t.met)).toEqual([false, true]); // one run had a null read; the median ratio is 0.98
    // A run already behind before G (a backlog, not the update) is left out of the ratio.
    const behind = realtimeTargets([...runs, run(4, 0, 20, 2), run(5, 0, 20, 3)], 200);
    expect(behind[1]).toMatchObject({ met: true, measured: "0.98 (runs 0.98, 0.90, 1.00; pooled 0.97; 2 of 5 run(s) behind before G left out)" });
    expect(realtimeTargets([run(6, 0, 20, 60)], 200)[1]).toMatchObject({ met: false, measured: "not measurable: none of 1 run(s) kept up with 200 reads/s before G" });
    const refused = liveswapRow("synchronizer", [{ ...run(1, 0, 200, 0), strategy: "synchronizer", error: "StrategyUnavailableError: no pulses" }]);
    expect(refused.error).toMatch(/1 of 1 run\(s\): StrategyUnavailableError/);
    expect(Number.isNaN(refused.before)).toBe(true);
  });
});
