import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BinaryHeap } from "./binary-heap.js";

describe("the event queue's binary heap", () => {
  it("pops in (time, seq) order whatever the pushes and pops, past its initial capacity", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant(-1)), { maxLength: 3000 }), (ops) => {
        const heap = new BinaryHeap<{ time: number; seq: number }>();
        const model: { time: number; seq: number }[] = [];
        let seq = 0;
        for (const op of ops) {
          if (op >= 0) {
            const item = { time: op / 2, seq: seq++ };
            heap.push(item);
            model.push(item);
          } else {
            model.sort((a, b) => a.time - b.time || a.seq - b.seq);
            expect(heap.pop()).toBe(model.shift());
          }
          expect(heap.size).toBe(model.length);
          model.sort((a, b) => a.time - b.time || a.seq - b.seq);
          expect(heap.peek()).toBe(model[0]);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("grows past its initial capacity and keeps ties in push order", () => {
    const heap = new BinaryHeap<{ time: number; seq: number }>();
    for (let i = 0; i < 5000; i++) heap.push({ time: (i * 7919) % 13, seq: i });
    const out: { time: number; seq: number }[] = [];
    for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push(x);
    expect(out).toHaveLength(5000);
    for (let i = 1; i < out.length; i++) {
      const a = out[i - 1]!;
      const b = out[i]!;
      expect(a.time < b.time || (a.time === b.time && a.seq < b.seq)).toBe(true);
    }
  });
});
