import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { STRATEGIES, availableStrategies, checkTrace, type Strategy } from "../index.js";
import { fromNdjson } from "../check/ndjson.js";
import { runDemo } from "./demo.js";

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

  return program;
}

