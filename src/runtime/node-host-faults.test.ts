import { describe, expect, it } from "vitest";
import { defineBehavior } from "../core/behavior.js";
import type { ControlMessage, RunInfo } from "../core/control.js";
import type { AppEnvelope, ControlEnvelope, Envelope } from "../core/envelope.js";
import { CONTROL, messageId } from "../core/ids.js";
import { defineUpdate } from "../core/update.js";
import { pairHost } from "../../test/support/pair-host.js";
import type { NodeHost } from "./node-host.js";

// v1 throws on a negative message: a handler fault.
const v1 = defineBehavior<number, number>({
  version: "f@1",
  init: () => 0,
  receive: (s, m) => {
    if (m < 0) throw new Error("negative");
    return s + m;
  },
});
const v2 = defineBehavior<number, number>({ version: "f@2", init: () => 0, receive: (s, m) => s + m });

function host(): { host: NodeHost; sent: Envelope[] } {
  return pairHost(v1, { startTimer: () => 1 });
}

const run: RunInfo = { id: 1, strategy: "naive", root: "a", nodes: ["a", "b"], from: { a: "f@1", b: "f@1" }, requestedAt: 0 };
const plane = (msg: ControlMessage): ControlEnvelope => ({ kind: "control", from: CONTROL, to: "b", update: 1, msg, link: 0, plane: true });
const app = (h: NodeHost, n: number, body: number): AppEnvelope => ({ kind: "app", id: messageId(`a.${n}`), from: "a", to: "b", epoch: 0, body, link: h.links.get("a") as number });

describe("the node host counts the faults of its part in an update (UpdateReport.faults)", () => {
  it("counts a handler fault and a message mapping fault while it takes part, none outside an update", () => {
    const { host: h, sent } = host();
    h.deliver(app(h, 1, -1)); // before prepare: not the update's fault
    const u = defineUpdate({
      from: v1,
      to: v2,
      state: (s) => s,
      message: (m) => {
        if (m === 13) throw new Error("unlucky");
        return [m];
      },
    });
    h.deliver(plane({ kind: "prepare", run, code: { kind: "inline", updates: [u] } }));
    h.deliver(app(h, 2, -2)); // a handler fault during the update
    expect(h.transform(app(h, 3, 13))).toEqual([]); // a mapping fault: the message waits with its channel
    expect(h.figures.faults).toBe(2);
    // A mapping that throws halts the update as a transfer that throws does: reported, and the swap waits for a resume.
    expect((sent.at(-1) as ControlEnvelope).msg).toMatchObject({ kind: "swap-failed", error: expect.stringMatching(/the message mapping threw on .*unlucky/) });
    h.deliver(plane({ kind: "swap" }));
    expect(h.version).toBe("f@1");
  });

  it("counts a state transfer that throws at swap time", () => {
    const { host: h } = host();
    let calls = 0;
    // The dry run in prepare passes; the transfer at swap time throws.
    const u = defineUpdate({ from: v1, to: v2, state: (s) => (++calls > 1 ? (() => { throw new Error("late"); })() : s) });
    h.deliver(plane({ kind: "prepare", run, code: { kind: "inline", updates: [u] } }));
    h.deliver(plane({ kind: "swap" }));
    expect(h.version).toBe("f@1");
    expect(h.figures.faults).toBe(1);
  });
});
