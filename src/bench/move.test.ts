import { describe, expect, it } from "vitest";
import { messageId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { unavailability } from "./move.js";

const deliver = (t: number, node = "r2"): TraceEvent => ({ kind: "deliver", t, node, from: "r1", msg: messageId(`r1.${t}`), epoch: 0 });

describe("the move bench's unavailability", () => {
  it("is each move's time from the source's move to the destination's first delivery after its arrival", () => {
    const trace: TraceEvent[] = [
      deliver(1),
      { kind: "move", t: 10, node: "r2", from: "a", to: "b", locationEpoch: 1 },
      deliver(12, "r1"),
      { kind: "arrive", t: 40, node: "r2", at: "b", locationEpoch: 1, version: "db@1", epoch: 0 },
      deliver(55),
      deliver(56),
      { kind: "move", t: 100, node: "r2", from: "b", to: "c", locationEpoch: 2 },
      { kind: "arrive", t: 130, node: "r2", at: "c", locationEpoch: 2, version: "db@1", epoch: 0 },
      deliver(131),
    ];
    expect(unavailability(trace, "r2")).toEqual([45, 31]);
  });
});
