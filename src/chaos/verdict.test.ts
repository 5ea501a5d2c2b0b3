import { describe, expect, it } from "vitest";
import { messageId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { fifoOf, latency, throughput } from "./verdict.js";
import type { DbOp } from "./db-load.js";

const send = (t: number, node: string, to: string, msg: string): TraceEvent => ({ kind: "send", t, node, to, msg: messageId(msg), epoch: 0 });
const deliver = (t: number, node: string, from: string, msg: string): TraceEvent => ({ kind: "deliver", t, node, from, msg: messageId(msg), epoch: 0 });

describe("FIFO and exactly-once read from a trace", () => {
  it("a clean channel: nothing found", () => {
    const r = fifoOf([send(1, "a", "b", "m1"), send(2, "a", "b", "m2"), deliver(3, "b", "a", "m1"), deliver(4, "b", "a", "m2")]);
    expect(r).toMatchObject({ channels: 1, deliveries: 2, sent: 2, outOfOrder: [], duplicates: [] });
  });

  it("finds a message executed before one sent earlier on its channel, and one executed twice", () => {
    const r = fifoOf([send(1, "a", "b", "m1"), send(2, "a", "b", "m2"), deliver(3, "b", "a", "m2"), deliver(4, "b", "a", "m1"), deliver(5, "b", "a", "m1")]);
    expect(r.outOfOrder).toEqual(['a -> b: m1 (sent #0) executed after m2 (sent #1) (t=4)']);
    expect(r.duplicates).toEqual(['m1 (a -> b) executed twice by "b" in one life (t=5)']);
  });

  it("a receiver's rollback, crash or restart begins a new life: what it executes again is neither late nor twice", () => {
    for (const reset of [
      { kind: "crash", t: 4, node: "b", lost: 2 },
      { kind: "restart", t: 4, node: "b", version: "v", epoch: 0, replayed: 0 },
    ] as TraceEvent[]) {
      const r = fifoOf([send(1, "a", "b", "m1"), send(2, "a", "b", "m2"), deliver(3, "b", "a", "m1"), deliver(3, "b", "a", "m2"), reset, deliver(5, "b", "a", "m1"), deliver(6, "b", "a", "m2")]);
      expect(r.outOfOrder).toEqual([]);
      expect(r.duplicates).toEqual([]);
    }
  });

  it("messages made by a transform (no send on the channel) are not counted", () => {
    expect(fifoOf([deliver(1, "b", "a", "x.1")]).deliveries).toBe(0);
  });
});

describe("throughput", () => {
  it("counts answered global reads a second in [from, to)", () => {
    const op = (doneAt: number, outcome: DbOp["outcome"] = "ok"): DbOp => ({ kind: "global-read", node: "r0", entry: 1, sentAt: doneAt - 5, doneAt, outcome, attempts: 1 });
    const ops = [op(1000), op(1500), op(1999), op(2000), op(1200, "unanswered"), op(1300, "null")];
    expect(throughput(ops, 1000, 2000)).toBe(4);
    expect(throughput(ops, 2000, 2000)).toBe(0);
    // Latency is by issue time: the reads sent in [995, 1500) took 5 ms each.
    expect(latency(ops, 995, 1500)).toEqual({ p50: 5, max: 5 });
    expect(latency([...ops, { ...op(3000), sentAt: 1000 }], 995, 1500)).toEqual({ p50: 5, max: 2000 });
  });
});
