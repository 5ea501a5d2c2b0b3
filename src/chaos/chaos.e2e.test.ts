import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nodeCommand } from "../deploy/cluster-processes.js";
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
  it("a short seeded run (3 nodes, seed 14): two updates in a row under kill -9 and restart, the root cut from everyone, delay and jitter, SIGSTOP, and r2 moved to another host under the load before the second update (which then SIGSTOPs it there); the verdict passes", async () => {
    const support = await netnsSupport();
    // Where namespaces or tc are missing the same schedule runs on loopback through the link proxies: say which.
    console.info(support.ok ? "chaos test: nodes in network namespaces, links cut with tc" : `chaos test: no network namespaces here (${support.why}); running the same schedule through the userspace proxies on loopback`);
    const lines: string[] = [];
    const run = await runChaos({ seed: 14, nodes: 3, updates: 2, dir: freshDir(), log: (l) => lines.push(l) });
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
    // The move: r2 went to another host (a spare namespace, or a new port on loopback) and was found there.
    expect(run.moves.map((m) => [m.node, m.locationEpoch, m.host])).toEqual([["r2", 1, support.ok ? "spare0" : "loopback"]]);
    expect(run.verdict.moves).toEqual({ made: 1, failed: 0, misplaced: [] });
    const md = chaosMarkdown(run);
    expect(md).toContain("PASS");
    expect(md).toContain("| merged trace through the checker |");
    expect(chaosHtml(run)).toMatch(/<svg class="timeline"[\s\S]*<\/svg>/);
  }, 240_000);

  it("the command: a deliberately broken run (naive) is caught and exits 1, its report written; interrupted, it leaves no process or namespace", async () => {
    const out = freshDir();
    const broken = await liveswap(["chaos", "--seed", "5", "--nodes", "3", "--updates", "1", "--strategy", "naive", "--faults", "", "--moves", "0", "--rate", "200", "--json", "--out", out]);
    expect(broken.code).toBe(1);
    const summary = JSON.parse(broken.stdout.trim().split("\n").at(-1) as string) as { verdict: { ok: boolean; checker: { violations: { invariant: string }[] }; requests: { byKind: Record<string, { nulls: number }> } } };
    expect(summary.verdict.ok).toBe(false);
    const caught = summary.verdict.checker.violations.filter((v) => v.invariant === "correctness").length + (summary.verdict.requests.byKind["global-read"]?.nulls ?? 0);
    expect(caught).toBeGreaterThan(0);
    expect(readFileSync(join(out, "chaos-seed-5.md"), "utf8")).toContain("FAIL");

    const dir = freshDir();
    const interrupted = await liveswap(["chaos", "--seed", "3", "--nodes", "3", "--dir", dir, "--out", out], (line, child) => {
      if (line.startsWith("cluster of 3 up")) child.kill("SIGINT");
    });
    expect(interrupted.stdout).toContain("SIGINT: stopping");
    expect(interrupted.code).toBe(130);
    // No process of the run is left (their command lines name its cluster file), nor a namespace of its pid.
    const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(join(dir, "cluster.yaml")));
    expect(left).toEqual([]);
    if (interrupted.pid !== undefined) expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(`lsw${interrupted.pid.toString(36)}_`);
  }, 240_000);
});

/** `liveswap ...` as a process; `onLine` sees each line of its output as it comes. */
function liveswap(args: readonly string[], onLine?: (line: string, child: ChildProcess) => void): Promise<{ code: number | null; stdout: string; pid: number | undefined }> {
  const { cmd, args: pre } = nodeCommand();
  const child = spawn(cmd, [...pre, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let pending = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    pending += d.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const l of lines) onLine?.(l, child);
  });
  child.stderr.on("data", (d: Buffer) => void (stdout += d.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, pid: child.pid })));
}
