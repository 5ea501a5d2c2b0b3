import { readFileSync } from "node:fs";
import { describeError, LiveswapError } from "../errors.js";
import { parseTraceLines, type TraceLine } from "./ndjson.js";
import type { TraceEvent, TraceKind } from "./trace-event.js";

/** A trace file that cannot be read or is not a trace; the message names the file and, for bad content, the line. */
export class TraceFileError extends LiveswapError {
  readonly code = "TRACE_FILE";
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** The fields each kind of event must name (strings): what a reader needs to place it (a viewer, a merge). */
const NAMED_FIELDS: Record<TraceKind, readonly string[]> = {
  create: ["node", "version"],
  destroy: ["node"],
  forget: ["node"],
  link: ["a", "b"],
  unlink: ["a", "b"],
  crash: ["node"],
  restart: ["node", "version"],
  partition: ["a", "b"],
  move: ["node", "from", "to"],
  arrive: ["node", "at", "version"],
  fence: ["node", "at"],
  heal: ["a", "b"],
  suspect: ["node", "peer"],
  unsuspect: ["node", "peer"],
  send: ["node", "to", "msg"],
  deliver: ["node", "from", "msg"],
  hold: ["node", "to", "msg"],
  release: ["node", "to", "msg"],
  buffer: ["node", "from", "msg"],
  transform: ["node", "from", "to", "msg"],
  drop: ["node", "from", "msg", "reason"],
  request: ["node"],
  respond: ["node"],
  timer: ["node"],
  fault: ["node"],
  swap: ["node", "to"],
  "control-send": ["node", "to", "signal"],
  "control-receive": ["node", "from", "signal"],
  checkpoint: ["node"],
  rollback: ["node"],
  replay: ["node"],
  pulse: ["node"],
  "update-start": ["root"],
  "update-end": [],
};

/** Why a file cannot be read, in words: Node's own text ("ENOENT: no such file or directory, open ...") says it in code. */
function unreadable(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EISDIR") return "it is a directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return typeof code === "string" ? `${code} (${describeError(e)})` : describeError(e);
}

/** A trace file's text, or an error naming the file. */
export function readTraceText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new TraceFileError(file, `cannot read trace file "${file}": ${unreadable(e)}`);
  }
}

/** The records of a trace file's text, every error prefixed with the file's name. */
export function parseTraceFileLines(text: string, file: string): TraceLine[] {
  try {
    return parseTraceLines(text);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new TraceFileError(file, `${file}: ${e.message} (expected NDJSON: one trace event per line, as written by liveswap demo --trace)`);
  }
}

/** Every record must be an event this version knows, with the fields that name its nodes and messages. */
function validate(lines: readonly TraceLine[], file: string): void {
  for (const { line, event } of lines) {
    // Own properties only: a file may name any kind, "toString" included.
    const named = Object.hasOwn(NAMED_FIELDS, event.kind) ? NAMED_FIELDS[event.kind] : undefined;
    const where = `${file}: trace line ${line}`;
    if (named === undefined) throw new TraceFileError(file, `${where}: unknown event kind ${JSON.stringify(event.kind)}`);
    for (const field of named) {
      if (typeof (event as unknown as Record<string, unknown>)[field] !== "string") throw new TraceFileError(file, `${where}: a "${event.kind}" event needs a string "${field}"`);
    }
  }
}

/** The trace of a file written with --trace (NDJSON), checked event by event; an error names the file and the line. */
export function readTraceFile(file: string): TraceEvent[] {
  const lines = parseTraceFileLines(readTraceText(file), file);
  if (lines.length === 0) throw new TraceFileError(file, `${file}: no trace events (the file is empty)`);
  validate(lines, file);
  return lines.map((l) => l.event);
}
