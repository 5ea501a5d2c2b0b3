import { describe, expect, it } from "vitest";
import { Topology } from "../core/topology.js";
import { checkUpdateObjects, planUpdate, type UpdateTarget } from "./control-plane.js";

/** A line a - b - c and a lone d, every node at v1. */
function target(synchronizer = false): UpdateTarget {
  const topology = new Topology();
  for (const n of ["a", "b", "c", "d"]) topology.addNode(n);
  topology.addLink("a", "b");
  topology.addLink("b", "c");
  return { topology, synchronizer, versionOf: () => "v1" };
}

const v12 = [{ from: "v1", to: "v2" }];

describe("planUpdate: the one validation of every network's updates", () => {
  it("refuses a strategy that runs over the links when the root cannot reach every node, naming them", () => {
    expect(() => planUpdate(target(), v12, { strategy: "cut", root: "a" }, 1, 0)).toThrow(/node\(s\) "d" cannot be reached from the root "a"; link them first/);
    // naive travels the control plane only: it does not need the links.
    expect(planUpdate(target(), v12, { strategy: "naive", root: "a" }, 1, 0).run.nodes).toEqual(["a", "b", "c", "d"]);
  });

  it("refuses unknown strategies, strategies the system cannot run, bad roots, bad pulses and missing versions", () => {
    const t = target();
    t.topology.addLink("c", "d");
    expect(() => planUpdate(t, v12, { strategy: "fast" as never }, 1, 0)).toThrow(/unknown strategy "fast"/);
    expect(() => planUpdate(t, v12, { strategy: "synchronizer" }, 1, 0)).toThrow(/does not run in pulses/);
    expect(() => planUpdate(target(true), v12, { strategy: "cut" }, 1, 0)).toThrow(/only the synchronizer strategy/);
    expect(() => planUpdate(t, v12, { strategy: "cut", root: "z" }, 1, 0)).toThrow(/there is no node "z"/);
    expect(() => planUpdate(t, v12, { strategy: "cut", atPulse: -1 }, 1, 0)).toThrow(/atPulse/);
    expect(() => planUpdate(t, [{ from: "v0", to: "v2" }], { strategy: "cut" }, 1, 0)).toThrow(/node "a" runs "v1" but the update only converts from "v0"/);
    expect(() => planUpdate(t, [...v12, ...v12], { strategy: "cut" }, 1, 0)).toThrow(/two updates convert from "v1"/);
    expect(() => planUpdate(t, [], { strategy: "cut" }, 1, 0)).toThrow(/no update given/);
  });

  it("plans what every node is told: the run, each node's version, and the strategy's per-node data", () => {
    const t = target();
    t.topology.addLink("c", "d");
    const plan = planUpdate(t, v12, { strategy: "conservative", root: "b" }, 7, 12);
    expect(plan.run).toEqual({ id: 7, strategy: "conservative", root: "b", nodes: ["a", "b", "c", "d"], from: { a: "v1", b: "v1", c: "v1", d: "v1" }, requestedAt: 12 });
    expect(plan.prepareData?.get("c")).toEqual({ kind: "orientation", parents: ["b"], children: ["d"] });
  });

  it("refuses an update that does not change the version, and atPulse given to a strategy other than synchronizer", () => {
    const t = target();
    t.topology.addLink("c", "d");
    expect(() => planUpdate(t, [{ from: "v1", to: "v1" }], { strategy: "cut" }, 1, 0)).toThrow(/from "v1" to "v1" does not change the version/);
    expect(() => planUpdate(t, [{ from: "v1", to: "" }], { strategy: "cut" }, 1, 0)).toThrow(/non-empty version strings/);
    expect(() => planUpdate(t, v12, { strategy: "cut", atPulse: 5 }, 1, 0)).toThrow(/only the synchronizer strategy swaps at a pulse; strategy "cut" takes no atPulse/);
    const pulsed = target(true);
    pulsed.topology.addLink("c", "d");
    expect(planUpdate(pulsed, v12, { strategy: "synchronizer", atPulse: 5 }, 1, 0).run.atPulse).toBe(5);
  });

  it("checks the shape of update objects: `to` must be a behavior, state a function", () => {
    const b1 = { version: "v1", init: () => 0, receive: (s: number) => s };
    const b2 = { version: "v2", init: () => 0, receive: (s: number) => s };
    expect(checkUpdateObjects([{ from: b1, to: b2, state: (s: number) => s }])).toHaveLength(1);
    expect(() => checkUpdateObjects([{ from: b1, to: { version: "v2" }, state: (s: number) => s }])).toThrow(/`to` is not a behavior/);
    expect(() => checkUpdateObjects([{ from: b1, to: "v2", state: (s: number) => s }])).toThrow(/`to` is not a behavior/);
    expect(() => checkUpdateObjects([{ from: b1, to: b2 }])).toThrow(/`state` must be the state transfer function/);
    expect(() => checkUpdateObjects([{ from: b1, to: b2, state: (s: number) => s, message: 3 }])).toThrow(/`message` must be a function/);
    expect(() => checkUpdateObjects([null])).toThrow(/needs from, to and state/);
  });
});
