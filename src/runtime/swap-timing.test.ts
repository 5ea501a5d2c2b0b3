import { describe, expect, it } from "vitest";
import { defineBehavior } from "../core/behavior.js";
import type { ControlMessage, RunInfo, UpdateFigures } from "../core/control.js";
import type { ControlEnvelope, Envelope } from "../core/envelope.js";
import { CONTROL } from "../core/ids.js";
import { defineUpdate, type Update } from "../core/update.js";
import { pairHost } from "../../test/support/pair-host.js";
import type { NodeHost } from "./node-host.js";

/**
 * The swap pause a network with clocks (TCP) reports: the step in which the node turned new, in parts, and the CPU its
 * process used meanwhile. The clocks here move only when the test says (inside the state transfer, inside a send), so
 * every figure is exact.
 */
const clocks = { wall: 1000, cpu: 50 };
const v1 = defineBehavior<number, number>({ version: "n@1", init: () => 1, receive: (s, m) => s + m });
const v2 = defineBehavior<string, number>({ version: "n@2", init: () => "", receive: (s, m) => `${s}+${m}` });
/** A transfer of 5 wall ms (2 of CPU) at the swap; prepare's dry run runs it too, outside any swap's step. */
const slowTransfer = defineUpdate({
  from: v1,
  to: v2,
  state: (s: number) => {
    clocks.wall += 5;
    clocks.cpu += 2;
    return `${s}`;
  },
});
const back = defineUpdate({
  from: v2,
  to: v1,
  state: (s: string) => {
    clocks.wall += 3;
    return s.length;
  },
});
/** Passes prepare's dry run, throws at the swap once `broken` is set (the state changed in a way it cannot convert). */
let broken = false;
const failing = defineUpdate({
  from: v1,
  to: v2,
  state: (s: number) => {
    clocks.wall += 7;
    if (broken) throw new Error(`cannot convert ${s}`);
    return "";
  },
});

function harness(timed: boolean) {
  const sent: Envelope[] = [];
  const { host } = pairHost(v1, {
    // A send takes 1 wall ms: after the swap, it is the step's "after".
    transmit: (e) => {
      if (e.kind === "control" && !e.plane) clocks.wall += 1;
      sent.push(e);
    },
    ...(timed ? { wallClock: () => clocks.wall, cpuClock: () => clocks.cpu } : {}),
  });
  return { host, sent };
}

const run = (id: number, from: string, strategy: RunInfo["strategy"] = "naive"): RunInfo => ({ id, strategy, root: "a", nodes: ["a", "b"], from: { a: from, b: from }, requestedAt: 0 });
const plane = (update: number, msg: ControlMessage): ControlEnvelope => ({ kind: "control", from: CONTROL, to: "b", update, msg, link: 0, plane: true });
const figuresOf = (sent: readonly Envelope[]): UpdateFigures | undefined => {
  for (let i = sent.length - 1; i >= 0; i--) {
    const e = sent[i];
    if (e?.kind === "control" && (e.msg.kind === "swapped" || e.msg.kind === "done") && e.msg.figures !== undefined) return e.msg.figures;
  }
  return undefined;
};

function update(host: NodeHost, id: number, from: string, u: Update): void {
  host.deliver(plane(id, { kind: "prepare", run: run(id, from), code: { kind: "inline", updates: [u] } }));
  host.deliver(plane(id, { kind: "swap" }));
}

describe("the swap pause, timed where the network has clocks", () => {
  it("is the swapping step in parts that add up to it, the transfer among them, with the CPU beside it; and again at the next update", () => {
    const { host, sent } = harness(true);
    update(host, 1, "n@1", slowTransfer);
    expect(host.version).toBe("n@2");
    // The dry run at prepare moved the clocks too, but outside the swap's step: only the swap's own transfer counts.
    expect(figuresOf(sent)).toMatchObject({ swapPauseMs: 5, swapCpuMs: 2, swapPhasesMs: { before: 0, transfer: 5, swap: 0, after: 0 } });
    update(host, 2, "n@2", back);
    expect(host.version).toBe("n@1");
    expect(figuresOf(sent)).toMatchObject({ swapPauseMs: 3, swapCpuMs: 0, swapPhasesMs: { before: 0, transfer: 3, swap: 0, after: 0 } });
  });

  it("counts what the agent sends after the swap in the same step as the step's after", () => {
    const { host, sent } = harness(true);
    host.deliver(plane(1, { kind: "prepare", run: run(1, "n@1", "cut"), code: { kind: "inline", updates: [slowTransfer] } }));
    // The cut's root turns new at start and sends its marker to "a" in the same step (1 wall ms here).
    host.deliver(plane(1, { kind: "start" }));
    expect(host.version).toBe("n@2");
    const f = figuresOf(sent) ?? (host.figures as UpdateFigures);
    expect(f.swapPhasesMs).toEqual({ before: 0, transfer: 5, swap: 0, after: 1 });
    expect(f.swapPauseMs).toBe(6);
  });

  it("reports no pause where time is virtual (the simulator)", () => {
    const { host, sent } = harness(false);
    update(host, 1, "n@1", slowTransfer);
    expect(host.version).toBe("n@2");
    const f = figuresOf(sent);
    expect(f).toMatchObject({ controlPlaneMessages: 2 });
    expect(f).not.toHaveProperty("swapPauseMs");
    expect(f).not.toHaveProperty("swapPhasesMs");
    expect(f).not.toHaveProperty("swapCpuMs");
  });

  it("times no step for a transfer that threw; the resumed swap's step is timed alone, without the resume's dry run", () => {
    const { host, sent } = harness(true);
    host.deliver(plane(1, { kind: "prepare", run: run(1, "n@1"), code: { kind: "inline", updates: [failing] } }));
    broken = true;
    host.deliver(plane(1, { kind: "swap" }));
    expect(host.version).toBe("n@1");
    expect(sent.map((e) => (e.kind === "control" ? e.msg.kind : e.kind))).toContain("swap-failed");
    expect(figuresOf(sent)).toBeUndefined();
    // The corrected transfer: its dry run (5 ms) runs in the resume's step, before the swap's own step (5 ms).
    host.deliver(plane(1, { kind: "resume", code: { kind: "inline", updates: [slowTransfer] } }));
    expect(host.version).toBe("n@2");
    expect(figuresOf(sent)).toMatchObject({ swapPauseMs: 5, swapPhasesMs: { before: 0, transfer: 5, swap: 0, after: 0 } });
  });
});
