import { describe, expect, it } from "vitest";
import { indexGraph, randomConnectedGraph } from "../harness/topologies.js";
import { simSpeed } from "./sim-speed.js";

describe("sim-speed benchmark (smoke, no timing)", () => {
  it("builds a connected graph of the asked mean degree, the same for the same seed", () => {
    const g = randomConnectedGraph(50, 4, 3);
    expect(g.links.length).toBe(100);
    const { adj } = indexGraph(g);
    const seen = new Set([0]);
    const queue = [0];
    for (let i = 0; i < queue.length; i++) {
      for (const m of adj[queue[i] as number] as number[]) {
        if (!seen.has(m)) {
          seen.add(m);
          queue.push(m);
        }
      }
    }
    expect(seen.size).toBe(50);
    expect(randomConnectedGraph(50, 4, 3)).toEqual(g);
  });

  it("the runtime (trace off and on, store off and on) and the bare loop perform the same deliveries", async () => {
    const r = await simSpeed({ nodes: 20, tokensPerNode: 2, hops: 9, seed: 5, warmup: false });
    const bare = r.bare!;
    const off = r.traceOff!;
    const on = r.traceOn!;
    const storeOff = r.storeTraceOff!;
    const storeOn = r.storeTraceOn!;
    // 20 nodes x 2 tokens x 10 deliveries each, and one start timer per node.
    expect(bare.deliveries).toBe(400);
    expect(bare.timers).toBe(20);
    for (const p of [bare, off, on, storeOff, storeOn]) {
      expect(p.deliveries).toBeGreaterThan(0);
      expect(p.events).toBeGreaterThan(0);
      expect(p.events).toBe(p.deliveries + p.timers + p.requests);
      expect(p.wallMs).toBeGreaterThanOrEqual(0);
    }
    for (const p of [off, on, storeOff, storeOn]) {
      expect(p.deliveries).toBe(bare.deliveries);
      expect(p.timers).toBe(bare.timers);
      expect(p.events).toBe(bare.events);
      // Same delivery times at the same nodes, not just the same count.
      expect(p.finalTime).toBe(bare.finalTime);
      expect(p.checksum).toBe(bare.checksum);
    }
    // The trace agrees with the behavior's counters: one deliver event per delivery, and a send for each.
    for (const p of [on, storeOn]) {
      expect(p.traceDeliveries).toBe(p.deliveries);
      expect(p.traceEvents).toBeGreaterThanOrEqual(2 * p.deliveries + p.timers);
    }
    expect(storeOn.traceEvents).toBe(on.traceEvents);
  });
});
