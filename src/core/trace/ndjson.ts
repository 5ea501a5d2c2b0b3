import { describeError } from "../errors.js";
import type { TraceEvent } from "./trace-event.js";

/** One event per line, fields in the order the runtime built them: the same run gives the same bytes. */
export function toNdjson(trace: readonly TraceEvent[]): string {
  let out = "";
  for (const ev of trace) out += `${JSON.stringify(ev)}\n`;
  return out;
}

/** A parsed record and the (1-based) line it came from, so later checks can name the line too. */
export interface TraceLine {
  readonly line: number;
  readonly event: TraceEvent;
}

/** The one NDJSON trace parser: every reader of trace text goes through it. Blank lines are skipped. */
export function parseTraceLines(text: string): TraceLine[] {
  const out: TraceLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch (e) {
      throw new SyntaxError(`trace line ${i + 1}: not JSON (${describeError(e)})`);
    }
    if (ev === null || typeof ev !== "object" || typeof (ev as { kind?: unknown }).kind !== "string" || typeof (ev as { t?: unknown }).t !== "number") {
      throw new SyntaxError(`trace line ${i + 1}: not a trace event (needs "kind" and "t")`);
    }
    out.push({ line: i + 1, event: ev as TraceEvent });
  }
  return out;
}

/** Parse a trace written by toNdjson, naming the line of any bad record. */
export function fromNdjson(text: string): TraceEvent[] {
  return parseTraceLines(text).map((l) => l.event);
}
