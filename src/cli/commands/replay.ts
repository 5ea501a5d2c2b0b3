/** `liveswap replay`: one case of a scenario, exactly as fuzz ran it. */
import { writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { toNdjson } from "../../core/trace/ndjson.js";
import type { Strategy } from "../../core/update.js";
import { paramsFor, runCase } from "../../harness/fuzz.js";
import { describeCase, problemsOf, summary } from "../case-report.js";
import { integer, oneStrategy, type Out } from "../options.js";
import { loadScenario } from "../scenarios.js";

interface ReplayOptions {
  readonly scenario: string;
  readonly strategy: Strategy;
  readonly seed: number;
  readonly nodes?: number;
  readonly requests?: number;
  readonly updateAt?: number;
  readonly root?: number;
  readonly trace?: string;
  readonly json: boolean;
}

export function registerReplay(program: Command, out: Out): void {
  program
    .command("replay")
    .description("re-run one case of a scenario exactly and write its trace; exits 1 if it fails")
    .option("--scenario <name|path>", "the scenario", "replicated-db")
    .addOption(new Option("--strategy <name>", "the strategy").default("naive").argParser(oneStrategy))
    .addOption(new Option("--seed <n>", "the run's seed").makeOptionMandatory().argParser(integer("--seed", 0)))
    .addOption(new Option("--nodes <n>", "nodes (default: drawn from the seed, as fuzz does)").argParser(integer("--nodes", 1)))
    .addOption(new Option("--requests <n>", "outside requests (default: drawn from the seed)").argParser(integer("--requests", 0)))
    .addOption(new Option("--update-at <ms>", "when update() is called (default: drawn from the seed)").argParser(integer("--update-at", 0)))
    .addOption(new Option("--root <i>", "index of the root (default: drawn from the seed)").argParser(integer("--root", 0)))
    .option("--trace <file>", "write the trace as NDJSON")
    .option("--json", "print the outcome as JSON", false)
    .action((o: ReplayOptions) => runReplay(o, out));
}

async function runReplay(o: ReplayOptions, out: Out): Promise<void> {
  const scenario = await loadScenario(o.scenario);
  const params = paramsFor(scenario, o.seed, {
    ...(o.nodes !== undefined ? { nodes: o.nodes } : {}),
    ...(o.requests !== undefined ? { requests: o.requests } : {}),
    ...(o.updateAt !== undefined ? { updateAt: o.updateAt } : {}),
    ...(o.root !== undefined ? { root: o.root } : {}),
  });
  const r = await runCase(scenario, o.strategy, params);
  if (o.trace !== undefined) writeFileSync(o.trace, toNdjson(r.trace));
  if (o.json) out(JSON.stringify({ scenario: scenario.name, strategy: o.strategy, ...summary(r), ...(o.trace !== undefined ? { trace: o.trace } : {}) }));
  else {
    out(`${scenario.name} under ${o.strategy}: ${describeCase(r)}`);
    for (const line of problemsOf(r)) out(`  ${line}`);
    if (o.trace !== undefined) out(`trace: ${o.trace}`);
  }
  if (r.failed) process.exitCode = 1;
}
