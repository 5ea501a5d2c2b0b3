import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { deliverEvent, timerEvent, type SimEvent } from "./sim-event.js";
import { TimeOrderedScheduler } from "./time-ordered-scheduler.js";

const byTimeSeq = (a: SimEvent, b: SimEvent): number => a.time - b.time || a.seq - b.seq;

describe("the time-ordered scheduler (a bucket per instant)", () => {
  it("pops exactly in (time, seq) order, events pushed at the current instant and earlier instants included", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ pop: fc.boolean(), dt: fc.integer({ min: 0, max: 12 }), half: fc.boolean(), timer: fc.boolean(), swap: fc.boolean() }), { minLength: 1, maxLength: 400 }),
        (ops) => {
          const s = new TimeOrderedScheduler();
          const model: SimEvent[] = [];
          let now = 0;
          let seq = 0;
          for (const op of ops) {
            if (op.pop) {
              model.sort(byTimeSeq);
              const want = model.shift();
              expect(s.pop()).toBe(want);
              if (want !== undefined) now = want.time;
            } else {
              const time = now + op.dt + (op.half ? 0.5 : 0);
              // Occasionally a seq smaller than the last one (never done by the network): still ordered.
              const n = op.swap && seq > 2 ? seq - 2 + 0.75 : seq; // unique: x.75 is used only here, and at most once per x
              seq += 1;
              const ev = op.timer ? timerEvent(time, n, "a", "t", 1, n) : deliverEvent(time, n, undefined as never);
              s.push(ev);
              model.push(ev);
            }
            model.sort(byTimeSeq);
            expect(s.size).toBe(model.length);
            expect(s.peek()).toBe(model[0]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
