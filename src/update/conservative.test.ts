import { describe, expect, it } from "vitest";
import { System, type TraceEvent } from "../index.js";
import { relayUpdate, relayV1, type RelayStateV2 } from "../harness/relay.js";
import { isControl, isMessage, isPlane, stepAll, stepFirst } from "../../test/support/scripted.js";
import { TOPOLOGY_KINDS } from "../harness/topologies.js";
import { runWorkload } from "../harness/workload.js";
import { assertStrategyProperty } from "../../test/support/strategy-property.js";
import { orientFrom } from "./orientation.js";
import { Topology } from "../core/topology.js";

function build(links: [string, string][]): System {
  const sys = new System({ scheduler: "scripted" });
  const ids = [...new Set(links.flat())].sort();
  for (const id of ids) sys.create(id, relayV1);
  for (const [a, b] of links) sys.link(a, b);
  return sys;
}

/** Index of the first trace event matching, -1 if none. */
function at(trace: readonly TraceEvent[], pred: (e: TraceEvent) => boolean): number {
  return trace.findIndex(pred);
}

/** Prepare every node and start: the coordinator's plane traffic until the root has its start. */
function prepareAndStart(sys: System): void {
  stepAll(sys, isPlane);
}

describe("orientation from the root", () => {
  it("ranks by (hop distance, id): the root has no parents, a diamond's far node has two", () => {
    const t = new Topology();
    for (const n of ["r", "a", "b", "c"]) t.addNode(n);
    for (const [x, y] of [["r", "a"], ["r", "b"], ["a", "c"], ["b", "c"], ["a", "b"]] as const) t.addLink(x, y);
    const o = orientFrom(t, "r");
    expect(o.get("r")).toEqual({ parents: [], children: ["a", "b"] });
    expect(o.get("a")).toEqual({ parents: ["r"], children: ["b", "c"] });
    expect(o.get("b")).toEqual({ parents: ["a", "r"], children: ["c"] });
    expect(o.get("c")).toEqual({ parents: ["a", "b"], children: [] });
  });
});

describe("conservative, step by step (the paper's correctness argument)", () => {
  it("a parent's message sent after m is held and reaches the child only after the child turned new, as a new-equivalent", async () => {
    const sys = build([["p", "c"]]);
    const update = sys.update(relayUpdate, { strategy: "conservative", root: "p" });
    prepareAndStart(sys); // p got start: m is on its way to c, the channel p->c is frozen
    void sys.request("p", { kind: "send", token: "late", hops: 0, to: "c" });
    stepFirst(sys, "the request at p", (e) => e.kind === "request");
    expect(sys.pending().some(isMessage("p", "c"))).toBe(false); // held, not on the wire
    stepFirst(sys, "m to c", isControl("m", "p", "c")); // c is a leaf: it turns new and replies m'
    expect(sys.version("c")).toBe("relay@2");
    expect(sys.version("p")).toBe("relay@1");
    stepFirst(sys, "m' to p", isControl("m'", "c", "p")); // p turns new and releases the new-equivalent
    stepFirst(sys, "the released message", isMessage("p", "c"));
    stepAll(sys, () => true);
    await update;
    const trace = sys.trace();
    const hold = at(trace, (e) => e.kind === "hold" && e.msg === "p.1");
    const swapC = at(trace, (e) => e.kind === "swap" && e.node === "c");
    const transform = trace.find((e) => e.kind === "transform" && e.msg === "p.1");
    const deliver = at(trace, (e) => e.kind === "deliver" && e.node === "c");
    expect(hold).toBeGreaterThanOrEqual(0);
    expect(swapC).toBeGreaterThan(hold);
    expect(transform).toMatchObject({ node: "p", into: ["p.1~1"], epoch: 1 });
    expect(deliver).toBeGreaterThan(swapC);
    expect(trace[deliver]).toMatchObject({ msg: "p.1~1", epoch: 1 });
    expect((sys.state("c") as RelayStateV2).history).toEqual(["late<p"]);
    expect(sys.check()).toEqual({ ok: true, violations: [] });
  });

  it("a child's message sent after its m' is buffered at a parent still old, and executed after the parent turns new", async () => {
    const sys = build([
      ["r", "a"],
      ["r", "b"],
    ]);
    const update = sys.update(relayUpdate, { strategy: "conservative", root: "r" });
    prepareAndStart(sys);
    stepFirst(sys, "m to a", isControl("m", "r", "a")); // a turns new, m' to r
    expect(sys.version("a")).toBe("relay@2");
    void sys.request("a", { kind: "send", token: "fresh", hops: 0, to: "r" });
    stepFirst(sys, "the request at a", (e) => e.kind === "request");
    stepFirst(sys, "m' from a", isControl("m'", "a", "r"));
    stepFirst(sys, "a's new message", isMessage("a", "r"));
    expect(sys.version("r")).toBe("relay@1"); // still waits for b's m'
    const trace = () => sys.trace();
    expect(at(trace(), (e) => e.kind === "buffer" && e.node === "r" && e.from === "a")).toBeGreaterThanOrEqual(0);
    expect(at(trace(), (e) => e.kind === "deliver" && e.node === "r")).toBe(-1);
    stepFirst(sys, "m to b", isControl("m", "r", "b"));
    stepFirst(sys, "m' from b", isControl("m'", "b", "r"));
    const swapR = at(trace(), (e) => e.kind === "swap" && e.node === "r");
    const deliverR = at(trace(), (e) => e.kind === "deliver" && e.node === "r");
    expect(swapR).toBeGreaterThan(0);
    expect(deliverR).toBeGreaterThan(swapR);
    stepAll(sys, () => true);
    await update;
    expect((sys.state("r") as RelayStateV2).history).toEqual(["fresh<a"]);
    expect(sys.check()).toEqual({ ok: true, violations: [] });
  });

  it("a node with two parents turns new only after m from both", async () => {
    // diamond from r: c's parents are a and b
    const sys = build([
      ["r", "a"],
      ["r", "b"],
      ["a", "c"],
      ["b", "c"],
    ]);
    const update = sys.update(relayUpdate, { strategy: "conservative", root: "r" });
    prepareAndStart(sys);
    stepFirst(sys, "m to a", isControl("m", "r", "a"));
    stepFirst(sys, "m from a to c", isControl("m", "a", "c"));
    expect(sys.version("c")).toBe("relay@1"); // a leaf, but one parent is missing
    expect(sys.trace().some((e) => e.kind === "swap")).toBe(false);
    stepFirst(sys, "m to b", isControl("m", "r", "b"));
    stepFirst(sys, "m from b to c", isControl("m", "b", "c"));
    expect(sys.version("c")).toBe("relay@2");
    stepAll(sys, () => true);
    const report = await update;
    expect(report.controlMessages).toBe(2 * 4);
    expect(sys.check().ok).toBe(true);
  });

  it("keeps serving outside requests and timers at a frozen node", async () => {
    const sys = build([
      ["r", "a"],
      ["r", "b"],
    ]);
    const update = sys.update(relayUpdate, { strategy: "conservative", root: "r" });
    prepareAndStart(sys); // r froze toward a and b, and waits for their m'
    const count = sys.request("r", { kind: "count" });
    stepFirst(sys, "the request at r", (e) => e.kind === "request");
    expect(await count).toBe(0);
    stepAll(sys, () => true);
    await update;
  });
});

describe("conservative on every topology (property)", () => {
  it("zero violations, every node new, exactly 2 control messages per link (1000 runs)", async () => {
    await assertStrategyProperty("conservative", 1000, (out) => {
      expect(out.report.controlMessages).toBe(2 * out.links);
      expect(out.report.finishedAt).toBe(out.report.nodes[out.report.root]?.turnedNewAt);
    });
  });
});

describe("the property is not vacuous", () => {
  it("the same workloads hold and transform messages under conservative, and catch naive", async () => {
    let held = 0;
    let transformed = 0;
    let naiveViolations = 0;
    for (let i = 0; i < 60; i++) {
      const c = {
        kind: TOPOLOGY_KINDS[i % TOPOLOGY_KINDS.length] as (typeof TOPOLOGY_KINDS)[number],
        nodes: 3 + (i % 10),
        topologySeed: i,
        rootIndex: i,
        seed: 1000 + i,
        tokensBefore: 4,
        tokensDuring: 4,
        maxHops: 20,
        updateAfter: 10,
      };
      const cons = await runWorkload("conservative", c);
      held += cons.report.heldMessages;
      transformed += cons.report.transformedMessages;
      const nv = await runWorkload("naive", c);
      if (!nv.check.ok) naiveViolations++;
    }
    expect(held).toBeGreaterThan(0);
    expect(transformed).toBe(held);
    expect(naiveViolations).toBeGreaterThan(10);
  });
});
