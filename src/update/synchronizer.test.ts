import { describe, expect, it } from "vitest";
import { InvalidOptionError, StrategyUnavailableError, SynchronizerConfigurationError, System } from "../index.js";
import { relayUpdate, relayV1, type RelayState } from "../harness/relay.js";
import { isControl, stepFirst } from "../../test/support/scripted.js";
import { assertStrategyProperty } from "../../test/support/strategy-property.js";
import { messagesOutOfPulse } from "../../test/support/trace-assertions.js";

function line(sys: System, ...ids: string[]): void {
  for (const id of ids) sys.create(id, relayV1);
  for (let i = 1; i < ids.length; i++) sys.link(ids[i - 1] as string, ids[i] as string);
}

const pulseOf = (sys: System, node: string): number => {
  let p = 0;
  for (const e of sys.trace()) if (e.kind === "pulse" && e.node === node) p = e.pulse;
  return p;
};

describe("the alpha synchronizer", () => {
  it("buffers an envelope of the next pulse and executes its messages only in that pulse", async () => {
    const sys = new System({ synchronizer: true, scheduler: "scripted" });
    line(sys, "a", "b", "c");
    void sys.request("b", { kind: "send", token: "ping", hops: 1, to: "c" });
    stepFirst(sys, "the request at b", (p) => p.kind === "request"); // b enters pulse 1, its envelope carries the token
    stepFirst(sys, "b's pulse-1 envelope to c", isControl("pulse", "b", "c")); // c catches up, executes, replies in pulse 2
    expect(pulseOf(sys, "c")).toBe(2);
    stepFirst(sys, "c's pulse-1 envelope to b", isControl("pulse", "c", "b"));
    stepFirst(sys, "c's pulse-2 envelope to b", isControl("pulse", "c", "b")); // early: b is in pulse 1, a's envelope missing
    expect(pulseOf(sys, "b")).toBe(1);
    expect(sys.trace().some((e) => e.kind === "deliver" && e.node === "b")).toBe(false);
    stepFirst(sys, "b's pulse-1 envelope to a", isControl("pulse", "b", "a"));
    stepFirst(sys, "a's pulse-1 envelope to b", isControl("pulse", "a", "b")); // b completes pulse 1 and enters 2
    const trace = sys.trace();
    const enter2 = trace.findIndex((e) => e.kind === "pulse" && e.node === "b" && e.pulse === 2);
    const deliver = trace.findIndex((e) => e.kind === "deliver" && e.node === "b");
    expect(enter2).toBeGreaterThan(0);
    expect(deliver).toBeGreaterThan(enter2);
    await sys.settle(); // idle pulses stop: settle returns
    expect((sys.state("b") as RelayState).log).toEqual(["ping<c"]);
    expect(messagesOutOfPulse(sys.trace())).toEqual([]);
  });

  it("refuses configuration once pulses have started, and other strategies on a pulsed system", async () => {
    const sys = new System({ synchronizer: true });
    line(sys, "a", "b");
    await sys.request("a", { kind: "send", token: "x", hops: 0 });
    expect(() => sys.create("c", relayV1)).toThrow(SynchronizerConfigurationError);
    await expect(sys.update(relayUpdate, { strategy: "conservative" })).rejects.toThrow(/runs in pulses/);
    const plain = new System();
    line(plain, "a", "b");
    await expect(plain.update(relayUpdate, { strategy: "synchronizer" })).rejects.toThrow(StrategyUnavailableError);
    await expect(plain.update(relayUpdate, { strategy: "synchronizer" })).rejects.toThrow(/synchronizer: true/);
  });
});

describe("synchronizer update", () => {
  it("every node swaps as it enters pulse x; no node at pulse x executes a message of pulse x-1", async () => {
    const sys = new System({ synchronizer: true, seed: 5 });
    line(sys, "a", "b", "c", "d");
    const tokens = [sys.request("a", { kind: "send", token: "t1", hops: 40 }), sys.request("d", { kind: "send", token: "t2", hops: 40 })];
    await sys.sleep(20);
    const report = await sys.update(relayUpdate, { strategy: "synchronizer", root: "d", atPulse: 30 });
    await Promise.all(tokens);
    await sys.settle();
    const trace = sys.trace();
    for (const n of ["a", "b", "c", "d"]) {
      const i = trace.findIndex((e) => e.kind === "swap" && e.node === n);
      expect(trace[i - 1]).toMatchObject({ kind: "pulse", node: n, pulse: 30 });
    }
    expect(messagesOutOfPulse(trace)).toEqual([]);
    expect(report.transformedMessages).toBeGreaterThan(0);
    expect(sys.check()).toEqual({ ok: true, violations: [] });
  });

  it("refuses an atPulse too early for every node to learn, before any node changed", async () => {
    const sys = new System({ synchronizer: true });
    line(sys, "a", "b", "c", "d");
    const err = await sys.update(relayUpdate, { strategy: "synchronizer", root: "a", atPulse: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect((err as Error).message).toMatch(/pulse 2 is too early.*atPulse >= 4/);
    await sys.settle();
    expect(sys.nodes().map((n) => sys.version(n))).toEqual(["relay@1", "relay@1", "relay@1", "relay@1"]);
    const report = await sys.update(relayUpdate, { strategy: "synchronizer", root: "a" });
    expect(report.finishedAt).toBeGreaterThan(report.startedAt);
  });
});

describe("synchronizer on every topology (property)", () => {
  it("zero violations, every node new, every message executed in its pulse (500 runs)", async () => {
    await assertStrategyProperty(
      "synchronizer",
      500,
      (out) => {
        expect(messagesOutOfPulse(out.system.trace())).toEqual([]);
      },
      { synchronizer: true },
    );
  });
});
