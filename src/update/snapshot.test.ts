import { describe, expect, it } from "vitest";
import { System } from "../index.js";
import { relayUpdate, relayV1, type RelayStateV2 } from "../harness/relay.js";
import { isControl, isMessage, isPlane, stepAll, stepFirst } from "../../test/support/scripted.js";
import { assertStrategyProperty } from "../../test/support/strategy-property.js";
import { executionsWhileFrozen } from "../../test/support/trace-assertions.js";

describe("snapshot, step by step", () => {
  it("executes no application event between a node's freeze and the restart, then runs what it buffered through the new code", async () => {
    const sys = new System({ scheduler: "scripted" });
    for (const n of ["a", "b"]) sys.create(n, relayV1);
    sys.link("a", "b");
    void sys.request("a", { kind: "send", token: "inflight", hops: 0, to: "b" });
    stepFirst(sys, "the request at a", (p) => p.kind === "request"); // a's message to b is in flight
    const update = sys.update(relayUpdate, { strategy: "snapshot", root: "b" });
    stepAll(sys, (p) => isPlane(p) && p.signal !== "restart" && p.signal !== "drained"); // b froze; its marker is on the way to a
    const count = sys.request("b", { kind: "count" });
    stepFirst(sys, "a request at frozen b", (p) => p.kind === "request");
    stepFirst(sys, "a's old message to b", isMessage("a", "b"));
    expect(sys.trace().filter((e) => (e.kind === "deliver" || e.kind === "request") && e.node === "b")).toEqual([]);
    stepFirst(sys, "b's marker to a", isControl("freeze", "b", "a"));
    stepAll(sys, () => true);
    // answered only after the restart, by the new code, in arrival order: before the transformed message ran
    expect(await count).toBe(0);
    const trace = sys.trace();
    const swapB = trace.findIndex((e) => e.kind === "swap" && e.node === "b");
    const requestB = trace.findIndex((e) => e.kind === "request" && e.node === "b");
    const deliverB = trace.findIndex((e) => e.kind === "deliver" && e.node === "b");
    expect(swapB).toBeGreaterThan(0);
    expect(requestB).toBeGreaterThan(swapB);
    expect(deliverB).toBeGreaterThan(requestB);
    await update;
    expect(executionsWhileFrozen(sys.trace())).toEqual([]);
    expect((sys.state("b") as RelayStateV2).history).toEqual(["inflight<a"]);
    expect(sys.trace().find((e) => e.kind === "transform")).toMatchObject({ node: "b", msg: "a.1" });
    expect(sys.check()).toEqual({ ok: true, violations: [] });
  });
});

describe("snapshot on every topology (property)", () => {
  it("zero violations, every node new, nothing executed while frozen (500 runs)", async () => {
    await assertStrategyProperty("snapshot", 500, (out) => {
      expect(executionsWhileFrozen(out.system.trace())).toEqual([]);
      expect(out.report.controlMessages).toBe(2 * out.links + 2 * Object.keys(out.report.nodes).length);
    });
  });
});
