import { describe, expect, it } from "vitest";
import { defineBehavior } from "../core/behavior.js";
import type { RunInfo } from "../core/control.js";
import { defineUpdate, type Update } from "../core/update.js";
import { prepareNode, revalidate, type Participation } from "./prepare.js";

/** A behavior of version `version` whose receive adds `step` (its code differs from another step's only by source). */
function counter(version: string, step: 1 | 2) {
  return defineBehavior<number, unknown>({
    version,
    init: () => 0,
    receive: step === 1 ? (s) => s + 1 : (s) => s + 2,
  });
}

const v1 = counter("c@1", 1);
const v2 = counter("c@2", 1);
const run: RunInfo = { id: 7, strategy: "cut", root: "a", nodes: ["a"], from: { a: "c@1" }, requestedAt: 0 };
const env = { tracing: false, now: () => 0, record: () => undefined, loadCode: (code: { kind: string; updates?: readonly Update[] }) => code.updates ?? [] };
const node = { id: "a", version: "c@1", state: 3, neighbors: () => [] };

/** The node's part after a prepare of `u`, halted at its swap. */
function haltedPart(u: Update): Participation {
  let part: Participation | undefined;
  prepareNode(node, env, { run, code: { kind: "inline", updates: [u] } }, undefined, (o) => {
    if (o.kind === "prepared") part = o.part;
  });
  if (part === undefined) throw new Error("prepare refused");
  part.halted = "the transfer threw";
  return part;
}

function resume(part: Participation, u: Update): string {
  let out = "";
  revalidate(node, env, part, { kind: "inline", updates: [u] }, (o) => {
    out = o.kind === "ok" ? "ok" : o.reason;
  });
  return out;
}

describe("a resume corrects the transfer and the mappings, never the programs (the same code, by content)", () => {
  // (Its transfer threw at swap time: the part is marked halted by hand, as the host marks it.)
  const halted = haltedPart(defineUpdate({ from: v1, to: v2, state: (s: number) => s }));

  it("takes a corrected transfer between behaviors of the same code, even as other objects (a package loaded again)", () => {
    expect(resume(halted, defineUpdate({ from: counter("c@1", 1), to: counter("c@2", 1), state: (s: number) => s }))).toBe("ok");
  });

  it("refuses a resume whose new program differs from the halted update's, naming it", () => {
    expect(resume(halted, defineUpdate({ from: v1, to: counter("c@2", 2), state: (s: number) => s }))).toMatch(/c@2 \(its "to" behavior\) is not the halted update's: its handlers differ/);
  });

  it("refuses a resume whose old program differs", () => {
    expect(resume(halted, defineUpdate({ from: counter("c@1", 2), to: v2, state: (s: number) => s }))).toMatch(/c@1 \(its "from" behavior\) is not the halted update's/);
  });
});
