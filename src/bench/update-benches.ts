/** The update benchmarks: disruption (the paper's experiment), scale, steady-state overhead. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Strategy } from "../core/update.js";
import { measureDisruption } from "./disruption.js";
import { fixed, seedList } from "./format.js";
import { measureOverhead } from "./overhead.js";
import type { ProgressStep } from "./progress.js";
import { disruptionHtml, disruptionMarkdown, disruptionTable, rollbackExtras } from "./report.js";
import type { BenchmarkOutput, BenchOptions } from "./benchmark.js";
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
    `  ${String(r.nodes).padStart(6)} nodes ${r.strategy.padEnd(12)} update ${fixed(r.wallMs.update, 0)} ms wall, ` +
    `whole run ${fixed(r.wallMs.build + r.wallMs.run, 0)} ms (build ${fixed(r.wallMs.build, 0)}, run ${fixed(r.wallMs.run, 0)}), ` +
    `peak RSS ${fixed(r.peakRssMb, 0)} MB, ${fixed(r.eventsPerSec, 0)} events/s, H-G ${r.duration} ms (bound ${fixed(r.bound, 1)} ms), ${r.controlMessages} control msgs`
  );
}

export async function scaleBenchmark(progress?: ProgressStep): Promise<BenchmarkOutput> {
  const sizes = [1000, 10000, 50000];
  const strategies: Strategy[] = ["conservative", "cut"];
  const results: ScaleResult[] = [];
  for (const n of sizes) {
    for (const s of strategies) {
      results.push(await runScaleInChild(n, s));
      progress?.(results.length, sizes.length * strategies.length);
    }
  }
  const tenK = results.filter((r) => r.nodes === 10000);
  const met = tenK.every((r) => r.wallMs.build + r.wallMs.run < 10_000 && r.peakRssMb < 2048);
  return {
    records: [...results, { target10kMet: met }],
    lines: [
      "Scale (wall clock; each size in its own process):",
      ...results.map(scaleLine),
      `  target (10,000 nodes: under 10 s of wall time and 2 GB RSS): ${met ? "met" : "NOT met"}`,
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
