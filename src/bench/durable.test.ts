import { describe, expect, it } from "vitest";
import { durableReport, measureDurable } from "./durable.js";

// A smoke test at a small size (about 15 s: it starts node processes 8 times; LIVESWAP_SKIP_PROCESS_BENCH=1 skips it).
// The figures are measured by `npm run bench durable`, never judged in tests.
describe.skipIf(process.env.LIVESWAP_SKIP_PROCESS_BENCH === "1")("the durable benchmark (smoke)", () => {
  it("measures both clusters' rates, the group commits and a node's recovery, and reports them", async () => {
    const f = await measureDurable({ messages: 200, rounds: 1, history: 300 });
    const t = f.throughput;
    expect(t.memoryMsgsPerSec).toBeGreaterThan(0);
    expect(t.durableMsgsPerSec).toBeGreaterThan(0);
    expect(t.ratio).toBeCloseTo(t.durableMsgsPerSec / t.memoryMsgsPerSec, 9);
    // b committed an entry per ping, a one per pong: 400 entries at least over the measured round.
    expect(t.entries).toBeGreaterThanOrEqual(400);
    expect(t.commits).toBeGreaterThan(0);
    expect(t.entriesPerCommit).toBeCloseTo(t.entries / t.commits, 9);
    expect(t.fsyncP99Ms).toBeGreaterThanOrEqual(t.fsyncP50Ms);
    const r = f.recovery;
    // 300 pings, then topped up to 999 entries past the last snapshot: all of them replayed.
    expect(r.replayedEntries).toBe(999);
    expect(r.history).toBeGreaterThanOrEqual(999);
    expect(r.spawnToStatusMs).toBeGreaterThan(0);
    expect(r.freshSpawnToStatusMs).toBeGreaterThan(0);
    expect(r.replayMs).toBeGreaterThanOrEqual(0);
    const out = durableReport(f);
    expect(out.records).toHaveLength(1);
    expect(Object.keys(out.records[0] ?? {})).toEqual(
      expect.arrayContaining(["filesystem", "memoryMsgsPerSec", "durableMsgsPerSec", "ratio", "entriesPerCommit", "fsyncP50Ms", "fsyncP99Ms", "spawnToStatusMs", "replayMs", "replayedEntries"]),
    );
    expect(out.lines.join("\n")).toMatch(/ratio[\s\S]*entries\/fsync[\s\S]*replay/);
  }, 120_000);
});
