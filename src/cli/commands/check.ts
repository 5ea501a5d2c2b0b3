/** `liveswap check`: judge a trace file against the invariants. */
import type { Command } from "commander";
import { count } from "../../bench/format.js";
import { checkTrace, type CheckReport, type Invariant } from "../../check/checker.js";
import type { TraceEvent } from "../../core/trace/trace-event.js";
import { readTraceFile, TraceFileError } from "../../core/trace/trace-file.js";
import type { Out } from "../options.js";

const INVARIANTS: readonly Invariant[] = ["correctness", "awareness", "termination"];

/** What the checker judged: the figures a user needs to trust an "ok" (an ok on 3 events says little). */
export interface TraceSummary {
  readonly events: number;
  readonly nodes: number;
  /** Application messages sent (new-equivalents made by transforms are not counted). */
  readonly messages: number;
  /** Distinct update ids of the update's own events (start, swap, end): control messages may carry other ids (pulses). */
  readonly updates: number;
  /** The strategies the update-start events name. */
  readonly strategies: readonly string[];
  readonly violations: Readonly<Record<Invariant, number>>;
}

export function registerCheck(program: Command, out: Out): void {
  program
    .command("check")
    .description("judge a trace file (NDJSON) against the three invariants and print what it judged; exits 1 on a violation, 2 on a file that is not a trace or is empty")
    .argument("<trace>", "trace written by --trace")
    .option("--partial", "the run was not over when the trace was taken (pending messages and updates are not violations)", false)
    .option("--json", "print the report as JSON (with its summary)", false)
    .action((file: string, o: { partial: boolean; json: boolean }) => {
      const trace = readTraceFile(file);
      const report = checkTrace(trace, { complete: !o.partial });
      const summary = summarize(trace, report);
      // A trace that names no node judged nothing: an "ok" on it would be a false comfort.
      if (summary.nodes === 0) throw new TraceFileError(file, `${file}: the trace names no node, so there is nothing to judge; pass a trace written by liveswap demo --trace, replay --trace or ctl trace`);
      if (o.json) out(JSON.stringify({ ...report, summary }));
      else {
        for (const v of report.violations) out(`[${v.invariant}] at ${v.at} ms: ${v.message}`);
        out(summaryLine(file, summary, report.ok));
      }
      if (!report.ok) process.exitCode = 1;
    });
}

export function summarize(trace: readonly TraceEvent[], report: CheckReport): TraceSummary {
  const nodes = new Set<string>();
  const updates = new Set<number>();
  const strategies = new Set<string>();
  let messages = 0;
  for (const ev of trace) {
    // Ids starting with "@" are the runtime's own (the coordinator), not nodes of the system.
    if ("node" in ev && !ev.node.startsWith("@")) nodes.add(ev.node);
    if (ev.kind === "update-start" || ev.kind === "swap" || ev.kind === "update-end") updates.add(ev.update);
    if (ev.kind === "update-start") strategies.add(ev.strategy);
    if (ev.kind === "send") messages++;
  }
  const violations = { correctness: 0, awareness: 0, termination: 0 };
  for (const v of report.violations) violations[v.invariant]++;
  return { events: trace.length, nodes: nodes.size, messages, updates: updates.size, strategies: [...strategies].sort(), violations };
}

/** One line: what was judged and the verdict per invariant, so that "ok" says what it covers. */
export function summaryLine(file: string, s: TraceSummary, ok: boolean): string {
  const plural = (n: number, one: string): string => `${count(n)} ${one}${n === 1 ? "" : "s"}`;
  const updates = `${plural(s.updates, "update")}${s.strategies.length > 0 ? ` (${s.strategies.join(", ")})` : ""}`;
  const judged = `${file}: ${plural(s.events, "event")} judged: ${plural(s.nodes, "node")}, ${plural(s.messages, "message")} sent, ${updates}`;
  const total = INVARIANTS.reduce((n, i) => n + s.violations[i], 0);
  const by = INVARIANTS.map((i) => `${i} ${s.violations[i]}`).join(", ");
  return ok ? `${judged}; ok: no violation (${by})` : `${judged}; ${plural(total, "violation")} (${by})`;
}
