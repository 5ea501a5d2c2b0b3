import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { messageId } from "../ids.js";
import { toNdjson } from "./ndjson.js";
import { readStamped, readStampedFile, stampedLine } from "./stamped.js";
import type { TraceEvent } from "./trace-event.js";
import { readTraceFile, TraceFileError } from "./trace-file.js";

const dir = mkdtempSync(join(tmpdir(), "liveswap-trace-file-"));
const trace: TraceEvent[] = [
  { kind: "create", t: 0, node: "a", version: "v1", epoch: 0 },
  { kind: "create", t: 0, node: "b", version: "v1", epoch: 0 },
  { kind: "send", t: 1, node: "a", to: "b", msg: messageId("a.1"), epoch: 0 },
  { kind: "deliver", t: 3, node: "b", from: "a", msg: messageId("a.1"), epoch: 0 },
];
const file = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe("reading a trace file", () => {
  it("reads what toNdjson wrote, blank lines and all", () => {
    expect(readTraceFile(file("ok.ndjson", `\n${toNdjson(trace)}\n\n`))).toEqual(trace);
  });

  it("names the file, and the line of a bad record", () => {
    const bad = file("bad.ndjson", `${JSON.stringify(trace[0])}\n\n{"kind":"send",\n`);
    expect(() => readTraceFile(bad)).toThrow(`${bad}: trace line 3: not JSON`);
    const noKind = file("nokind.ndjson", `${JSON.stringify(trace[0])}\n{"t":1}\n`);
    expect(() => readTraceFile(noKind)).toThrow(`${noKind}: trace line 2: not a trace event`);
    const unknown = file("unknown.ndjson", `${JSON.stringify(trace[0])}\n{"kind":"toString","t":1}\n`);
    expect(() => readTraceFile(unknown)).toThrow(`${unknown}: trace line 2: unknown event kind "toString"`);
    const field = file("field.ndjson", `{"kind":"send","t":1,"node":"a","msg":"a.1"}\n`);
    expect(() => readTraceFile(field)).toThrow(`${field}: trace line 1: a "send" event needs a string "to"`);
    expect(() => readTraceFile(file("empty.ndjson", "\n\n"))).toThrow("no trace events");
  });

  it("says a file is missing in words, not Node's error code text", () => {
    const missing = join(dir, "missing.ndjson");
    let error: unknown;
    try {
      readTraceFile(missing);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TraceFileError);
    expect((error as TraceFileError).message).toBe(`cannot read trace file "${missing}": no such file`);
    expect((error as TraceFileError).file).toBe(missing);
    expect(() => readTraceFile(dir)).toThrow(`cannot read trace file "${dir}": it is a directory`);
  });
});

describe("stamped trace lines (multi-process traces)", () => {
  it("round-trips an event and its Lamport time, as one field", () => {
    const text = trace.map((ev, i) => stampedLine(ev, i + 10)).join("");
    expect(text.split("\n")[0]).toBe('{"kind":"create","t":0,"node":"a","version":"v1","epoch":0,"lc":10}');
    const back = readStamped(text, "a");
    expect(back.map((e) => e.lc)).toEqual([10, 11, 12, 13]);
    expect(back.every((e) => e.source === "a")).toBe(true);
    expect(back[2]?.ev).toMatchObject(trace[2] as TraceEvent);
    // Written again (a retired node's events): still one "lc", the new one.
    expect(stampedLine((back[0] as { ev: TraceEvent }).ev, 99)).toBe('{"kind":"create","t":0,"node":"a","version":"v1","epoch":0,"lc":99}\n');
  });

  it("refuses a line without a Lamport time, naming the file and the line", () => {
    const f = file("unstamped.ndjson", `${stampedLine(trace[0] as TraceEvent, 1)}${JSON.stringify(trace[1])}\n`);
    expect(() => readStampedFile(f, "a")).toThrow(`${f}: trace line 2: no Lamport time`);
    expect(() => readStamped(`${JSON.stringify(trace[1])}\n`, "a")).toThrow("trace line 1: no Lamport time");
    expect(readStampedFile(file("stamped.ndjson", stampedLine(trace[0] as TraceEvent, 7)), "a")[0]?.lc).toBe(7);
  });
});
