/** `liveswap replay`: one case of a scenario, exactly as fuzz ran it. */
import { readFileSync, writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { toNdjson } from "../../core/trace/ndjson.js";
import type { Strategy } from "../../core/update.js";
import { InvalidOptionError } from "../../core/errors.js";
import { paramsFor, runCase } from "../../harness/fuzz.js";
import { parseCase } from "../../harness/lifetime-fuzz.js";
import { runLifetime } from "../../harness/lifetime-run.js";
import { describeCase, describeLifetime, lifetimeProblems, lifetimeSummary, problemsOf, summary } from "../case-report.js";
import { integer, oneStrategy, type Out } from "../options.js";
import { loadScenario } from "../scenarios.js";

interface ReplayOptions {
  readonly scenario: string;
  readonly strategy: Strategy;
  readonly seed?: number;
  readonly nodes?: number;
  readonly requests?: number;
  readonly updateAt?: number;
  readonly root?: string;
  readonly trace?: string;
  readonly json: boolean;
  readonly lifetime?: string;
}

export function registerReplay(program: Command, out: Out): void {
  program
    .command("replay")
    .description("re-run one case of a scenario exactly and write its trace; exits 1 if it fails")
    .option("--scenario <name|path>", "the scenario", "replicated-db")
    .addOption(new Option("--strategy <name>", "the strategy").default("naive").argParser(oneStrategy))
    .addOption(new Option("--seed <n>", "the run's seed (required unless --lifetime)").argParser(integer("--seed", 0)))
    .addOption(new Option("--nodes <n>", "nodes (default: drawn from the seed, as fuzz does)").argParser(integer("--nodes", 1)))
    .addOption(new Option("--requests <n>", "outside requests (default: drawn from the seed)").argParser(integer("--requests", 0)))
    .addOption(new Option("--update-at <ms>", "when update() is called (default: drawn from the seed)").argParser(integer("--update-at", 0)))
    .option("--root <node>", "the root's name, as fuzz prints it (default: drawn from the seed)")
    .option("--lifetime <case.json>", "re-run a lifetime from the case file `fuzz --lifetime` wrote (scenario and strategy come from the file)")
    .option("--trace <file>", "write the trace as NDJSON")
    .option("--json", "print the outcome as JSON", false)
    .action((o: ReplayOptions) => (o.lifetime !== undefined ? replayLifetime(o.lifetime, o, out) : runReplay(o, out)));
}

async function runReplay(o: ReplayOptions, out: Out): Promise<void> {
  if (o.seed === undefined) throw new InvalidOptionError("--seed", "replay needs --seed (or --lifetime CASE.json)");
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

/** A lifetime from its case file: the same scenario, strategy and steps, so the same trace, byte for byte. */
async function replayLifetime(file: string, o: ReplayOptions, out: Out): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new InvalidOptionError("--lifetime", `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const c = parseCase(text, file);
  const strategy = oneStrategy(c.strategy);
  const scenario = await loadScenario(c.scenario);
  const r = await runLifetime(scenario, strategy, c.lifetime);
  if (o.trace !== undefined) writeFileSync(o.trace, toNdjson(r.trace));
  if (o.json) out(JSON.stringify({ scenario: scenario.name, strategy, ...lifetimeSummary(r), ...(o.trace !== undefined ? { trace: o.trace } : {}) }));
  else {
    out(`${scenario.name} under ${strategy}: ${describeLifetime(r)}`);
    for (const line of r.steps) out(`  ${line}`);
    for (const line of lifetimeProblems(r)) out(`  ${line}`);
    if (o.trace !== undefined) out(`trace: ${o.trace}`);
  }
  if (r.failed) process.exitCode = 1;
}
