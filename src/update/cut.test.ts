import { describe, expect, it } from "vitest";
import { System } from "../index.js";
import { relayUpdate, relayV1, type RelayStateV2 } from "../harness/relay.js";
import { isControl, isMessage, isPlane, stepAll, stepFirst } from "../../test/support/scripted.js";
import { assertStrategyProperty } from "../../test/support/strategy-property.js";
import { makeTopology, TOPOLOGY_KINDS } from "../harness/topologies.js";
import { swapTimes } from "../../test/support/trace-assertions.js";
import { Topology } from "../core/topology.js";
import { eccentricity } from "./orientation.js";

describe("cut, step by step", () => {
  it("an old message overtaken by a marker on another channel is transformed and executed by the new code", async () => {
    // triangle a-b-c, root a
    const sys = new System({ scheduler: "scripted" });
    for (const n of ["a", "b", "c"]) sys.create(n, relayV1);
    sys.link("a", "b");
    sys.link("b", "c");
    sys.link("a", "c");
    const update = sys.update(relayUpdate, { strategy: "cut", root: "a" });
    stepAll(sys, isPlane); // prepared, and a got start: a is new, markers to b and c are in flight
    expect(sys.version("a")).toBe("relay@2");
    void sys.request("c", { kind: "send", token: "old", hops: 0, to: "b" });
    stepFirst(sys, "the request at c", (p) => p.kind === "request"); // c is old: its message to b is old
    stepFirst(sys, "a's marker to b", isControl("marker", "a", "b")); // b turns new; c's marker is not sent yet
    expect(sys.version("b")).toBe("relay@2");
    stepFirst(sys, "c's old message", isMessage("c", "b"));
    const trace = sys.trace();
    const transform = trace.find((e) => e.kind === "transform" && e.node === "b");
    expect(transform).toMatchObject({ from: "c", to: "b", msg: "c.1", into: ["c.1~1"] });
    expect(trace.find((e) => e.kind === "deliver" && e.node === "b")).toMatchObject({ msg: "c.1~1", epoch: 1 });
    expect((sys.state("b") as RelayStateV2).history).toEqual(["old<c"]);
    stepAll(sys, () => true);
    const report = await update;
    expect(report.controlMessages).toBe(6);
    expect(report.heldMessages).toBe(0);
    expect(sys.check()).toEqual({ ok: true, violations: [] });
  });

  it("no new message ever reaches an old node: a new node's marker precedes its new messages on every channel", async () => {
    const sys = new System({ scheduler: "scripted" });
    for (const n of ["a", "b"]) sys.create(n, relayV1);
    sys.link("a", "b");
    const update = sys.update(relayUpdate, { strategy: "cut", root: "a" });
    stepAll(sys, isPlane);
    void sys.request("a", { kind: "send", token: "new", hops: 0, to: "b" });
    stepFirst(sys, "the request at a", (p) => p.kind === "request");
    // the only thing b can receive from a is the marker: a's new message is behind it
    expect(sys.pending().filter((p) => p.from === "a" && p.node === "b").map((p) => p.signal ?? p.msg)).toEqual(["marker"]);
    stepAll(sys, () => true);
    await update;
    expect(sys.check().ok).toBe(true);
  });
});

describe("cut: duration and messages", () => {
  it("on an idle system with a fixed delay, H - G is exactly eccentricity x delay (the lower bound), 2 markers per link", async () => {
    for (const kind of TOPOLOGY_KINDS) {
      const spec = makeTopology(kind, 9, 17);
      const sys = new System({ delay: { min: 5, max: 5 } });
      const topo = new Topology();
      for (const n of spec.nodes) {
        sys.create(n, relayV1);
        topo.addNode(n);
      }
      for (const [a, b] of spec.links) {
        sys.link(a, b);
        topo.addLink(a, b);
      }
      const root = spec.nodes[3] as string;
      const r = await sys.update(relayUpdate, { strategy: "cut", root });
      expect({ kind, duration: r.finishedAt - r.startedAt }).toEqual({ kind, duration: 5 * eccentricity(topo, root) });
      expect(r.controlMessages).toBe(2 * spec.links.length);
    }
  });

  it("under load, H is when the farthest node gets its first marker: every node turns new on its first marker", async () => {
    await assertStrategyProperty("cut", 50, (out) => {
      const trace = out.system.trace();
      const firstMarker = new Map<string, number>();
      for (const e of trace) {
        if (e.kind === "control-receive" && (e.signal === "marker" || e.signal === "start") && !firstMarker.has(e.node)) firstMarker.set(e.node, e.t);
      }
      expect(swapTimes(trace)).toEqual(firstMarker);
      expect(out.report.finishedAt - out.report.startedAt).toBe(Math.max(...firstMarker.values()) - out.report.startedAt);
    });
  });
});

describe("cut on every topology (property)", () => {
  it("zero violations, every node new, nothing held, 2 markers per link (500 runs)", async () => {
    await assertStrategyProperty("cut", 500, (out) => {
      expect(out.report.controlMessages).toBe(2 * out.links);
      expect(out.report.heldMessages).toBe(0);
    });
  });
});
