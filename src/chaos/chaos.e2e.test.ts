import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chaosHtml, chaosMarkdown } from "./chaos-report.js";
import { runChaos } from "./chaos-run.js";
import { netnsSupport } from "./netns.js";

const dirs: string[] = [];
const freshDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "liveswap-chaos-test-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("liveswap chaos on real processes", () => {
  it("a short seeded run: two updates in a row under kill -9 (root included), SIGSTOP, cuts, isolation, delay and a killed ctl; the verdict passes", async () => {
    const support = await netnsSupport();
    // Where namespaces or tc are missing the same schedule runs on loopback through the link proxies: say which.
    console.info(support.ok ? "chaos test: nodes in network namespaces, links cut with tc" : `chaos test: no network namespaces here (${support.why}); running the same schedule through the userspace proxies on loopback`);
    const lines: string[] = [];
    const run = await runChaos({ seed: 11, nodes: 4, updates: 2, dir: freshDir(), log: (l) => lines.push(l) });
    expect(run.network).toBe(support.ok ? "netns" : "loopback");
    expect(run.verdict.findings).toEqual([]);
    expect(run.verdict.ok).toBe(true);
    // It judged something: a real history, faults that really happened, updates that really completed.
    expect(run.verdict.checker.events).toBeGreaterThan(1000);
    expect(run.verdict.fifo.deliveries).toBeGreaterThan(100);
    expect(run.verdict.writes.acknowledged).toBeGreaterThan(0);
    expect(run.faults.length).toBeGreaterThan(0);
    expect(run.faults.filter((f) => f.error !== undefined)).toEqual([]);
    expect(run.verdict.updates.map((u) => u.completed)).toEqual([true, true]);
    expect(run.updates.map((u) => u.report?.strategy)).toEqual(run.plan.updates.map((u) => u.strategy));
    const md = chaosMarkdown(run);
    expect(md).toContain("PASS");
    expect(md).toContain("| merged trace through the checker |");
    expect(chaosHtml(run)).toMatch(/<svg class="timeline"[\s\S]*<\/svg>/);
  }, 240_000);

  it("a deliberately broken run (naive, no faults beyond delay) is caught: null reads or wrong-epoch executions, exit status FAIL", async () => {
    const run = await runChaos({ seed: 5, nodes: 3, updates: 1, strategy: "naive", faults: ["delay"], globalReadsPerSec: 200, dir: freshDir() });
    expect(run.verdict.ok).toBe(false);
    const caught = run.verdict.checker.violations.filter((v) => v.invariant === "correctness").length + (run.verdict.requests.byKind["global-read"]?.nulls ?? 0);
    expect(caught).toBeGreaterThan(0);
    expect(chaosMarkdown(run)).toContain("FAIL");
  }, 240_000);
});
