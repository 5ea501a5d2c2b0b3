import { writeFileSync } from "node:fs";
import { availableStrategies, type Strategy, type TraceEvent } from "../index.js";
import { runExperiment, type ExperimentResult } from "../scenarios/replicated-db/experiment.js";
import { renderTable } from "./table.js";
import { toNdjson } from "../core/trace/ndjson.js";

export interface DemoOptions {
  readonly strategies: readonly Strategy[];
  readonly seed: number;
  readonly nodes: number;
  readonly entries: number;
  readonly trace?: string;
  readonly json: boolean;
}

/** The machine-readable line of one strategy (the shape is part of the CLI's contract). */
export function demoRecord(r: ExperimentResult): object {
  return {
    strategy: r.strategy,
    nodes: r.nodes,
    entries: r.entries,
    reads: r.reads,
    violations: r.violations,
    update: r.update,
    throughput: r.throughput,
    seed: r.seed,
    replicasIdentical: r.replicasIdentical,
  };
}

/** The file one strategy's trace goes to: FILE itself for one strategy, FILE with the strategy inserted for several. */
export function traceFileFor(file: string, strategy: Strategy, several: boolean): string {
  if (!several) return file;
  const dot = file.lastIndexOf(".");
  return dot > 0 ? `${file.slice(0, dot)}.${strategy}${file.slice(dot)}` : `${file}.${strategy}`;
}

export async function runDemo(o: DemoOptions, out: (line: string) => void): Promise<ExperimentResult[]> {
  const results: ExperimentResult[] = [];
  for (const strategy of o.strategies) {
    const r = await runExperiment({ strategy, seed: o.seed, nodes: o.nodes, entries: o.entries });
    results.push(r);
    if (o.trace !== undefined) writeFileSync(traceFileFor(o.trace, strategy, o.strategies.length > 1), toNdjson(r.system.trace() as TraceEvent[]));
    await r.system.close();
    if (o.json) out(JSON.stringify(demoRecord(r)));
  }
  if (!o.json) {
    out(
      `The paper's experiment: a line of ${o.nodes} replicated databases x ${o.entries} entries, global reads from r0, ` +
        `writes and local reads everywhere, the search-key update started from r${o.nodes - 1} (seed ${o.seed}; virtual ms).\n`,
    );
    const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : "-");
    out(
      renderTable(
        ["strategy", "global reads", "answered", "with null", "correctness", "awareness", "termination", "H-G ms", "control msgs", "req/s before", "during", "after", "replicas"],
        results.map((r) => [
          r.strategy,
          String(r.reads.issued),
          String(r.reads.answered),
          String(r.reads.withNull),
          String(r.violations.correctness),
          String(r.violations.awareness),
          String(r.violations.termination),
          "error" in r.update ? "failed" : fmt(r.update.finishedAt - r.update.startedAt),
          "error" in r.update ? "-" : String(r.update.controlMessages),
          fmt(r.throughput.before),
          fmt(r.throughput.during),
          fmt(r.throughput.after),
          r.replicasIdentical ? "identical" : "DIVERGED",
        ]),
      ),
    );
    for (const r of results) {
      if ("error" in r.update) out(`\n${r.strategy}: the update failed: ${r.update.error}`);
      const first = r.check.violations[0];
      if (first !== undefined) out(`\n${r.strategy}: ${r.check.violations.length} violation(s); first at ${first.at} ms: [${first.invariant}] ${first.message}`);
    }
    const missing = ["naive", "snapshot", "synchronizer", "conservative", "rollback", "cut"].filter((s) => !availableStrategies().includes(s as Strategy));
    if (missing.length > 0) out(`\n(not available yet: ${missing.join(", ")})`);
  }
  return results;
}
