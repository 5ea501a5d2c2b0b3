import { describe, expect, it } from "vitest";
import type { CommitBatch, NodeStore } from "../runtime/node-store.js";
import { CommitLatency } from "./commit-latency.js";

describe("CommitLatency", () => {
  it("answers 0 with no commit, then the median and 99th percentile of what it was given", () => {
    const l = new CommitLatency();
    expect(l.percentiles()).toEqual({ p50Ms: 0, p99Ms: 0 });
    for (let i = 100; i >= 1; i--) l.add(i);
    expect(l.percentiles()).toEqual({ p50Ms: 50, p99Ms: 99 });
  });

  it("keeps the last few thousand commits only", () => {
    const l = new CommitLatency();
    for (let i = 0; i < 10_000; i++) l.add(1000);
    for (let i = 0; i < 5_000; i++) l.add(1);
    expect(l.percentiles()).toEqual({ p50Ms: 1, p99Ms: 1 });
  });

  it("times a store's commits and passes them through", () => {
    const batches: CommitBatch[] = [];
    const store: NodeStore = { kind: "test", load: () => undefined, commit: (b) => void batches.push(b), clear: () => undefined, close: () => undefined };
    const l = new CommitLatency();
    const timed = l.timing(store);
    timed.commit({ entries: [1, 2] });
    expect(timed.kind).toBe("test");
    expect(batches).toEqual([{ entries: [1, 2] }]);
    expect(l.percentiles().p50Ms).toBeGreaterThanOrEqual(0);
  });
});
