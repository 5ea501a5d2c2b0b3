/** `liveswap explore`: every delivery order of a small model (and every moment to start the update), with or without reduction. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Option, type Command } from "commander";
import { count, fixed } from "../../bench/format.js";
import { progressDisplay } from "../../bench/progress.js";
import { toNdjson } from "../../core/trace/ndjson.js";
import type { Strategy } from "../../core/update.js";
import { countInterleavings, explore, type ExploreModel, type ExploreResult } from "../../harness/explore.js";
import { writeSpaceTimeHtml } from "../../viz/viz-command.js";
import { builtInModels, loadModel } from "../explore-models.js";
import { integer, oneStrategy, type Out } from "../options.js";

/**
 * The plain search's default time bound under --compare: it is complete only
 * on the smallest model (pair: 558,648 paths, minutes), so its own bound, not
 * the reduced search's 600 s, decides how long --compare runs; 30 s shows the
 * gap without making a user wait minutes for a number that only says "more".
 */
const COMPARE_MAX_TIME_S = 30;

interface ExploreOptions {
  readonly model: string;
  readonly strategy: Strategy;
  readonly reduction: boolean;
  readonly compare: boolean;
  readonly maxPaths: number;
  readonly maxTime: number;
  readonly compareMaxTime: number;
  readonly out: string;
  readonly json: boolean;
}

export function registerExplore(program: Command, out: Out): void {
  program
    .command("explore")
    .description("explore every delivery order of a small scenario (and every moment to start the update); exits 1 on a violation")
    .option("--model <name|path>", `a built-in model (${builtInModels().join(", ")}) or a module exporting \`model\``, "line3")
    .addOption(new Option("--strategy <name>", "the strategy").default("conservative").argParser(oneStrategy))
    .option("--no-reduction", "explore every interleaving (no sleep sets, no state hashing)")
    .option(
      "--compare",
      "after the reduced search, run the plain search (no reduction) for at most --compare-max-time seconds and --max-paths paths, " +
        "count the unreduced paths over the state graph (at most --max-time), and print the saving (the plain search is hopeless beyond pair: it stops at its bound)",
      false,
    )
    .addOption(new Option("--max-paths <n>", "stop after this many paths").default(1_000_000).argParser(integer("--max-paths", 1)))
    .addOption(new Option("--max-time <s>", "stop after this many seconds").default(600).argParser(integer("--max-time", 1)))
    .addOption(new Option("--compare-max-time <s>", "with --compare: the plain search's time bound, in seconds").default(COMPARE_MAX_TIME_S).argParser(integer("--compare-max-time", 1)))
    .option("--out <dir>", "where a violating path's trace goes", "liveswap-explore")
    .option("--json", "one JSON object per exploration", false)
    .action((o: ExploreOptions) => runExplore(o, out));
}

async function runExplore(o: ExploreOptions, out: Out): Promise<void> {
  const model = await loadModel(o.model);
  const bounds = { maxPaths: o.maxPaths, maxTimeMs: o.maxTime * 1000 };
  const display = o.json ? undefined : progressDisplay("paths");
  const progress = display ? { onProgress: display.step } : {};
  const comparing = o.compare && o.reduction;
  if (comparing && !o.json) out(comparePlan(o));
  const runs: ExploreResult[] = [await explore(model, o.strategy, { ...bounds, reduction: o.reduction, ...progress })];
  if (comparing) runs.push(await explore(model, o.strategy, { maxPaths: o.maxPaths, maxTimeMs: o.compareMaxTime * 1000, reduction: false, ...progress }));
  display?.end();
  for (const r of runs) reportRun(model, r, o, out);
  const [reduced, full] = runs;
  if (reduced !== undefined && full !== undefined) await reportSaving(model, reduced, full, o, out);
}

/** One exploration: its verdict and, for a violation, the path, the findings and the trace written. */
function reportRun(model: ExploreModel, r: ExploreResult, o: ExploreOptions, out: Out): void {
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

/** What --compare will do and how long it may take, said before it starts: the plain search runs to its bound on all but tiny models. */
function comparePlan(o: ExploreOptions): string {
  return (
    `--compare: after the reduced search, the plain search (every interleaving, no reduction) runs for at most ${o.compareMaxTime} s ` +
    `(--compare-max-time) or ${count(o.maxPaths)} paths, then the unreduced paths are counted over the state graph (at most ${o.maxTime} s, --max-time)`
  );
}

/** --compare: what the reduction saved, against the unreduced paths counted over the state graph. */
async function reportSaving(model: ExploreModel, reduced: ExploreResult, full: ExploreResult, o: ExploreOptions, out: Out): Promise<void> {
  if (!o.json && !full.complete) {
    out(`the unreduced search hit its bound after ${fixed(full.wallMs / 1000, 1)} s (${count(full.paths)} paths, ${count(full.steps)} steps): the saving below is a lower bound`);
  }
  if (reduced.stateHashing && reduced.violation === undefined) {
    // The plain search's paths, counted over the state graph: exact even where running them all is hopeless.
    const counted = await countInterleavings(model, o.strategy, { maxTimeMs: o.maxTime * 1000 });
    const reducedPaths = reduced.paths + reduced.pruned;
    if (o.json) out(JSON.stringify({ unreducedPaths: counted.complete ? counted.paths : null, states: counted.states, reducedPaths }));
    else if (counted.complete) {
      out(
        `unreduced: ${counted.paths > Number.MAX_SAFE_INTEGER ? `about ${counted.paths.toExponential(3)}` : count(counted.paths)} paths in all (counted over ${count(counted.states)} states); ` +
          `the reduction ran ${count(reducedPaths)} (${(counted.paths / Math.max(1, reducedPaths)).toExponential(2)}x fewer)`,
      );
    } else out(`unreduced: not counted within ${o.maxTime} s`);
  }
  if (!o.json) {
    const more = full.complete ? "" : " at least";
    out(`reduction: ${count(reduced.steps)} steps instead of ${count(full.steps)}${more}; ${fixed(full.steps / Math.max(1, reduced.steps), 1)}x less work${more}`);
  }
}

function describeExploration(r: ExploreResult): string {
  const how = r.reduction ? `sleep sets${r.stateHashing ? " + state hashing" : ""}` : "no reduction";
  const verdict = r.violation !== undefined ? "VIOLATION" : r.complete ? "complete, no violation" : "INCOMPLETE (bound hit), no violation so far";
  return (
    `${r.model} under ${r.strategy} (${how}): ${verdict}; ${count(r.paths)} paths to the end, ` +
    `${count(r.pruned)} cut short, ${r.states === undefined ? "states not hashed" : `${count(r.states)} distinct states`}, ` +
    `${count(r.steps)} steps, ${fixed(r.wallMs / 1000, 1)} s`
  );
}
