import { describe, expect, it } from "vitest";
import type { Strategy } from "../../index.js";
import { buildProgram } from "../../cli/program.js";
import { runExperiment } from "./experiment.js";

/** The demo's acceptance for every strategy that must keep the databases consistent. */
const consistent: readonly Strategy[] = ["snapshot", "synchronizer", "conservative", "rollback", "cut"];

describe.each(consistent)("the paper's experiment under %s", (strategy) => {
  it("seeds 1..20: no global read answers null, no violation, replicas identical, every node new", async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = await runExperiment({ strategy, seed });
      await r.system.close();
      expect({ seed, withNull: r.reads.withNull, violations: r.check.violations }).toEqual({ seed, withNull: 0, violations: [] });
      expect(r.reads.answered).toBe(r.reads.issued);
      expect(r.replicasIdentical).toBe(true);
      expect("error" in r.update).toBe(false);
    }
  });

  it("liveswap demo --json reports it", async () => {
    const lines: string[] = [];
    await buildProgram((l) => lines.push(l)).parseAsync(["node", "liveswap", "demo", "--strategy", strategy, "--json", "--seed", "3"]);
    const rec = JSON.parse(lines[0] as string);
    expect(rec.reads.withNull).toBe(0);
    expect(rec.violations).toEqual({ correctness: 0, awareness: 0, termination: 0 });
  });
});
