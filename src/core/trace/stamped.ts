import { parseTraceLines } from "./ndjson.js";
import type { TraceEvent } from "./trace-event.js";
import { parseTraceFileLines, readTraceText, TraceFileError } from "./trace-file.js";

/**
 * A traced event with the Lamport time of the process that recorded it: the
 * trace files of a multi-process run carry it, so merged traces keep every
 * send before its delivery.
 */
export interface StampedEvent {
  readonly lc: number;
  readonly source: string;
  readonly ev: TraceEvent;
}

/** A trace file's line: the event with its Lamport time as one more field (`lc`), written once even if the event already carries one. */
export function stampedLine(ev: TraceEvent, lc: number): string {
  // Only an event read back from a trace carries an lc of its own: the copy without it (a rest pattern, V8's slow
  // generic path) is made only then, not for every event a node records (it was a tenth of a node's time over TCP).
  const plain = Object.hasOwn(ev, "lc") ? withoutLc(ev) : ev;
  const json = JSON.stringify(plain);
  return `${json.slice(0, -1)},"lc":${lc}}\n`;
}

function withoutLc(ev: TraceEvent): TraceEvent {
  const { lc: _stale, ...plain } = ev as TraceEvent & { lc?: unknown };
  return plain as TraceEvent;
}

const NO_LC = 'no Lamport time (a number "lc"): not written by stampedLine';

function lcOf(event: TraceEvent): number | undefined {
  const lc = (event as TraceEvent & { lc?: unknown }).lc;
  return typeof lc === "number" ? lc : undefined;
}

/** The events of a trace text written with stampedLine, as recorded by `source`; `ev` keeps its `lc` field. */
export function readStamped(text: string, source: string): StampedEvent[] {
  return parseTraceLines(text).map(({ line, event }) => {
    const lc = lcOf(event);
    if (lc === undefined) throw new SyntaxError(`trace line ${line}: ${NO_LC}`);
    return { lc, source, ev: event };
  });
}

/** The events of a stamped trace file; an error names the file and the line. */
export function readStampedFile(file: string, source: string): StampedEvent[] {
  return parseTraceFileLines(readTraceText(file), file).map(({ line, event }) => {
    const lc = lcOf(event);
    if (lc === undefined) throw new TraceFileError(file, `${file}: trace line ${line}: ${NO_LC}`);
    return { lc, source, ev: event };
  });
}
