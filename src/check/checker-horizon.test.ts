import { describe, expect, it } from "vitest";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { checkTrace } from "./checker.js";

/**
 * A trace that starts mid-run (trace retention dropped its oldest part): from the horizon on it is the whole run's,
 * but what began before it (m2's send, update #1's start, the nodes' creates) is not in it.
 */
const fromHorizon = [
  { kind: "deliver", node: "b", from: "a", msg: "m2", epoch: 0 }, // sent before the horizon
  { kind: "send", node: "a", to: "b", msg: "m3", epoch: 0 },
  { kind: "deliver", node: "b", from: "a", msg: "m3", epoch: 0 }, // b's epoch is not known yet
  { kind: "send", node: "a", to: "b", msg: "m7", epoch: 0 },
  { kind: "swap", node: "b", update: 1, from: "v1", to: "v2", epoch: 1 },
  { kind: "swap", node: "a", update: 1, from: "v1", to: "v2", epoch: 1 },
  { kind: "update-end", update: 1, outcome: "completed" }, // started before the horizon
  { kind: "send", node: "a", to: "b", msg: "m4", epoch: 1 },
  { kind: "deliver", node: "b", from: "a", msg: "m4", epoch: 1 },
  { kind: "deliver", node: "b", from: "a", msg: "m7", epoch: 0 }, // an old message executed by new b: after the horizon, judged
  { kind: "send", node: "a", to: "b", msg: "m6", epoch: 1 }, // never executed: judged
].map((e, i) => ({ ...e, t: 100 + i }) as TraceEvent);

describe("checking a trace from a horizon (CheckOptions.horizon)", () => {
  it("counts what began before the horizon instead of calling it a violation, and still judges everything after it", () => {
    const r = checkTrace(fromHorizon, { complete: true, horizon: true });
    expect(r.violations.map((v) => [v.invariant, v.message])).toEqual([
      ["correctness", 'old message m7 sent by "a" at epoch 0 (unknown version) was executed by new node "b" (v2, epoch 1)'],
      ["awareness", 'message m6 from "a" to "b" (epoch 1, sent at 110) was never executed nor replaced'],
    ]);
    expect(r.beforeHorizon).toEqual({ messages: 1, deliveries: 1, updates: 1 });
  });

  it("without it, the same trace shows a delivery without a send: why a cut trace must say where it starts", () => {
    const r = checkTrace(fromHorizon, { complete: true });
    expect(r.violations.map((v) => v.message)).toContain("message m2 was executed by \"b\" but never sent");
    expect(r.beforeHorizon).toBeUndefined();
  });

  it("a whole trace checked from a horizon judges exactly as without one", () => {
    const whole = [
      { kind: "create", node: "a", version: "v1", epoch: 0 },
      { kind: "create", node: "b", version: "v1", epoch: 0 },
      { kind: "send", node: "a", to: "b", msg: "m1", epoch: 0 },
      { kind: "send", node: "a", to: "b", msg: "m2", epoch: 0 },
      { kind: "update-start", update: 1, strategy: "naive", root: "a", nodes: ["a", "b"] },
      { kind: "swap", node: "b", update: 1, from: "v1", to: "v2", epoch: 1 },
      { kind: "deliver", node: "b", from: "a", msg: "m1", epoch: 0 },
      { kind: "update-end", update: 1, outcome: "completed" },
    ].map((e, i) => ({ ...e, t: i }) as TraceEvent);
    const plain = checkTrace(whole, { complete: true });
    const cut = checkTrace(whole, { complete: true, horizon: true });
    expect(plain.violations.length).toBeGreaterThanOrEqual(3);
    expect(cut.violations).toEqual(plain.violations);
    expect(cut.beforeHorizon).toEqual({ messages: 0, deliveries: 0, updates: 0 });
  });
});
