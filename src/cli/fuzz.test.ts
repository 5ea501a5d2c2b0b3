import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { testKnobs } from "../core/test-knobs.js";
import { buildProgram } from "./program.js";

async function cli(...args: string[]): Promise<{ lines: string[]; exitCode: number }> {
  const lines: string[] = [];
  process.exitCode = 0;
  await buildProgram((l) => lines.push(l)).parseAsync(["node", "liveswap", ...args]);
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { lines, exitCode };
}

afterEach(() => {
  process.exitCode = 0;
});

describe("liveswap fuzz and replay", () => {
  it("fuzz finds the naive update's violation within 200 runs, shrinks it, and replay reproduces it event for event", async () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-fuzz-"));
    const fuzzed = await cli("fuzz", "--scenario", "replicated-db", "--strategy", "naive", "--runs", "200", "--out", dir, "--json");
    expect(fuzzed.exitCode).toBe(1);
    const rec = JSON.parse(fuzzed.lines[0] as string);
    expect(rec.failed).toBe(true);
    expect(rec.runs).toBeLessThanOrEqual(200);
    expect(rec.shrunk.events).toBeLessThanOrEqual(rec.original.events);
    expect(rec.shrunk.params.nodes).toBeLessThanOrEqual(rec.original.params.nodes);
    expect(rec.shrunk.violations.length + rec.shrunk.problems.length).toBeGreaterThan(0);
    // the printed replay command, run as it is, rewrites the same trace byte for byte
    const args = (rec.replay as string).split(" ").slice(1);
    const replayFile = join(dir, "replayed.ndjson");
    args[args.indexOf("--trace") + 1] = replayFile;
    const replayed = await cli(...args);
    expect(replayed.exitCode).toBe(1);
    expect(readFileSync(replayFile).equals(readFileSync(rec.trace))).toBe(true);
  });

  it("fuzz finds nothing wrong with the conservative and cut updates", async () => {
    for (const strategy of ["conservative", "cut"]) {
      const r = await cli("fuzz", "--strategy", strategy, "--runs", "40", "--seed", "100", "--json");
      expect(JSON.parse(r.lines[0] as string)).toMatchObject({ failed: false, runs: 40 });
      expect(r.exitCode).toBe(0);
    }
  });

  it("prints the root by its name, and replay --root takes that name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-fuzz-"));
    const fuzzed = await cli("fuzz", "--scenario", "replicated-db", "--strategy", "naive", "--runs", "200", "--out", dir);
    const text = fuzzed.lines.join("\n");
    expect(text).not.toMatch(/root #/);
    const root = /--root (\S+)/.exec(text)?.[1];
    expect(root).toMatch(/^n\d\d$/);
    expect(text).toContain(`root ${root}:`);
  });

  it("fuzz --lifetime refutes naive, writes a case file, and replay --lifetime reproduces its trace byte for byte", async () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-lifetime-"));
    const fuzzed = await cli("fuzz", "--lifetime", "--scenario", "relay", "--strategy", "naive", "--runs", "20", "--out", dir, "--json");
    expect(fuzzed.exitCode).toBe(1);
    const rec = JSON.parse(fuzzed.lines[0] as string);
    expect(rec.shrunk.lifetime.steps.length).toBeLessThanOrEqual(rec.original.lifetime.steps.length);
    const args = (rec.replay as string).split(" ").slice(1);
    const replayFile = join(dir, "replayed.ndjson");
    args[args.indexOf("--trace") + 1] = replayFile;
    const replayed = await cli(...args);
    expect(replayed.exitCode).toBe(1);
    expect(readFileSync(replayFile).equals(readFileSync(rec.trace))).toBe(true);
  });

  it("fuzz --lifetime finds nothing wrong with cut on the mutex", async () => {
    const r = await cli("fuzz", "--lifetime", "--scenario", "mutex", "--strategy", "cut", "--runs", "10", "--json");
    expect(JSON.parse(r.lines[0] as string)).toMatchObject({ failed: false, lifetimes: 10 });
  });

  it("fuzz --lifetime --faults: clean under cut on the ledger; a broken recovery is found, written as a case file, and replay --lifetime reproduces it byte for byte", async () => {
    const clean = await cli("fuzz", "--lifetime", "--faults", "--scenario", "ledger", "--strategy", "cut", "--runs", "20", "--json");
    expect(JSON.parse(clean.lines[0] as string)).toMatchObject({ failed: false, lifetimes: 20, faults: true });
    const dir = mkdtempSync(join(tmpdir(), "liveswap-faults-"));
    testKnobs.persistOutbox = false;
    try {
      const fuzzed = await cli("fuzz", "--lifetime", "--faults", "--scenario", "ledger", "--strategy", "cut", "--runs", "20", "--out", dir, "--json");
      expect(fuzzed.exitCode).toBe(1);
      const rec = JSON.parse(fuzzed.lines[0] as string);
      expect(rec.shrunk.lifetime.steps.some((s: { kind: string }) => s.kind === "crash")).toBe(true);
      const args = (rec.replay as string).split(" ").slice(1);
      const replayFile = join(dir, "replayed.ndjson");
      args[args.indexOf("--trace") + 1] = replayFile;
      expect((await cli(...args)).exitCode).toBe(1);
      expect(readFileSync(replayFile).equals(readFileSync(rec.trace))).toBe(true);
    } finally {
      testKnobs.persistOutbox = true;
    }
  });

  it("--faults needs --lifetime", async () => {
    await expect(cli("fuzz", "--faults", "--runs", "1")).rejects.toThrow(/--faults.*--lifetime/);
  });

  it("names a scenario it cannot load", async () => {
    await expect(cli("fuzz", "--scenario", "/nonexistent/scenario.js")).rejects.toThrow(/neither a built-in one \(replicated-db/);
  });
});
