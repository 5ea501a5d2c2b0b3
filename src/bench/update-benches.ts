/** The update benchmarks: disruption (the paper's experiment), scale, steady-state overhead. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Strategy } from "../core/update.js";
import { measureDisruption } from "./disruption.js";
import { fixed, seedList } from "./format.js";
import { measureOverhead } from "./overhead.js";
import type { ProgressStep } from "./progress.js";
import { disruptionHtml, disruptionMarkdown, disruptionTable, rollbackExtras } from "./report.js";
import { targetFigure, type BenchmarkOutput, type BenchOptions } from "./benchmark.js";
import { runScaleInChild, type ScaleResult } from "./scale.js";

export async function disruptionBenchmark(o: BenchOptions, progress?: ProgressStep): Promise<BenchmarkOutput> {
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const results = await measureDisruption({ strategies: o.strategies, seeds, nodes: o.nodes, entries: o.entries, ...(progress ? { onRun: progress } : {}) });
  const lines = [
    `The paper's experiment: ${o.nodes} replicas x ${o.entries} entries, seeds ${seedList(seeds)}, update from the far end.`,
    "",
    disruptionTable(results),
    ...rollbackExtras(results).map((x) => `\n${x.strategy}: ${x.text}`),
  ];
  if (o.report !== undefined) {
    mkdirSync(o.report, { recursive: true });
    const meta = { nodes: o.nodes, entries: o.entries, seeds, date: new Date().toISOString().slice(0, 10) };
    writeFileSync(join(o.report, "report.md"), disruptionMarkdown(results, meta));
    writeFileSync(join(o.report, "report.html"), disruptionHtml(results, meta));
    lines.push(`\nreport: ${join(o.report, "report.md")}, ${join(o.report, "report.html")}`);
  }
  return { records: results, lines };
}

function scaleLine(r: ScaleResult): string {
  return (
    `  ${String(r.nodes).padStart(7)} nodes ${r.strategy.padEnd(12)} build ${fixed(r.wallMs.build / 1000, 1)} s, update ${fixed(r.wallMs.update / 1000, 1)} s, ` +
    `total ${fixed(totalMs(r) / 1000, 1)} s wall, peak RSS ${fixed(r.peakRssMb, 0)} MB, ${r.events} events (${fixed(r.eventsPerSec, 0)}/s), ` +
    `H-G ${r.duration} ms (bound ${fixed(r.bound, 1)} ms), ${r.controlMessages} control msgs`
  );
}

/** Build and run, the update and the load around it: what the scale targets time. */
function totalMs(r: ScaleResult): number {
  return r.wallMs.build + r.wallMs.run;
}

/** The scale target: a cut update of a million-node graph, build included, under 30 s of wall time and 4 GB RSS. */
const SCALE_TARGET = { nodes: 1_000_000, strategy: "cut", wallMs: 30_000, rssMb: 4096 } as const;

/** How each strategy's wall time and peak RSS grow from one size to the next (10x the nodes). */
function growthLines(results: readonly ScaleResult[], strategies: readonly Strategy[]): string[] {
  return strategies.map((s) => {
    const rs = results.filter((r) => r.strategy === s);
    const steps = rs.slice(1).map((r, i) => {
      const p = rs[i] as ScaleResult;
      return `${p.nodes}->${r.nodes}: wall x${fixed(totalMs(r) / totalMs(p), 1)}, RSS x${fixed(r.peakRssMb / p.peakRssMb, 1)}`;
    });
    return `  growth ${s.padEnd(12)} ${steps.join("; ")}`;
  });
}

export async function scaleBenchmark(progress?: ProgressStep): Promise<BenchmarkOutput> {
  const sizes = [10_000, 100_000, 1_000_000];
  const strategies: Strategy[] = ["conservative", "cut"];
  const results: ScaleResult[] = [];
  const failed: { readonly nodes: number; readonly strategy: Strategy; readonly failed: string }[] = [];
  for (const n of sizes) {
    for (const s of strategies) {
      // A size that does not fit (the child runs out of memory) is reported as such; the other sizes still count.
      await runScaleInChild(n, s).then(
        (r) => results.push(r),
        (e: unknown) => failed.push({ nodes: n, strategy: s, failed: e instanceof Error ? e.message : String(e) }),
      );
      progress?.(results.length + failed.length, sizes.length * strategies.length);
    }
  }
  const t = results.find((r) => r.nodes === SCALE_TARGET.nodes && r.strategy === SCALE_TARGET.strategy);
  const wallMet = t !== undefined && totalMs(t) < SCALE_TARGET.wallMs;
  const rssMet = t !== undefined && t.peakRssMb < SCALE_TARGET.rssMb;
  const target = {
    target: "cut update of 1,000,000 nodes, build included",
    wallS: t === undefined ? null : totalMs(t) / 1000,
    wallTargetS: SCALE_TARGET.wallMs / 1000,
    peakRssMb: t?.peakRssMb ?? null,
    rssTargetMb: SCALE_TARGET.rssMb,
    met: wallMet && rssMet,
  };
  const verdict = (ok: boolean): string => (ok ? "met" : "NOT met");
  return {
    records: [...results, ...failed, target],
    lines: [
      "Scale (wall clock; each size in a child process of its own, so its peak RSS includes the build; trace off):",
      ...results.map(scaleLine),
      ...failed.map((f) => `  ${String(f.nodes).padStart(7)} nodes ${f.strategy.padEnd(12)} FAILED: ${f.failed}`),
      ...growthLines(results, strategies),
      `  target (cut, 1,000,000 nodes, build included): ${fixed((target.wallS ?? NaN), 1)} s wall (under 30 s: ${verdict(wallMet)}), ` +
        `peak RSS ${fixed(target.peakRssMb ?? NaN, 0)} MB (under 4 GB: ${verdict(rssMet)})`,
    ],
    // A million-node run that did not finish (stopped, or out of memory) has no figure: NaN, not met.
    targets: [
      targetFigure("cut update of 1,000,000 nodes, build included: wall", Number((target.wallS ?? Number.NaN).toFixed(1)), "<", SCALE_TARGET.wallMs / 1000, "s"),
      targetFigure("the same: peak RSS", Math.round(target.peakRssMb ?? Number.NaN), "<", SCALE_TARGET.rssMb, "MB"),
    ],
  };
}

export async function overheadBenchmark(progress?: ProgressStep): Promise<BenchmarkOutput> {
  const results = await measureOverhead();
  progress?.(1, 1);
  return {
    records: results,
    lines: [
      "Steady-state overhead (wall clock): the same token workload (events/s, best of 5 interleaved rounds) on a plain system and on systems whose strategy machinery is idle (after one update):",
      ...results.map((r) => `  ${r.strategy.padEnd(15)} ${fixed(r.eventsPerSec, 0)} events/s  ratio ${fixed(r.ratio, 2)}`),
      "  target 1.0; the second plain system ('none (control)') shows the noise floor of this machine",
    ],
  };
}
