import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { STRATEGIES, availableStrategies, checkTrace, type Strategy } from "../index.js";
import { fromNdjson, toNdjson } from "../core/trace/ndjson.js";
import { failureKinds, fuzz, paramsFor, replayCommand, runCase, type CaseResult } from "../harness/fuzz.js";
import { builtInScenarios, loadScenario } from "./scenarios.js";
import { countInterleavings, explore, type ExploreResult } from "../harness/explore.js";
import { builtInModels, loadModel } from "./explore-models.js";
import { registerViz, writeSpaceTimeHtml } from "../viz/viz-command.js";
import { measureDisruption } from "../bench/disruption.js";
import { disruptionHtml, disruptionMarkdown, disruptionTable } from "../bench/report.js";
import { runScaleInChild, type ScaleResult } from "../bench/scale.js";
import { measureOverhead } from "../bench/overhead.js";
import { runDemo } from "./demo.js";
import { registerDeploy } from "./deploy-commands.js";

function integer(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number >= ${min}, got "${value}"`);
    return n;
  };
}

function strategyList(value: string): Strategy[] {
  const names = value.split(",").map((s) => s.trim());
  for (const s of names) {
    if (!STRATEGIES.includes(s as Strategy)) throw new InvalidArgumentError(`unknown strategy "${s}"; one of ${STRATEGIES.join(", ")}`);
  }
  return names as Strategy[];
}

export function buildProgram(out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Command {
  const program = new Command();
  program.name("liveswap").description("Dynamic update of message-passing systems while they run, with a checker of the paper's invariants");

  program
    .command("demo")
    .description("the paper's experiment on the simulated network: replicated databases, search-key update, global reads during the update")
    .addOption(new Option("--strategy <names>", `strategy, or a comma-separated list (default: every available one: ${availableStrategies().join(", ")})`).argParser(strategyList))
    .addOption(new Option("--seed <n>", "seed of the simulated network").default(1).argParser(integer("--seed", 0)))
    .addOption(new Option("--nodes <n>", "replicas on the line").default(7).argParser(integer("--nodes", 2)))
    .addOption(new Option("--entries <n>", "entries per replica").default(38).argParser(integer("--entries", 1)))
    .option("--trace <file>", "write the trace as NDJSON (one file per strategy when several run)")
    .option("--json", "one JSON object per strategy, one per line", false)
    .action(async (o: { strategy?: Strategy[]; seed: number; nodes: number; entries: number; trace?: string; json: boolean }) => {
      const strategies = o.strategy ?? availableStrategies();
      const unavailable = strategies.filter((s) => !availableStrategies().includes(s));
      if (unavailable.length > 0) {
        throw new InvalidArgumentError(`strategy ${unavailable.join(", ")} is not available in this version yet (available: ${availableStrategies().join(", ")})`);
      }
      await runDemo({ strategies, seed: o.seed, nodes: o.nodes, entries: o.entries, json: o.json, ...(o.trace !== undefined ? { trace: o.trace } : {}) }, out);
    });

  program
    .command("check")
    .description("judge a trace file (NDJSON) against the three invariants; exits 1 on a violation")
    .argument("<trace>", "trace written by --trace")
    .option("--partial", "the run was not over when the trace was taken (pending messages and updates are not violations)", false)
    .option("--json", "print the report as JSON", false)
    .action((file: string, o: { partial: boolean; json: boolean }) => {
      const report = checkTrace(fromNdjson(readFileSync(file, "utf8")), { complete: !o.partial });
      if (o.json) out(JSON.stringify(report));
      else if (report.ok) out(`ok: no violation of correctness, awareness or termination in ${file}`);
      else for (const v of report.violations) out(`[${v.invariant}] at ${v.at} ms: ${v.message}`);
      if (!report.ok) process.exitCode = 1;
    });

  registerViz(program, out);

  program
    .command("bench")
    .description("measure disruption: the paper's experiment for every strategy and several seeds (virtual time), optionally scale and steady-state overhead (wall clock)")
    .addOption(new Option("--strategy <names>", "strategies (default: every available one)").argParser(strategyList))
    .addOption(new Option("--seeds <n>", "seeds 1..n per strategy").default(5).argParser(integer("--seeds", 1)))
    .addOption(new Option("--nodes <n>", "replicas on the line").default(7).argParser(integer("--nodes", 2)))
    .addOption(new Option("--entries <n>", "entries per replica").default(38).argParser(integer("--entries", 1)))
    .option("--report <dir>", "write report.md and report.html (tables and charts) there")
    .option("--scale", "also update random graphs of 1,000 / 10,000 / 50,000 nodes with conservative and cut", false)
    .option("--overhead", "also measure the steady-state overhead of idle strategy machinery", false)
    .option("--json", "one JSON object per line: one per strategy, then scale and overhead results", false)
    .action(
      async (o: { strategy?: Strategy[]; seeds: number; nodes: number; entries: number; report?: string; scale: boolean; overhead: boolean; json: boolean }) => {
        const strategies = o.strategy ?? availableStrategies();
        const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
        const bar = !o.json && process.stderr.isTTY ? progressBar(strategies.length * seeds.length, "runs") : undefined;
        const results = await measureDisruption({ strategies, seeds, nodes: o.nodes, entries: o.entries, ...(bar ? { onRun: bar } : {}) });
        if (bar) process.stderr.write("\n");
        if (o.json) for (const r of results) out(JSON.stringify({ kind: "disruption", ...r }));
        else {
          out(`The paper's experiment: ${o.nodes} replicas x ${o.entries} entries, seeds ${seeds[0]}..${seeds[seeds.length - 1]}, update from the far end.\n`);
          out(disruptionTable(results));
        }
        const scale: ScaleResult[] = [];
        if (o.scale) {
          for (const n of [1000, 10000, 50000]) for (const s of ["conservative", "cut"] as const) scale.push(await runScaleInChild(n, s));
          if (o.json) for (const r of scale) out(JSON.stringify({ kind: "scale", ...r }));
          else {
            out("\nScale (wall clock; each size in its own process):");
            for (const r of scale) {
              out(
                `  ${String(r.nodes).padStart(6)} nodes ${r.strategy.padEnd(12)} update ${r.wallMs.update.toFixed(0)} ms, whole run ${(r.wallMs.build + r.wallMs.run).toFixed(0)} ms, ` +
                  `peak RSS ${r.peakRssMb.toFixed(0)} MB, ${r.eventsPerSec.toFixed(0)} events/s, H-G ${r.duration} ms (bound ${r.bound.toFixed(1)} ms)`,
              );
            }
          }
        }
        if (o.overhead) {
          const ov = await measureOverhead();
          if (o.json) for (const r of ov) out(JSON.stringify({ kind: "overhead", ...r }));
          else {
            out("\nSteady-state overhead (wall clock, events/s of the same workload; target ratio 1.0):");
            for (const r of ov) out(`  ${r.strategy.padEnd(15)} ${r.eventsPerSec.toFixed(0)} events/s  ratio ${r.ratio.toFixed(2)}`);
          }
        }
        if (o.report !== undefined) {
          mkdirSync(o.report, { recursive: true });
          const meta = { nodes: o.nodes, entries: o.entries, seeds, date: new Date().toISOString().slice(0, 10) };
          writeFileSync(join(o.report, "report.md"), disruptionMarkdown(results, meta));
          writeFileSync(join(o.report, "report.html"), disruptionHtml(results, meta));
          if (!o.json) out(`\nreport: ${join(o.report, "report.md")}, ${join(o.report, "report.html")}`);
        }
      },
    );

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
    .action(async (o: { scenario: string; strategy: Strategy; runs: number; seed: number; nodes?: number; out: string; json: boolean }) => {
      const scenario = await loadScenario(o.scenario);
      const bar = !o.json && process.stderr.isTTY ? progressBar(o.runs) : undefined;
      const outcome = await fuzz(scenario, o.strategy, {
        runs: o.runs,
        seed: o.seed,
        ...(o.nodes !== undefined ? { overrides: { nodes: o.nodes } } : {}),
        ...(bar !== undefined ? { onRun: bar } : {}),
      });
      if (bar !== undefined) process.stderr.write("\n");
      if (outcome.failure === undefined) {
        if (o.json) out(JSON.stringify({ scenario: scenario.name, strategy: o.strategy, runs: outcome.runs, failed: false }));
        else out(`${outcome.runs} runs of ${scenario.name} under ${o.strategy}: no violation (seeds ${o.seed}..${o.seed + o.runs - 1})`);
        return;
      }
      const { original, shrunk } = outcome.failure;
      mkdirSync(o.out, { recursive: true });
      const file = join(o.out, `${scenario.name}-${o.strategy}-seed${shrunk.params.seed}.ndjson`);
      writeFileSync(file, toNdjson(shrunk.trace));
      const page = file.replace(/\.ndjson$/, ".html");
      writeSpaceTimeHtml(file, { output: page, title: `${scenario.name} under ${o.strategy}: shrunk counterexample (seed ${shrunk.params.seed})` });
      const replay = replayCommand(o.scenario, o.strategy, shrunk.params, file);
      if (o.json) {
        out(
          JSON.stringify({
            scenario: scenario.name,
            strategy: o.strategy,
            runs: outcome.runs,
            failed: true,
            original: summary(original),
            shrunk: summary(shrunk),
            trace: file,
            diagram: page,
            replay,
          }),
        );
      } else {
        out(`${scenario.name} under ${o.strategy}: run ${outcome.runs} (seed ${original.params.seed}) failed.`);
        out(`original: ${describeCase(original)}`);
        out(`shrunk:   ${describeCase(shrunk)}`);
        for (const line of problemsOf(shrunk).slice(0, 10)) out(`  ${line}`);
        out(`trace: ${file}`);
        out(`space-time diagram: ${page}`);
        out(`replay: ${replay}`);
      }
      process.exitCode = 1;
    });

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
    .action(
      async (o: { scenario: string; strategy: Strategy; seed: number; nodes?: number; requests?: number; updateAt?: number; root?: number; trace?: string; json: boolean }) => {
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
      },
    );

  program
    .command("explore")
    .description("explore every delivery order of a small scenario (and every moment to start the update); exits 1 on a violation")
    .option("--model <name|path>", `a built-in model (${builtInModels().join(", ")}) or a module exporting \`model\``, "line3")
    .addOption(new Option("--strategy <name>", "the strategy").default("conservative").argParser(oneStrategy))
    .option("--no-reduction", "explore every interleaving (no sleep sets, no state hashing)")
    .option("--compare", "also explore without reduction under the same bounds, count the unreduced paths over the state graph, and print the saving", false)
    .addOption(new Option("--max-paths <n>", "stop after this many paths").default(1_000_000).argParser(integer("--max-paths", 1)))
    .addOption(new Option("--max-time <s>", "stop after this many seconds").default(600).argParser(integer("--max-time", 1)))
    .option("--out <dir>", "where a violating path's trace goes", "liveswap-explore")
    .option("--json", "one JSON object per exploration", false)
    .action(
      async (o: { model: string; strategy: Strategy; reduction: boolean; compare: boolean; maxPaths: number; maxTime: number; out: string; json: boolean }) => {
        const model = await loadModel(o.model);
        const bounds = { maxPaths: o.maxPaths, maxTimeMs: o.maxTime * 1000 };
        const bar = !o.json && process.stderr.isTTY ? (n: number) => process.stderr.write(`\r${n} paths...`) : undefined;
        const runs: ExploreResult[] = [await explore(model, o.strategy, { ...bounds, reduction: o.reduction, ...(bar ? { onProgress: bar } : {}) })];
        if (o.compare && o.reduction) runs.push(await explore(model, o.strategy, { ...bounds, reduction: false, ...(bar ? { onProgress: bar } : {}) }));
        if (bar) process.stderr.write("\r");
        for (const r of runs) {
          let traceFile: string | undefined;
          if (r.violation !== undefined) {
            mkdirSync(o.out, { recursive: true });
            traceFile = join(o.out, `${model.name}-${o.strategy}.ndjson`);
            writeFileSync(traceFile, toNdjson(r.violation.trace));
            writeSpaceTimeHtml(traceFile, { output: traceFile.replace(/\.ndjson$/, ".html"), title: `${model.name} under ${o.strategy}: first violating path` });
          }
          if (o.json) {
            const { violation, ...rest } = r;
            out(JSON.stringify({ ...rest, ...(violation ? { violation: { path: violation.path, violations: violation.violations, problems: violation.problems, trace: traceFile } } : {}) }));
          } else {
            out(describeExploration(r));
            if (r.violation !== undefined) {
              out(`first violating path (${r.violation.path.length} steps): ${r.violation.path.join(" ")}`);
              for (const v of r.violation.violations.slice(0, 5)) out(`  [${v.invariant}] at ${v.at} ms: ${v.message}`);
              for (const p of r.violation.problems.slice(0, 5)) out(`  [safety] ${p}`);
              out(`trace: ${traceFile} (space-time diagram: ${traceFile?.replace(/\.ndjson$/, ".html")})`);
            }
          }
          if (r.violation !== undefined) process.exitCode = 1;
        }
        const [reduced, full] = runs;
        if (reduced !== undefined && full !== undefined && reduced.stateHashing && reduced.violation === undefined) {
          // The plain search's paths, counted over the state graph: exact even where running them all is hopeless.
          const counted = await countInterleavings(model, o.strategy, { maxTimeMs: o.maxTime * 1000 });
          const reducedPaths = reduced.paths + reduced.pruned;
          if (o.json) out(JSON.stringify({ unreducedPaths: counted.complete ? counted.paths : null, states: counted.states, reducedPaths }));
          else if (counted.complete) {
            out(
              `unreduced: ${counted.paths > Number.MAX_SAFE_INTEGER ? `about ${counted.paths.toExponential(3)}` : counted.paths.toLocaleString("en-US")} paths in all (counted over ${counted.states.toLocaleString("en-US")} states); ` +
                `the reduction ran ${reducedPaths.toLocaleString("en-US")} (${(counted.paths / Math.max(1, reducedPaths)).toExponential(2)}x fewer)`,
            );
          } else out(`unreduced: not counted within ${o.maxTime} s`);
        }
        if (!o.json && reduced !== undefined && full !== undefined) {
          const more = full.complete ? "" : " at least (the unreduced search hit its bound)";
          out(`reduction: ${reduced.steps.toLocaleString("en-US")} steps instead of ${full.steps.toLocaleString("en-US")}${more}; ${(full.steps / Math.max(1, reduced.steps)).toFixed(1)}x less work`);
        }
      },
    );

  registerDeploy(program, out);
  return program;
}

function describeExploration(r: ExploreResult): string {
  const how = r.reduction ? `sleep sets${r.stateHashing ? " + state hashing" : ""}` : "no reduction";
  const verdict = r.violation !== undefined ? "VIOLATION" : r.complete ? "complete, no violation" : "INCOMPLETE (bound hit), no violation so far";
  return (
    `${r.model} under ${r.strategy} (${how}): ${verdict}; ${r.paths.toLocaleString("en-US")} paths to the end, ` +
    `${r.pruned.toLocaleString("en-US")} cut short, ${r.states === undefined ? "states not hashed" : `${r.states.toLocaleString("en-US")} distinct states`}, ` +
    `${r.steps.toLocaleString("en-US")} steps, ${(r.wallMs / 1000).toFixed(1)} s`
  );
}

function oneStrategy(value: string): Strategy {
  const [s, ...rest] = strategyList(value);
  if (s === undefined || rest.length > 0) throw new InvalidArgumentError(`expected one strategy, got "${value}"`);
  return s;
}

function problemsOf(r: CaseResult): string[] {
  return [
    ...r.violations.map((v) => `[${v.invariant}] at ${v.at} ms: ${v.message}`),
    ...r.problems.map((p) => `[safety] ${p}`),
    ...(r.updateError !== undefined ? [`[update] ${r.updateError}`] : []),
  ];
}

function describeCase(r: CaseResult): string {
  const p = r.params;
  const verdict = r.failed ? `failed (${[...failureKinds(r)].join(", ")}: ${problemsOf(r).length} finding${problemsOf(r).length === 1 ? "" : "s"})` : "ok";
  const plural = (k: number, word: string): string => `${k} ${word}${k === 1 ? "" : "s"}`;
  return `seed ${p.seed}, ${plural(p.nodes, "node")}, ${plural(p.requests, "request")}, update at ${p.updateAt} ms, root #${p.root}: ${plural(r.trace.length, "event")}, ${verdict}`;
}

function summary(r: CaseResult): object {
  return {
    params: r.params,
    events: r.trace.length,
    failed: r.failed,
    violations: r.violations,
    problems: r.problems,
    ...(r.updateError !== undefined ? { updateError: r.updateError } : {}),
  };
}

/** A one-line progress bar on stderr. */
function progressBar(total: number, unit = "runs"): (done: number, total: number) => void {
  return (done) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${unit}`);
  };
}

