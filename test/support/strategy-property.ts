import fc from "fast-check";
import { expect } from "vitest";
import type { Strategy } from "../../src/core/update.js";
import type { SystemOptions } from "../../src/system.js";
import { TOPOLOGY_KINDS } from "../../src/harness/topologies.js";
import { runWorkload, type WorkloadCase, type WorkloadOutcome } from "../../src/harness/workload.js";

export const workloadCases: fc.Arbitrary<WorkloadCase> = fc.record({
  kind: fc.constantFrom(...TOPOLOGY_KINDS),
  nodes: fc.integer({ min: 2, max: 15 }),
  topologySeed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  rootIndex: fc.nat({ max: 14 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  tokensBefore: fc.integer({ min: 0, max: 6 }),
  tokensDuring: fc.integer({ min: 0, max: 6 }),
  maxHops: fc.integer({ min: 0, max: 25 }),
  updateAfter: fc.integer({ min: 0, max: 40 }),
});

/**
 * The property every consistent strategy must have, over random connected
 * topologies (2 to 15 nodes), roots, seeds and workloads: zero violations and
 * every node new at the end, plus the strategy's own facts.
 */
export async function assertStrategyProperty(
  strategy: Strategy,
  numRuns: number,
  extra: (out: WorkloadOutcome, c: WorkloadCase) => void = () => undefined,
  options: SystemOptions = {},
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(workloadCases, async (c) => {
      const out = await runWorkload(strategy, c, options);
      await out.system.close();
      expect(out.check.violations).toEqual([]);
      expect(out.versions.every((v) => v === "relay@2")).toBe(true);
      extra(out, c);
    }),
    { numRuns, seed: 20261124 },
  );
}
