import { writeFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { checkTrace, type Violation } from "../check/checker.js";
import { FileAccessError, InvalidTraceError, messageOf } from "../core/errors.js";
import { readTraceFile } from "../core/trace/trace-file.js";
import { DEFAULT_MAX_EVENTS } from "./model.js";
import { renderSpaceTimePage, type SpaceTimeStats } from "./space-time.js";

export interface VizOptions {
  readonly output: string;
  readonly title?: string;
  readonly partial?: boolean;
  readonly controlPlane?: boolean;
  readonly maxEvents?: number;
  readonly pxPerMs?: number;
}

/** Read, judge and draw a trace file; write the page. */
export function writeSpaceTimeHtml(file: string, o: VizOptions): { stats: SpaceTimeStats; violations: readonly Violation[]; bytes: number } {
  const trace = readTraceFile(file);
  let violations: Violation[];
  try {
    violations = checkTrace(trace, { complete: o.partial !== true }).violations;
  } catch (e) {
    throw new InvalidTraceError(`${file}: the checker could not judge the trace: ${messageOf(e)}`);
  }
  const { html, stats } = renderSpaceTimePage(trace, {
    violations,
    title: o.title ?? `liveswap: ${file}`,
    ...(o.controlPlane === true ? { controlPlane: true } : {}),
    ...(o.maxEvents !== undefined ? { maxEvents: o.maxEvents } : {}),
    ...(o.pxPerMs !== undefined ? { pxPerMs: o.pxPerMs } : {}),
  });
  try {
    writeFileSync(o.output, html);
  } catch (e) {
    throw new FileAccessError(o.output, "write", messageOf(e));
  }
  return { stats, violations, bytes: Buffer.byteLength(html) };
}

function positive(name: string, integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`${name} must be a ${integer ? "whole " : ""}number > 0, got "${value}"`);
    return n;
  };
}

/** `liveswap viz TRACE -o FILE.html`: the trace as a space-time diagram in one self-contained HTML page. */
export function registerViz(program: Command, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
  program
    .command("viz")
    .description("draw a trace (NDJSON) as a space-time diagram in a self-contained HTML page, the checker's violations highlighted")
    .argument("<trace>", "trace written by --trace")
    .addOption(new Option("-o, --output <file>", "the HTML file to write (required)").makeOptionMandatory())
    .option("--title <text>", "the page's title (default: the trace file's name)")
    .option("--partial", "the run was not over when the trace was taken (pending messages and updates are not violations)")
    .option("--control-plane", "draw the update coordinator's lane and its messages (left out by default)")
    .addOption(new Option("--max-events <n>", "draw only the first n events of a longer trace").default(DEFAULT_MAX_EVENTS).argParser(positive("--max-events", true)))
    .addOption(new Option("--px-per-ms <n>", "horizontal scale, pixels per virtual ms (default 8; lowered for long traces)").argParser(positive("--px-per-ms", false)))
    .action((file: string, o: { output: string; title?: string; partial?: boolean; controlPlane?: boolean; maxEvents: number; pxPerMs?: number }) => {
      const r = writeSpaceTimeHtml(file, {
        output: o.output,
        partial: o.partial === true,
        controlPlane: o.controlPlane === true,
        maxEvents: o.maxEvents,
        ...(o.title !== undefined ? { title: o.title } : {}),
        ...(o.pxPerMs !== undefined ? { pxPerMs: o.pxPerMs } : {}),
      });
      const s = r.stats;
      out(
        `wrote ${o.output} (${Math.ceil(r.bytes / 1024)} KB): ${s.nodes} nodes, ${s.messages} messages, ${s.controlMessages} control messages, ` +
          `${r.violations.length} violation${r.violations.length === 1 ? "" : "s"}`,
      );
      if (s.truncated) out(`the trace has ${s.eventsTotal} events: only the first ${s.eventsDrawn} are drawn (--max-events)`);
    });
}
