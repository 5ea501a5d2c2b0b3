import type { TraceEvent } from "./trace-event.js";

/** One event per line, fields in the order the runtime built them: the same run gives the same bytes. */
export function toNdjson(trace: readonly TraceEvent[]): string {
  let out = "";
  for (const ev of trace) out += `${JSON.stringify(ev)}\n`;
  return out;
}

/** Parse a trace written by toNdjson, naming the line of any bad record. */
export function fromNdjson(text: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch (e) {
      throw new SyntaxError(`trace line ${i + 1}: not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    if (ev === null || typeof ev !== "object" || typeof (ev as { kind?: unknown }).kind !== "string" || typeof (ev as { t?: unknown }).t !== "number") {
      throw new SyntaxError(`trace line ${i + 1}: not a trace event (needs "kind" and "t")`);
    }
    out.push(ev as TraceEvent);
  }
  return out;
}
