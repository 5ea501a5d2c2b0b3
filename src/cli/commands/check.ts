/** `liveswap check`: judge a trace file against the invariants. */
import type { Command } from "commander";
import { checkTrace } from "../../check/checker.js";
import { readTraceFile } from "../../core/trace/trace-file.js";
import type { Out } from "../options.js";

export function registerCheck(program: Command, out: Out): void {
  program
    .command("check")
    .description("judge a trace file (NDJSON) against the three invariants; exits 1 on a violation")
    .argument("<trace>", "trace written by --trace")
    .option("--partial", "the run was not over when the trace was taken (pending messages and updates are not violations)", false)
    .option("--json", "print the report as JSON", false)
    .action((file: string, o: { partial: boolean; json: boolean }) => {
      const report = checkTrace(readTraceFile(file), { complete: !o.partial });
      if (o.json) out(JSON.stringify(report));
      else if (report.ok) out(`ok: no violation of correctness, awareness or termination in ${file}`);
      else for (const v of report.violations) out(`[${v.invariant}] at ${v.at} ms: ${v.message}`);
      if (!report.ok) process.exitCode = 1;
    });
}
