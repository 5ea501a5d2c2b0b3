/** `liveswap demo`: the paper's experiment on the simulated network, one row per strategy. */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { DASH, fixed, plainTable } from "../../bench/format.js";
import { FileAccessError, messageOf } from "../../core/errors.js";
import { toNdjson } from "../../core/trace/ndjson.js";
import { availableStrategies, STRATEGIES, type Strategy, type TraceEvent } from "../../index.js";
import { runExperiment, type ExperimentResult } from "../../scenarios/replicated-db/experiment.js";
import { integer, strategyList, type Out } from "../options.js";
import { SimSource } from "../../console/sim-source.js";
import { startConsole } from "../../console/console-server.js";
import { announce, consoleAccess, untilInterrupted } from "./console.js";

export function registerDemo(program: Command, out: Out): void {
  program
    .command("demo")
    .description("the paper's experiment on the simulated network: replicated databases, search-key update, global reads during the update")
    .addOption(new Option("--strategy <names>", `strategy, or a comma-separated list (default: every available one: ${availableStrategies().join(", ")})`).argParser(strategyList))
    .addOption(new Option("--seed <n>", "seed of the simulated network").default(1).argParser(integer("--seed", 0)))
    .addOption(new Option("--nodes <n>", "replicas on the line").default(7).argParser(integer("--nodes", 2)))
    .addOption(new Option("--entries <n>", "entries per replica").default(38).argParser(integer("--entries", 1)))
    .option("--trace <file>", "write the trace as NDJSON to FILE; with several strategies one file each, the strategy before the extension (d.ndjson: d.naive.ndjson, d.cut.ndjson, ...)")
    .option("--json", "one JSON object per strategy, one per line", false)
    .option("--serve", "play the run in a web page (the console's) instead: one strategy's run (--strategy, default cut), at --speed", false)
    .addOption(new Option("--speed <ms>", "with --serve: virtual ms played a wall second (50: a twentieth of real time)").default(50).argParser(integer("--speed", 1)))
    .option("--listen <host:port>", "with --serve: where the page is served", "127.0.0.1:7700")
    .action(async (o: { strategy?: Strategy[]; seed: number; nodes: number; entries: number; trace?: string; json: boolean; serve: boolean; speed: number; listen: string }) => {
      const strategies = o.strategy ?? availableStrategies();
      const unavailable = strategies.filter((s) => !availableStrategies().includes(s));
      if (unavailable.length > 0) {
        throw new InvalidArgumentError(`strategy ${unavailable.join(", ")} is not available in this version yet (available: ${availableStrategies().join(", ")})`);
      }
      if (o.serve) return serveDemo({ ...o, strategy: o.strategy ?? ["cut"] }, out);
      if (o.listen !== "127.0.0.1:7700" || o.speed !== 50) throw new InvalidArgumentError("--listen and --speed go with --serve (the page that plays the run)");
      await runDemo({ strategies, seed: o.seed, nodes: o.nodes, entries: o.entries, json: o.json, ...(o.trace !== undefined ? { trace: o.trace } : {}) }, out);
    });
}

/** `demo --serve`: the experiment's run played in the console page (a token in the printed URL: never open). */
async function serveDemo(o: { strategy: readonly Strategy[]; seed: number; nodes: number; entries: number; speed: number; listen: string; trace?: string; json: boolean }, out: Out): Promise<void> {
  if (o.trace !== undefined || o.json) throw new InvalidArgumentError("--serve plays the run in a page: --trace and --json go without it");
  if (o.strategy.length !== 1) throw new InvalidArgumentError(`--serve plays one run: give one strategy (--strategy ${o.strategy[0] ?? "cut"}), not ${o.strategy.length}`);
  const strategy = o.strategy[0] as Strategy;
  const source = await SimSource.start({ strategy, seed: o.seed, nodes: o.nodes, entries: o.entries, speed: o.speed });
  const server = await startConsole(source, { listen: o.listen, access: consoleAccess(undefined, undefined) });
  announce(server, out, `plays ${Math.round(source.totalMs)} virtual ms of the ${strategy} run (seed ${o.seed}) in ${Math.ceil((source.totalMs / o.speed) * 10) / 10} s`);
  await untilInterrupted(server);
}

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

/**
 * The file one strategy's trace goes to: FILE itself for one strategy; for
 * several, the strategy goes before the extension (out/d.ndjson:
 * out/d.cut.ndjson), so that each file keeps the extension its tools expect.
 */
export function traceFileFor(file: string, strategy: Strategy, several: boolean): string {
  if (!several) return file;
  const dot = file.lastIndexOf(".");
  return dot > 0 ? `${file.slice(0, dot)}.${strategy}${file.slice(dot)}` : `${file}.${strategy}`;
}

export async function runDemo(o: DemoOptions, out: Out): Promise<ExperimentResult[]> {
  const results: ExperimentResult[] = [];
  const traces: string[] = [];
  for (const strategy of o.strategies) {
    const r = await runExperiment({ strategy, seed: o.seed, nodes: o.nodes, entries: o.entries });
    results.push(r);
    if (o.trace !== undefined) traces.push(writeTrace(traceFileFor(o.trace, strategy, o.strategies.length > 1), r.system.trace() as TraceEvent[]));
    await r.system.close();
    if (o.json) out(JSON.stringify(demoRecord(r)));
  }
  if (!o.json) printDemo(o, results, out);
  if (!o.json && traces.length > 0) out(`\ntrace${traces.length > 1 ? "s" : ""}: ${traces.join(", ")} (judge one with liveswap check FILE, draw it with liveswap viz FILE -o FILE.html)`);
  return results;
}

/** One strategy's trace as NDJSON; its directory is made, as a user who names out/d.ndjson expects. */
function writeTrace(file: string, trace: readonly TraceEvent[]): string {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, toNdjson(trace));
  } catch (e) {
    throw new FileAccessError(file, "write", messageOf(e));
  }
  return file;
}

/** The human-readable table of the demo, and what went wrong per strategy. */
function printDemo(o: DemoOptions, results: readonly ExperimentResult[], out: Out): void {
  out(
    `The paper's experiment: a line of ${o.nodes} replicated databases x ${o.entries} entries, global reads from r0, ` +
      `writes and local reads everywhere, the search-key update started from r${o.nodes - 1} (seed ${o.seed}; virtual ms).\n`,
  );
  const fmt = (x: number): string => fixed(x, 0);
  out(
    plainTable(
      ["strategy", "global reads", "answered", "with null", "correctness violations", "awareness violations", "termination violations", "H-G ms", "control msgs", "req/s before", "during", "after", "replicas"],
      results.map((r) => [
        r.strategy,
        String(r.reads.issued),
        String(r.reads.answered),
        String(r.reads.withNull),
        String(r.violations.correctness),
        String(r.violations.awareness),
        String(r.violations.termination),
        "error" in r.update ? "failed" : fmt(r.update.finishedAt - r.update.startedAt),
        "error" in r.update ? DASH : String(r.update.controlMessages),
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
  const missing = STRATEGIES.filter((s) => !availableStrategies().includes(s));
  if (missing.length > 0) out(`\n(not available yet: ${missing.join(", ")})`);
}
