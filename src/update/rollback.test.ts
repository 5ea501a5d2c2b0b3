import { describe, expect, it } from "vitest";
import { assertStrategyProperty } from "../testing/strategy-property.js";

describe("rollback on every topology (property)", () => {
  it("zero violations, every node new, each node rolls back at most once, at most 2 markers per link (500 runs)", async () => {
    await assertStrategyProperty("rollback", 500, (out) => {
      const rollbacks = out.system.trace().filter((e) => e.kind === "rollback").map((e) => (e.kind === "rollback" ? e.node : ""));
      expect(new Set(rollbacks).size).toBe(rollbacks.length);
      expect(out.report.controlMessages).toBe(2 * out.links);
    });
  });
});
