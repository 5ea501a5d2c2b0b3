/** `liveswap fuzz`: many seeded runs of a scenario; a failure is shrunk, written as a trace and a diagram, and given a replay command. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Option, type Command } from "commander";
import { progressDisplay } from "../../bench/progress.js";
import { toNdjson } from "../../core/trace/ndjson.js";
import type { Strategy } from "../../core/update.js";
import { fuzz, replayCommand, type CaseResult } from "../../harness/fuzz.js";
import { InvalidOptionError } from "../../core/errors.js";
import { FAULT_SHAPE } from "../../harness/lifetime.js";
import { caseJson, fuzzLifetimes } from "../../harness/lifetime-fuzz.js";
import type { LifetimeResult } from "../../harness/lifetime-run.js";
import type { Scenario } from "../../harness/scenario.js";
import { writeSpaceTimeHtml } from "../../viz/viz-command.js";
import { describeCase, describeLifetime, lifetimeProblems, lifetimeSummary, problemsOf, summary } from "../case-report.js";
import { integer, oneStrategy, type Out } from "../options.js";
import { builtInScenarios, loadScenario } from "../scenarios.js";

interface FuzzOptions {
  readonly scenario: string;
  readonly strategy: Strategy;
  readonly runs: number;
  readonly seed: number;
  readonly nodes?: number;
  readonly out: string;
  readonly json: boolean;
  readonly lifetime: boolean;
  readonly faults: boolean;
}

export function registerFuzz(program: Command, out: Out): void {
  program
    .command("fuzz")
    .description("run many seeded simulations of a scenario with a strategy; on a failure print a shrunk counterexample, write its trace and exit 1")
    .option("--scenario <name|path>", `a built-in scenario (${builtInScenarios().join(", ")}) or a module exporting \`scenario\``, "replicated-db")
    .addOption(new Option("--strategy <name>", "the strategy to fuzz").default("naive").argParser(oneStrategy))
    .addOption(new Option("--runs <n>", "how many runs").default(200).argParser(integer("--runs", 1)))
    .addOption(new Option("--seed <n>", "seed of the first run (run i uses seed + i)").default(1).argParser(integer("--seed", 0)))
    .addOption(new Option("--nodes <n>", "fix the node count (default: drawn per run)").argParser(integer("--nodes", 1)))
    .option("--out <dir>", "where counterexample traces go", "liveswap-fuzz")
    .option("--json", "print one JSON object with the outcome", false)
    .option(
      "--lifetime",
      "draw whole lifetimes instead of one update: a chain of updates (and back-outs), reconfiguration between and right after them, refused and halted transfers, requests throughout; the failing one is written as a case file for `replay --lifetime`",
      false,
    )
    .option(
      "--faults",
      "with --lifetime: faults drawn from each lifetime's seed as well: crashes (the root's included) and restarts, partitions and heals, before an update, during its prepare or while it runs, and a group-commit window per lifetime; every node is back and every link healed before the run is judged",
      false,
    )
    .action((o: FuzzOptions) => {
      if (o.faults && !o.lifetime) throw new InvalidOptionError("--faults", "faults are drawn into lifetimes: give --lifetime too");
      return o.lifetime ? runLifetimeFuzz(o, out) : runFuzz(o, out);
    });
}

async function runFuzz(o: FuzzOptions, out: Out): Promise<void> {
  const scenario = await loadScenario(o.scenario);
  const display = o.json ? undefined : progressDisplay("runs");
  const outcome = await fuzz(scenario, o.strategy, {
    runs: o.runs,
    seed: o.seed,
    ...(o.nodes !== undefined ? { overrides: { nodes: o.nodes } } : {}),
    ...(display !== undefined ? { onRun: display.step } : {}),
  });
  display?.end();
  if (outcome.failure === undefined) {
    if (o.json) out(JSON.stringify({ scenario: scenario.name, strategy: o.strategy, runs: outcome.runs, failed: false }));
    else out(`${outcome.runs} runs of ${scenario.name} under ${o.strategy}: no violation (seeds ${o.seed}..${o.seed + o.runs - 1})`);
    return;
  }
  reportFailure(o, scenario, outcome.runs, outcome.failure, out);
  process.exitCode = 1;
}

/** Writes the shrunk counterexample's trace and diagram, and prints how to replay it. */
function reportFailure(o: FuzzOptions, scenario: Scenario, runs: number, failure: { readonly original: CaseResult; readonly shrunk: CaseResult }, out: Out): void {
  const { original, shrunk } = failure;
  mkdirSync(o.out, { recursive: true });
  const file = join(o.out, `${scenario.name}-${o.strategy}-seed${shrunk.params.seed}.ndjson`);
  writeFileSync(file, toNdjson(shrunk.trace));
  const page = file.replace(/\.ndjson$/, ".html");
  writeSpaceTimeHtml(file, { output: page, title: `${scenario.name} under ${o.strategy}: shrunk counterexample (seed ${shrunk.params.seed})` });
  const replay = replayCommand(o.scenario, o.strategy, shrunk, file);
  if (o.json) {
    out(
      JSON.stringify({
        scenario: scenario.name,
        strategy: o.strategy,
        runs,
        failed: true,
        original: summary(original),
        shrunk: summary(shrunk),
        trace: file,
        diagram: page,
        replay,
      }),
    );
    return;
  }
  out(`${scenario.name} under ${o.strategy}: run ${runs} (seed ${original.params.seed}) failed.`);
  out(`original: ${describeCase(original)}`);
  out(`shrunk:   ${describeCase(shrunk)}`);
  for (const line of problemsOf(shrunk).slice(0, 10)) out(`  ${line}`);
  out(`trace: ${file}`);
  out(`space-time diagram: ${page}`);
  out(`replay: ${replay}`);
}

async function runLifetimeFuzz(o: FuzzOptions, out: Out): Promise<void> {
  const scenario = await loadScenario(o.scenario);
  const display = o.json ? undefined : progressDisplay("lifetimes");
  const outcome = await fuzzLifetimes(scenario, o.strategy, {
    runs: o.runs,
    seed: o.seed,
    ...(o.faults ? { shape: FAULT_SHAPE } : {}),
    ...(o.nodes !== undefined ? { nodes: o.nodes } : {}),
    ...(display !== undefined ? { onRun: display.step } : {}),
  });
  display?.end();
  const what = o.faults ? "lifetimes with faults" : "lifetimes";
  if (outcome.failure === undefined) {
    if (o.json) out(JSON.stringify({ scenario: scenario.name, strategy: o.strategy, lifetimes: outcome.runs, faults: o.faults, failed: false }));
    else out(`${outcome.runs} ${what} of ${scenario.name} under ${o.strategy}: no violation (seeds ${o.seed}..${o.seed + o.runs - 1})`);
    return;
  }
  reportLifetimeFailure(o, scenario, outcome.runs, outcome.failure, out);
  process.exitCode = 1;
}

/** Writes the shrunk lifetime as a case file, its trace and diagram, and prints the replay command that reads the case file. */
function reportLifetimeFailure(o: FuzzOptions, scenario: Scenario, runs: number, failure: { readonly original: LifetimeResult; readonly shrunk: LifetimeResult }, out: Out): void {
  const { original, shrunk } = failure;
  mkdirSync(o.out, { recursive: true });
  const base = join(o.out, `${scenario.name}-${o.strategy}-lifetime${shrunk.lifetime.seed}`);
  const caseFile = `${base}.case.json`;
  const file = `${base}.ndjson`;
  writeFileSync(caseFile, caseJson(o.scenario, o.strategy, shrunk.lifetime));
  writeFileSync(file, toNdjson(shrunk.trace));
  const page = `${base}.html`;
  writeSpaceTimeHtml(file, { output: page, title: `${scenario.name} under ${o.strategy}: shrunk lifetime (seed ${shrunk.lifetime.seed})` });
  const replay = `liveswap replay --lifetime ${caseFile} --trace ${file}`;
  if (o.json) {
    out(JSON.stringify({ scenario: scenario.name, strategy: o.strategy, lifetimes: runs, faults: o.faults, failed: true, original: lifetimeSummary(original), shrunk: lifetimeSummary(shrunk), case: caseFile, trace: file, diagram: page, replay }));
    return;
  }
  out(`${scenario.name} under ${o.strategy}: lifetime ${runs} (seed ${original.lifetime.seed}) failed.`);
  out(`original: ${describeLifetime(original)}`);
  out(`shrunk:   ${describeLifetime(shrunk)}`);
  for (const line of shrunk.steps) out(`  ${line}`);
  for (const line of lifetimeProblems(shrunk).slice(0, 10)) out(`  ${line}`);
  out(`case: ${caseFile}`);
  out(`trace: ${file}`);
  out(`space-time diagram: ${page}`);
  out(`replay: ${replay}`);
}
