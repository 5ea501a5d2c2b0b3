/** `liveswap bench` (and `npm run bench`, which runs it): the benchmark runner of src/bench. */
import { InvalidArgumentError, Option, type Command } from "commander";
import { BENCHMARKS, benchmarkList, runBenchmarks, unknownBenchmarks } from "../../bench/run.js";
import { availableStrategies, type Strategy } from "../../index.js";
import { integer, strategyList, type Out } from "../options.js";

interface BenchCommandOptions {
  readonly list: boolean;
  readonly strategy?: Strategy[];
  readonly seeds: number;
  readonly nodes: number;
  readonly entries: number;
  readonly report?: string;
  readonly rate?: number;
  readonly scale: boolean;
  readonly overhead: boolean;
  readonly json: boolean;
}

export function registerBench(program: Command, out: Out): void {
  program
    .command("bench")
    .description(
      "run benchmarks: disruption (the paper's experiment for every strategy and several seeds, virtual time), sim-speed, scale, overhead, tcp (wall clock); every one when none is named",
    )
    .argument("[names...]", `benchmarks to run (${BENCHMARKS.map((b) => b.name).join(", ")}); default: all`)
    .option("--list", "list the benchmarks and exit", false)
    .addOption(new Option("--strategy <names>", "disruption: strategies (default: every available one)").argParser(strategyList))
    .addOption(new Option("--seeds <n>", "disruption: seeds 1..n per strategy").default(5).argParser(integer("--seeds", 1)))
    .addOption(new Option("--nodes <n>", "disruption: replicas on the line").default(7).argParser(integer("--nodes", 2)))
    .addOption(new Option("--entries <n>", "disruption: entries per replica").default(38).argParser(integer("--entries", 1)))
    .addOption(new Option("--rate <n>", "realtime: global reads/s from r0, open loop, in both halves (default 200, the paper's)").argParser(integer("--rate", 1)))
    .option("--report <dir>", "disruption: write report.md and report.html (tables and charts) there")
    .option("--scale", "run disruption and scale (random graphs of 1,000 / 10,000 / 50,000 nodes, conservative and cut), with any benchmark named", false)
    .option("--overhead", "run disruption and overhead (steady-state cost of idle strategy machinery), with any benchmark named", false)
    .option("--json", "one JSON object per line on stdout (each names its benchmark); use npm run -s to keep npm's banner off stdout", false)
    .action(async (names: string[], o: BenchCommandOptions) => {
      if (o.list) {
        for (const line of benchmarkList()) out(line);
        return;
      }
      const unknown = unknownBenchmarks(names);
      if (unknown.length > 0) throw new InvalidArgumentError(`unknown benchmark(s) ${unknown.join(", ")}; one of ${BENCHMARKS.map((b) => b.name).join(", ")}`);
      const ok = await runBenchmarks(
        {
          names: chosen(names, o),
          json: o.json,
          strategies: o.strategy ?? availableStrategies(),
          seeds: o.seeds,
          nodes: o.nodes,
          entries: o.entries,
          ...(o.report !== undefined ? { report: o.report } : {}),
          ...(o.rate !== undefined ? { rate: o.rate } : {}),
        },
        out,
      );
      if (!ok) process.exitCode = 1;
    });
}

/** --scale and --overhead keep their older meaning, "the disruption run and this one", added to any benchmark named. */
function chosen(names: readonly string[], o: BenchCommandOptions): string[] {
  const flags = [...(o.scale ? ["scale"] : []), ...(o.overhead ? ["overhead"] : [])];
  if (flags.length === 0) return [...names];
  return [...new Set([...names, "disruption", ...flags])];
}
