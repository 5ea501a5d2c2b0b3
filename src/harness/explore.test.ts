import { describe, expect, it } from "vitest";
import { EXPLORE_MODELS } from "./explore-models.js";
import { countInterleavings, explore, type ExploreModel } from "./explore.js";
import { relayUpdate, relayV1 } from "./relay.js";
import type { Strategy } from "../core/update.js";
import { testKnobs } from "../core/test-knobs.js";

const pair = EXPLORE_MODELS["pair"]!;
const line3 = EXPLORE_MODELS["line3"]!;
const triangle3 = EXPLORE_MODELS["triangle3"]!;

describe("exhaustive exploration on the real runtime", () => {
  it.each(["conservative", "cut", "snapshot", "rollback"] as Strategy[])("2 nodes, every order and every moment of the update: %s never violates an invariant", async (strategy) => {
    const r = await explore(pair, strategy, { maxTimeMs: 120_000 });
    expect(r.violation?.violations).toBeUndefined();
    expect(r.complete).toBe(true);
    expect(r.stateHashing).toBe(true);
    expect(r.paths).toBeGreaterThan(0);
    expect(r.states).toBeGreaterThan(100);
  });

  // Rollback on 3 nodes takes about a minute (line3) to several (triangle3): the README gives its command and figures.
  it.each([
    ["line3", "conservative", line3],
    ["line3", "cut", line3],
    ["line3", "snapshot", line3],
    ["triangle3", "conservative", triangle3],
    ["triangle3", "snapshot", triangle3],
  ] as const)("3 nodes (%s) under %s: complete, no violation", async (_name, strategy, model) => {
    const r = await explore(model, strategy, { maxTimeMs: 300_000 });
    expect(r.violation).toBeUndefined();
    expect(r.complete).toBe(true);
    expect(r.states).toBeGreaterThan(1000);
  }, 400_000);

  it.each([
    ["pair", pair],
    ["line3", line3],
    ["triangle3", triangle3],
  ] as const)("finds the naive update's violation on %s, with the path and its trace", async (_name, model) => {
    const r = await explore(model, "naive", { maxTimeMs: 60_000 });
    expect(r.violation).toBeDefined();
    expect(r.violation?.violations.some((v) => v.invariant === "correctness")).toBe(true);
    expect(r.violation?.path).toContain("update()");
    expect(r.violation?.trace.length).toBeGreaterThan(10);
  });

  // Sleep sets prune orders, never states: the reduced search must reach exactly the states the plain
  // state-caching search reaches. States are compared up to virtual time: two orders that end in the same
  // state may get there at different instants, and the reduction promises the state, not the clock.
  const atAnyTime = (fingerprint: string): string => fingerprint.replace(/"t":[0-9.]+/g, '"t":0');
  it.each([
    ["pair", "conservative", pair],
    ["pair", "cut", pair],
    ["pair", "snapshot", pair],
    ["pair", "rollback", pair],
    ["line3", "conservative", line3],
  ] as const)("the reduction reaches every state the plain state-caching search reaches, and no other (%s, %s)", async (_name, strategy, model) => {
    const plain = new Set<string>();
    const reduced = new Set<string>();
    const unbounded = { maxTimeMs: 300_000, maxPaths: 1e9 };
    const a = await explore(model, strategy, { ...unbounded, sleepSets: false, onState: (f) => plain.add(atAnyTime(f)) });
    const b = await explore(model, strategy, { ...unbounded, onState: (f) => reduced.add(atAnyTime(f)) });
    expect(a.complete && b.complete).toBe(true);
    expect(plain.size).toBeGreaterThan(100);
    // A few of the differing fingerprints are enough to debug; all of them can be megabytes.
    expect([...plain].filter((f) => !reduced.has(f)).slice(0, 3)).toEqual([]);
    expect([...reduced].filter((f) => !plain.has(f)).slice(0, 3)).toEqual([]);
    expect(b.steps).toBeLessThan(a.steps);
  }, 300_000);

  it("the reduction does less work than the plain search for the same verdict", async () => {
    const reduced = await explore(pair, "naive", {});
    const plain = await explore(pair, "naive", { reduction: false });
    expect(plain.violation).toBeDefined();
    expect(reduced.violation).toBeDefined();
    const full = await explore(pair, "cut", {});
    expect(full.complete).toBe(true);
    // Ten times the reduced search's paths are not enough for the plain search to finish the same model.
    const plainCut = await explore(pair, "cut", { reduction: false, maxPaths: 10 * (full.paths + full.pruned) });
    expect(plainCut.complete).toBe(false);
    expect(plainCut.violation).toBeUndefined();
  });

  it("counts the plain search's paths over the state graph, exactly as many as it runs", async () => {
    // Two nodes, one message from a, the update at any moment: small enough for the plain search to finish in a test.
    const tiny: ExploreModel = {
      name: "tiny",
      description: "a sends one message to b; the update at any point",
      root: "a",
      build(sys) {
        sys.create("a", relayV1);
        sys.create("b", relayV1);
        sys.link("a", "b");
      },
      start(sys) {
        sys.request("a", { kind: "send", token: "x", hops: 0, to: "b" }).catch(() => undefined);
      },
      update: () => relayUpdate,
    };
    for (const strategy of ["conservative", "cut", "rollback"] as Strategy[]) {
      const plain = await explore(tiny, strategy, { reduction: false, maxTimeMs: 60_000 });
      const counted = await countInterleavings(tiny, strategy);
      expect(plain.complete && counted.complete).toBe(true);
      expect(counted.paths).toBe(plain.paths);
      expect(plain.paths).toBeGreaterThan(10);
    }
    // And on the 3-node line, where the plain search could never finish: a third of a trillion orders.
    const line = await countInterleavings(line3, "conservative");
    expect(line.paths).toBe(320_952_546_720);
  }, 120_000);
});

describe("exploring a life: a second update, a link right after an update (issue 13)", () => {
  const off = { resolveAtCompletion: false, refuseSecondPrepare: false, checkUpdateIds: false };
  const on = { resolveAtCompletion: true, refuseSecondPrepare: true, checkUpdateIds: true };

  it("line3-link under cut: complete and clean; with the protections off the explorer finds the double mapping", async () => {
    const model = EXPLORE_MODELS["line3-link"] as ExploreModel;
    const clean = await explore(model, "cut", { maxTimeMs: 120_000 });
    expect(clean.complete).toBe(true);
    expect(clean.violation).toBeUndefined();
    Object.assign(testKnobs, off);
    try {
      const broken = await explore(model, "cut", { maxTimeMs: 120_000 });
      expect(broken.violation?.violations.map((v) => v.message).join("\n")).toMatch(/mapped by node "a" .* which is not newer/);
    } finally {
      Object.assign(testKnobs, on);
    }
  }, 240_000);

  it("line3-twice under conservative: complete and clean; under rollback with the protections off a second update is found stranded", async () => {
    const model = EXPLORE_MODELS["line3-twice"] as ExploreModel;
    const clean = await explore(model, "conservative", { maxTimeMs: 120_000 });
    expect(clean.complete && clean.violation === undefined).toBe(true);
    Object.assign(testKnobs, off);
    try {
      const broken = await explore(model, "rollback", { maxTimeMs: 120_000 });
      expect(broken.violation).toBeDefined();
    } finally {
      Object.assign(testKnobs, on);
    }
  }, 240_000);
});

describe("the synchronizer explored (its pulse machinery describes itself)", () => {
  it("pair and line3-link under synchronizer: complete, no violation (the link is refused after the first pulse, as documented)", async () => {
    for (const name of ["pair", "line3-link"]) {
      const r = await explore(EXPLORE_MODELS[name] as ExploreModel, "synchronizer", { maxTimeMs: 120_000 });
      expect({ name, complete: r.complete, violation: r.violation }).toEqual({ name, complete: true, violation: undefined });
    }
  }, 240_000);
});

describe("exploring a crash: one node crashes at any point and restarts at any point after (DESIGN.md, faults)", () => {
  const pairCrash = EXPLORE_MODELS["pair-crash"] as ExploreModel;
  const pairCrashCommit = EXPLORE_MODELS["pair-crash-commit"] as ExploreModel;

  it.each(["conservative", "cut", "snapshot", "rollback"] as Strategy[])("pair-crash under %s: complete, no violation, every node crashed somewhere", async (strategy) => {
    const crashed = new Set<string>();
    const onState = (f: string): void => {
      const down = /\|down:(\w+)$/.exec(f)?.[1];
      if (down !== undefined) crashed.add(down);
    };
    const r = await explore(pairCrash, strategy, { maxTimeMs: 120_000, onState });
    expect({ complete: r.complete, violation: r.violation?.violations.map((v) => v.message) }).toEqual({ complete: true, violation: undefined });
    expect([...crashed].sort()).toEqual(["a", "b"]);
    // Conservative: 970 states (1,031 while the coordinator never crashed: with the root "a" down it does nothing now).
    expect(r.states).toBeGreaterThan(900);
  }, 120_000);

  it("pair-crash-commit under conservative: complete, no violation (a crash between a step and its commit loses the step)", async () => {
    const r = await explore(pairCrashCommit, "conservative", { maxTimeMs: 120_000 });
    expect({ complete: r.complete, violation: r.violation?.violations.map((v) => v.message) }).toEqual({ complete: true, violation: undefined });
  }, 120_000);

  it("line3-crash under cut, bounded to 5 s (the full search is the README's command): no violation", async () => {
    const r = await explore(EXPLORE_MODELS["line3-crash"] as ExploreModel, "cut", { maxTimeMs: 5_000 });
    expect(r.violation?.violations.map((v) => v.message)).toBeUndefined();
    expect(r.states).toBeGreaterThan(1000);
  }, 60_000);

  it("line3-crash-root under conservative, bounded to 5 s: no violation, and the root (with its coordinator) crashed on the way", async () => {
    let rootDown = 0;
    const r = await explore(EXPLORE_MODELS["line3-crash-root"] as ExploreModel, "conservative", {
      maxTimeMs: 5_000,
      onState: (f) => void (f.endsWith("|down:b") && rootDown++),
    });
    expect(r.violation?.violations.map((v) => v.message)).toBeUndefined();
    expect(r.states).toBeGreaterThan(100);
    expect(rootDown).toBeGreaterThan(10);
  }, 60_000);

  it("finds naive's violation on pair-crash", async () => {
    const r = await explore(pairCrash, "naive", {});
    expect(r.violation?.violations.some((v) => v.invariant === "correctness")).toBe(true);
  });

  // Sleep sets with crash choices (a crash happens at its node and at the one crash; a restart everywhere): the
  // reduced search must reach exactly the states of the plain state-caching search.
  it("the reduction reaches every state the plain state-caching search reaches on pair-crash (cut)", async () => {
    const plain = new Set<string>();
    const reduced = new Set<string>();
    const atAnyTime = (fingerprint: string): string => fingerprint.replace(/"t":[0-9.]+/g, '"t":0');
    const a = await explore(pairCrash, "cut", { maxTimeMs: 120_000, maxPaths: 1e9, sleepSets: false, onState: (f) => plain.add(atAnyTime(f)) });
    const b = await explore(pairCrash, "cut", { maxTimeMs: 120_000, maxPaths: 1e9, onState: (f) => reduced.add(atAnyTime(f)) });
    expect(a.complete && b.complete).toBe(true);
    expect([...plain].filter((f) => !reduced.has(f)).slice(0, 3)).toEqual([]);
    expect([...reduced].filter((f) => !plain.has(f)).slice(0, 3)).toEqual([]);
    expect(b.steps).toBeLessThan(a.steps);
  }, 120_000);

  it("finds a broken recovery: an outbox the store does not keep, markers that leave before their commit", async () => {
    const broken = async (knob: "persistOutbox" | "controlAfterCommit", model: ExploreModel): Promise<readonly string[]> => {
      testKnobs[knob] = false;
      try {
        const r = await explore(model, "cut", { maxTimeMs: 60_000 });
        return r.violation?.path ?? [];
      } finally {
        testKnobs[knob] = true;
      }
    };
    expect(await broken("persistOutbox", pairCrash)).toContain("restart");
    expect(await broken("controlAfterCommit", pairCrashCommit)).toContain("restart");
  }, 120_000);
});
