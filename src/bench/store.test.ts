import { describe, expect, it } from "vitest";
import { measureStore, storeBenchmark } from "./store.js";

// A smoke test: the figures are measured by `npm run bench store`, never judged in tests.
describe("the store benchmark (smoke)", () => {
  it("commits at 1, 10 and 100 entries per fsync and reports latency, entries/s and the disk's floor", () => {
    const f = measureStore({ maxCommits: 5 });
    expect(f.kind).toBe("sqlite");
    expect(f.entryBytes).toBeGreaterThan(150);
    expect(f.batches.map((b) => [b.batch, b.commits])).toEqual([
      [1, 5],
      [10, 5],
      [100, 5],
    ]);
    for (const b of f.batches) {
      expect(b.p50Ms).toBeGreaterThan(0);
      expect(b.p99Ms).toBeGreaterThanOrEqual(b.p50Ms);
      expect(b.entriesPerSec).toBeGreaterThan(0);
      expect(b.floorP50Ms).toBeGreaterThan(0);
    }
  });

  it("prints a table and one JSON record per batch size", () => {
    const out = storeBenchmark({ maxCommits: 3 });
    expect(out.records).toHaveLength(3);
    expect(out.lines.join("\n")).toMatch(/entries\/fsync[\s\S]*100/);
  });
});
