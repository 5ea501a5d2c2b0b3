import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { StampedEvent } from "../core/trace/stamped.js";
import { DEFAULT_TRACE_RETENTION, parseCluster } from "./cluster-file.js";
import { mergeAtHorizon, NodeTrace, readSegments, segmentDir, StreamedReply, streamedTrace, type TraceMark } from "./node-trace.js";

const retention = { segmentBytes: 4096, maxBytes: 16384 };

/** A send event of `a` numbered i, stamped with Lamport time 1000 + i (about 100 bytes a line). */
function record(t: NodeTrace, from: number, to: number): void {
  for (let i = from; i < to; i++) t.record({ kind: "send", t: i, node: "a", to: "b", msg: `a.${i}`, epoch: 0 } as TraceEvent, 1000 + i);
}

const numbers = (events: readonly StampedEvent[]): number[] => events.map((e) => e.lc - 1000);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const segmentsOf = (dir: string): string[] => readdirSync(segmentDir(dir, "a")).filter((f) => f.endsWith(".ndjson")).sort();
const bytesOn = (dir: string): number => segmentsOf(dir).reduce((sum, f) => sum + statSync(join(segmentDir(dir, "a"), f)).size, 0);

describe("a node's trace: rotated segments bounded by retention", () => {
  it("on disk: segments of about segmentBytes, the oldest deleted beyond maxBytes, what was dropped counted and kept across a reopen", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-trace-"));
    const t = NodeTrace.open({ dir, id: "a", retention });
    for (let k = 0; k < 40; k++) {
      record(t, k * 50, (k + 1) * 50);
      t.flush();
      // The bound holds after every flush, not only at the end; and once it was reached, the trace keeps as much as it
      // allows (only the oldest segments that must go are deleted).
      expect(bytesOn(dir)).toBeLessThanOrEqual(retention.maxBytes);
      if (t.horizon().droppedSegments > 0) expect(bytesOn(dir)).toBeGreaterThan(retention.maxBytes - retention.segmentBytes - 1024);
    }
    const files = segmentsOf(dir);
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files.slice(0, -1)) expect(statSync(join(segmentDir(dir, "a"), f)).size).toBeLessThanOrEqual(retention.segmentBytes + 200);
    const kept = t.events();
    const h = t.horizon();
    expect(h.droppedSegments).toBeGreaterThan(10);
    // Nothing lost between what was dropped and what is kept: the kept events are exactly the newest ones, in order.
    expect(h.droppedEvents + kept.length).toBe(2000);
    expect(numbers(kept)).toEqual(range(h.droppedEvents, 2000));
    expect(bytesOn(dir)).toBe(t.heldBytes());
    t.close();

    // Another life of the node: numbering goes on after the newest segment; the horizon is remembered.
    const again = NodeTrace.open({ dir, id: "a", retention });
    expect(again.horizon()).toEqual(h);
    record(again, 2000, 2400);
    again.close();
    const read = readSegments(dir, "a");
    expect(read?.horizon.droppedEvents).toBeGreaterThan(h.droppedEvents);
    expect(numbers(read?.events ?? [])).toEqual(range(read?.horizon.droppedEvents ?? 0, 2400));
    expect(JSON.parse(readFileSync(join(segmentDir(dir, "a"), "horizon.json"), "utf8"))).toMatchObject(read?.horizon ?? {});
  });

  it("in memory (no trace directory): the same bound and the same horizon", () => {
    const t = NodeTrace.open({ dir: undefined, id: "a", retention });
    for (let k = 0; k < 40; k++) {
      record(t, k * 50, (k + 1) * 50);
      t.flush();
      expect(t.heldBytes()).toBeLessThanOrEqual(retention.maxBytes);
    }
    const kept = t.events();
    expect(t.horizon().droppedEvents + kept.length).toBe(2000);
    expect(numbers(kept)).toEqual(range(t.horizon().droppedEvents, 2000));
    // Memory has no bookmark: only a trace on disk survives a crash.
    expect(t.mark()).toBeUndefined();
  });

  it("streams in pieces of whole lines at most the size asked, and a read in progress survives retention deleting its segments", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-trace-"));
    const t = NodeTrace.open({ dir, id: "a", retention });
    record(t, 0, 150);
    t.flush();
    const reader = t.pieces(1000);
    const first = reader.next();
    // Meanwhile the node goes on: enough to rotate and delete every segment the reader holds.
    record(t, 150, 1000);
    t.flush();
    expect(t.horizon().droppedEvents).toBeGreaterThan(150);
    const pieces = [first.value as string, ...reader];
    for (const p of pieces) {
      expect(p.length).toBeLessThanOrEqual(1000);
      expect(p.endsWith("\n")).toBe(true);
    }
    // The snapshot taken when the read began: events 0..149, whole.
    expect(numbers(streamedTrace("a", new StreamedReply({ chunks: pieces.length, horizon: t.horizon() }, pieces)).events)).toEqual(range(0, 150));
    t.close();
  });

  it("its tail: the last events only, whole lines, across segments, on disk and in memory; all of it when it is shorter", () => {
    for (const dir of [mkdtempSync(join(tmpdir(), "liveswap-trace-")), undefined]) {
      const t = NodeTrace.open({ dir, id: "a", retention });
      record(t, 0, 100);
      const events = (pieces: Iterable<string>): number[] => {
        const all = [...pieces];
        return numbers(streamedTrace("a", new StreamedReply({ chunks: all.length, horizon: t.horizon() }, all)).events);
      };
      const last = events(t.tail(6000, 1000)); // more than one 4,096-byte segment
      expect(last.length).toBeGreaterThan(40);
      expect(last.length).toBeLessThan(100);
      expect(last).toEqual(range(100 - last.length, 100));
      expect(events(t.tail(1 << 20, 1000))).toEqual(range(0, 100));
      t.close();
    }
  });

  it("its tail cuts at a line's start in bytes, whatever the characters (multi-byte UTF-8 in the events)", () => {
    for (const dir of [mkdtempSync(join(tmpdir(), "liveswap-trace-")), undefined]) {
      const t = NodeTrace.open({ dir, id: "a", retention });
      for (let i = 0; i < 100; i++) t.record({ kind: "send", t: i, node: "a", to: "b", msg: `a.${i}→é€𝄞`, epoch: 0 } as TraceEvent, 1000 + i);
      for (const bytes of [777, 3000, 6000, 9001]) {
        const all = [...t.tail(bytes, 500)];
        const got = numbers(streamedTrace("a", new StreamedReply({ chunks: all.length, horizon: t.horizon() }, all)).events);
        expect(got.length, `${bytes} bytes`).toBeGreaterThan(0);
        expect(got).toEqual(range(100 - got.length, 100));
        expect(Buffer.byteLength(all.join(""))).toBeLessThanOrEqual(bytes);
      }
      t.close();
    }
  });

  it("a reply whose piece count does not match is refused as incomplete, naming the node", () => {
    expect(() => streamedTrace("a", new StreamedReply({ chunks: 3, horizon: { droppedSegments: 0, droppedEvents: 0, droppedBytes: 0 } }, ["x"]))).toThrow(/trace of node "a" arrived incomplete \(1 of 3 pieces came\)/);
    expect(() => streamedTrace("a", [])).toThrow(/not a trace reply/);
  });
});

describe("a durable node's trace bookmark (segment and offset)", () => {
  it("recovery cuts back across a segment boundary: later segments go, the bookmark's is truncated, and the trace goes on after it", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-trace-"));
    const t = NodeTrace.open({ dir, id: "a", retention: { segmentBytes: 4096, maxBytes: 1 << 20 } });
    record(t, 0, 100);
    const mark = t.mark()?.trace as TraceMark; // the last commit
    record(t, 100, 300); // steps that never committed: they rotate into later segments
    t.flush();
    expect(Math.max(...segmentsOf(dir).map((f) => Number(f.slice(0, 6))))).toBeGreaterThan(mark.segment + 1);
    // kill -9: no close. The restarted process cuts back to the bookmark its store holds.
    const again = NodeTrace.open({ dir, id: "a", retention: { segmentBytes: 4096, maxBytes: 1 << 20 }, cutTo: { trace: mark } });
    expect(numbers(again.events())).toEqual(range(0, 100));
    expect(segmentsOf(dir).map((f) => Number(f.slice(0, 6)))).toEqual(range(1, mark.segment + 1));
    // And then: the next life's events follow, and a second crash cuts back to its own bookmark.
    record(again, 500, 600);
    const second = again.mark()?.trace as TraceMark;
    record(again, 600, 700);
    again.flush();
    const third = NodeTrace.open({ dir, id: "a", retention: { segmentBytes: 4096, maxBytes: 1 << 20 }, cutTo: { trace: second } });
    expect(numbers(third.events())).toEqual([...range(0, 100), ...range(500, 600)]);
    third.close();
  });

  it("a bookmark whose segment retention deleted keeps nothing after it, and new segments still sort after it", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-trace-"));
    const t = NodeTrace.open({ dir, id: "a", retention });
    record(t, 0, 30);
    const mark = t.mark()?.trace as TraceMark;
    record(t, 30, 1000); // uncommitted, and enough for retention to delete the bookmark's segment
    t.flush();
    expect(existsSync(join(segmentDir(dir, "a"), `${String(mark.segment).padStart(6, "0")}.ndjson`))).toBe(false);
    const again = NodeTrace.open({ dir, id: "a", retention, cutTo: { trace: mark } });
    expect(again.events()).toEqual([]);
    record(again, 2000, 2010);
    again.flush();
    expect(segmentsOf(dir).map((f) => Number(f.slice(0, 6))).every((n) => n > mark.segment)).toBe(true);
    expect(numbers(again.events())).toEqual(range(2000, 2010));
    again.close();
  });

  it("the bookmark of an older liveswap (a length of <id>.ndjson) still cuts that file", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-trace-"));
    writeFileSync(join(dir, "a.ndjson"), "0123456789");
    NodeTrace.open({ dir, id: "a", retention, cutTo: { trace: 4 } }).close();
    expect(readFileSync(join(dir, "a.ndjson"), "utf8")).toBe("0123");
  });
});

describe("merging node traces at the retention horizon", () => {
  const ev = (source: string, lc: number, e: Partial<TraceEvent> = {}): StampedEvent => ({ source, lc, ev: { kind: "timer", t: lc, node: source, tag: "x", ...e } as TraceEvent });
  const none = { droppedSegments: 0, droppedEvents: 0, droppedBytes: 0 };

  it("starts where every node's trace is complete: the latest first event of the nodes that dropped some, counting what it leaves out", () => {
    const a = [ev("a", 50), ev("a", 60), ev("a", 70)]; // a dropped everything before 50
    const b = [ev("b", 10), ev("b", 55), ev("b", 65)]; // b dropped nothing
    const c = [ev("c", 40), ev("c", 58)]; // c dropped everything before 40
    const r = mergeAtHorizon(
      [
        { node: "a", events: a, horizon: { droppedSegments: 2, droppedEvents: 90, droppedBytes: 9000 } },
        { node: "b", events: b, horizon: none },
        { node: "c", events: c, horizon: { droppedSegments: 1, droppedEvents: 20, droppedBytes: 2000 } },
      ],
      [ev("control", 5), ev("control", 52), ev("b", 55)],
    );
    expect(r.horizon?.lc).toBe(50);
    expect(r.horizon?.dropped.map((d) => [d.node, d.firstLc, d.droppedEvents])).toEqual([
      ["a", 50, 90],
      ["c", 40, 20],
    ]);
    // b at 10, c at 40, control at 5 are before the horizon; b's 55 given twice is taken once.
    expect(r.horizon?.skipped).toBe(3);
    expect(r.events.map((e) => e.t)).toEqual([50, 52, 55, 58, 60, 65, 70]);
  });

  it("with nothing dropped, the whole trace and no horizon", () => {
    const r = mergeAtHorizon([{ node: "a", events: [ev("a", 2), ev("a", 1)], horizon: none }], [ev("control", 0)]);
    expect(r.horizon).toBeUndefined();
    expect(r.events.map((e) => e.t)).toEqual([0, 1, 2]);
  });
});

describe("traceRetention in the cluster file", () => {
  const file = (retention: string): string => `nodes:\n  - id: a\n    address: 127.0.0.1:7401\n    package: pkg.ts\n    behavior: v1\n${retention}`;

  it("fills in the defaults (4 MiB segments, 64 MiB in all), each field on its own too", () => {
    expect(parseCluster(file(""), "/c.yaml").traceRetention).toBeUndefined();
    expect(parseCluster(file("traceRetention: {}\n"), "/c.yaml").traceRetention).toEqual(DEFAULT_TRACE_RETENTION);
    expect(DEFAULT_TRACE_RETENTION).toEqual({ segmentBytes: 4 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 });
    expect(parseCluster(file("traceRetention:\n  segmentBytes: 65536\n  maxBytes: 1048576\n"), "/c.yaml").traceRetention).toEqual({ segmentBytes: 65536, maxBytes: 1048576 });
  });

  it.each([
    ["traceRetention:\n  segmentBytes: 65536\n  maxBytes: 100000\n", /\/c.yaml:8:13: field "traceRetention.maxBytes": maxBytes must be at least twice segmentBytes/],
    ["traceRetention:\n  segmentBytes: 100\n", /field "traceRetention.segmentBytes": at least 4096 bytes/],
    ["traceRetention:\n  segmentBytes: 5000.5\n", /field "traceRetention.segmentBytes": a whole number of bytes/],
    ["traceRetention:\n  maxBytes: -1\n", /field "traceRetention.maxBytes"/],
    ["traceRetention:\n  segments: 3\n", /field "traceRetention": Unrecognized key: "segments"/],
  ])("refuses %j, naming the line and the field", (retention, message) => {
    expect(() => parseCluster(file(retention), "/c.yaml")).toThrow(message);
  });
});
