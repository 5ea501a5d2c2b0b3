import { describe, expect, it } from "vitest";
import { messageId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { checkTrace } from "./checker.js";

const m1 = messageId("a.1");
const base: TraceEvent[] = [
  { kind: "create", t: 0, node: "a", version: "v1", epoch: 0 },
  { kind: "create", t: 0, node: "b", version: "v1", epoch: 0 },
  { kind: "link", t: 0, a: "a", b: "b" },
];
const move: TraceEvent = { kind: "move", t: 1, node: "b", from: "origin", to: "east", locationEpoch: 1 };
const arrive: TraceEvent = { kind: "arrive", t: 9, node: "b", at: "east", locationEpoch: 1, version: "v1", epoch: 0 };
const send: TraceEvent = { kind: "send", t: 2, node: "a", to: "b", msg: m1, epoch: 0 };
const deliver = (t: number): TraceEvent => ({ kind: "deliver", t, node: "b", from: "a", msg: m1, epoch: 0 });
const messages = (events: TraceEvent[]) => checkTrace(events, { complete: true }).violations.map((v) => `${v.invariant}: ${v.message}`);

describe("the checker on moves (move, arrive, fence)", () => {
  it("accepts a move whose messages wait for the arrival", () => {
    expect(messages([...base, move, send, arrive, deliver(10)])).toEqual([]);
  });

  it("a node that runs while it moves, arrives without a move or elsewhere, or changes on the way, is a violation", () => {
    expect(messages([...base, move, send, deliver(3), arrive])).toEqual([expect.stringMatching(/^correctness: node "b" had a deliver event while it was moving/)]);
    expect(messages([...base, arrive])).toEqual([expect.stringMatching(/arrived at "east" without a move/)]);
    expect(messages([...base, move, { ...arrive, at: "west" }])).toEqual([expect.stringMatching(/arrived at "west" \(location epoch 1\), but it was moving to "east"/)]);
    expect(messages([...base, move, { ...arrive, version: "v9" }])).toEqual([expect.stringMatching(/arrived at "east" at v9 \(epoch 0\), but the last it committed was v1/)]);
    expect(messages([...base, move, move, arrive])).toEqual([expect.stringMatching(/started a move to "east" while it was moving to "east"/)]);
  });

  it("a move that never arrives breaks termination, and what waits for it is counted there, not lost", () => {
    expect(messages([...base, move, send])).toEqual([expect.stringMatching(/^termination: node\(s\) "b" started a move and never arrived; 1 message\(s\) wait for them/)]);
  });

  it("a crash of the source interrupts the move: the node is down where it was, its restart and fence bring it back", () => {
    const crash: TraceEvent = { kind: "crash", t: 3, node: "b", lost: 0 };
    const restart: TraceEvent = { kind: "restart", t: 5, node: "b", version: "v1", epoch: 0, replayed: 0 };
    const fence: TraceEvent = { kind: "fence", t: 5, node: "b", at: "origin", locationEpoch: 2 };
    expect(messages([...base, move, send, crash, restart, fence, deliver(10)])).toEqual([]);
    expect(messages([...base, move, send, crash])).toEqual([expect.stringMatching(/^termination: node\(s\) "b" crashed and never restarted/)]);
    expect(messages([...base, move, restart])).toEqual([expect.stringMatching(/restarted while it was moving to "east"/)]);
  });
});
