import { describe, expect, it } from "vitest";
import { fuzz, paramsFor, runCase, type CaseResult } from "../../harness/fuzz.js";
import type { Scenario } from "../../harness/scenario.js";
import { defineUpdate, type Strategy } from "../../index.js";
import { loadScenario } from "../../cli/scenarios.js";
import { everyReplyIsAGrantUpdate, mutexV1, mutexV2, noReaskUpdate, transferMessage, transferState, type RaState } from "./mutex.js";
import { scenario } from "./fuzz-scenario.js";

const summary = (r: CaseResult) => ({
  params: r.params,
  updateError: r.updateError,
  violations: r.violations.map((v) => `[${v.invariant}] ${v.message}`).slice(0, 5),
  problems: r.problems.slice(0, 5),
});

/** The scenario, also counting what the final states say about the hard cases: sessions across the swap, re-asks. */
function counting(): { scenario: Scenario; seen: { across: number; reasked: number } } {
  const seen = { across: 0, reasked: 0 };
  const spy: Scenario = {
    ...scenario,
    workload(sys, nodes, rng, requests) {
      const w = scenario.workload(sys, nodes, rng, requests);
      return {
        done: w.done,
        problems() {
          for (const id of sys.nodes()) {
            const s = sys.state(id) as RaState;
            seen.reasked += s.reasked ?? 0;
            seen.across += s.history.filter((h) => h.enteredIn !== h.exitedIn).length;
          }
          return w.problems();
        },
      };
    },
  };
  return { scenario: spy, seen };
}

describe("the mutex scenario", () => {
  it('is the built-in scenario "mutex"', async () => {
    expect(await loadScenario("mutex")).toBe(scenario);
    expect(scenario).toMatchObject({ name: "mutex", nodes: { min: 2, max: 5 } });
  });

  for (const strategy of ["conservative", "rollback"] as const satisfies readonly Strategy[]) {
    it(`${strategy}: seeds 1..100 have no failure, and they reach the update's hard cases`, async () => {
      const { scenario: spy, seen } = counting();
      const outcome = await fuzz(spy, strategy, { runs: 100, seed: 1 });
      expect(outcome.failure === undefined ? undefined : summary(outcome.failure.original)).toBeUndefined();
      expect(outcome.runs).toBe(100);
      // Waiting nodes re-ask after the swap; some sessions are entered by mutex@1 and left by mutex@2.
      expect(seen.reasked).toBeGreaterThan(50);
      expect(seen.across).toBeGreaterThan(5);
    });
  }

  it("naive: fuzz finds a failure within 200 runs, and runCase with the shrunk parameters replays its trace exactly", async () => {
    const outcome = await fuzz(scenario, "naive", { runs: 200, seed: 1 });
    expect(outcome.failure).toBeDefined();
    const { original, shrunk } = outcome.failure!;
    expect(original.failed).toBe(true);
    expect(shrunk.failed).toBe(true);
    expect(shrunk.params.nodes).toBeLessThanOrEqual(original.params.nodes);
    expect(shrunk.trace.length).toBeLessThanOrEqual(original.trace.length);
    const again = await runCase(scenario, "naive", shrunk.params);
    expect(again.failed).toBe(true);
    expect(JSON.stringify(again.trace)).toBe(JSON.stringify(shrunk.trace));
    expect(summary(again)).toEqual(summary(shrunk));
  });

  it("a run is a function of its parameters, whenever the update starts (conservative, mid-load, at 0, after the load)", async () => {
    for (const updateAt of [undefined, 0, 500]) {
      const params = paramsFor(scenario, 7, { nodes: 5, requests: 30, ...(updateAt === undefined ? {} : { updateAt }) });
      const a = await runCase(scenario, "conservative", params);
      const b = await runCase(scenario, "conservative", params);
      expect(summary(a)).toEqual({ params, updateError: undefined, violations: [], problems: [] });
      expect(JSON.stringify(b.trace)).toBe(JSON.stringify(a.trace));
    }
  });

  it("its safety predicate catches the two wrong updates that the invariant checker cannot see", async () => {
    const wrong = [
      { update: everyReplyIsAGrantUpdate, expected: /^mutual exclusion/ },
      { update: noReaskUpdate, expected: /^liveness/ },
    ];
    for (const { update, expected } of wrong) {
      const outcome = await fuzz({ ...scenario, update: () => update }, "conservative", { runs: 50, seed: 1 });
      expect(outcome.failure).toBeDefined();
      const { shrunk } = outcome.failure!;
      expect(shrunk.violations).toEqual([]);
      expect(shrunk.problems.some((p) => expected.test(p))).toBe(true);
    }
  });

  it("a broken update that leaves a waiting node old ends the run with a report instead of hanging it", async () => {
    // The state transfer throws for a node that waits for the CS: a node idle at prepare that waits at its swap
    // stays mutex@1, and its tick would keep settle() running forever.
    const broken = defineUpdate({
      from: mutexV1,
      to: mutexV2,
      state: (old, info) => {
        if (old.mine !== null && !old.inCS) throw new Error("refuses waiting nodes");
        return transferState(old, info);
      },
      message: (old) => transferMessage(old),
    });
    const r = await runCase({ ...scenario, update: () => broken }, "conservative", paramsFor(scenario, 17));
    expect(r.failed).toBe(true);
    expect(r.updateError).toMatch(/state transfer threw/);
    expect(r.problems.some((p) => /^stuck: .* still wait for the CS .* the system was closed$/.test(p))).toBe(true);
  });
});
