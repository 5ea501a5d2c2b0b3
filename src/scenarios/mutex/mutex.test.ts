import { describe, expect, it } from "vitest";
import { RequestFailedError, System, type Strategy } from "../../index.js";
import {
  everyReplyIsAGrantUpdate,
  mutexV1,
  mutexV2,
  noReaskUpdate,
  transferMessage,
  transferState,
  type AutoDone,
  type Granted,
  type LamportState,
  type Released,
} from "./mutex.js";
import { runMutex, type MutexRunOptions, type MutexRunResult } from "./scenario.js";

const DELAYS = [
  { min: 1, max: 10 },
  { min: 0, max: 30 },
  { min: 0, max: 2 },
] as const;

/** One seed, one case: 3 to 5 nodes, three delay ranges, varying load; the update moment and root are drawn from the seed. */
function caseFor(strategy: Strategy | "none", seed: number, extra: Partial<MutexRunOptions> = {}): MutexRunOptions {
  return {
    strategy,
    seed,
    nodes: 3 + (seed % 3),
    delay: DELAYS[seed % DELAYS.length] as (typeof DELAYS)[number],
    sessionsPerClient: 2 + (seed % 4),
    roundsPerAuto: 1 + (seed % 4),
    ...extra,
  };
}

async function run(options: MutexRunOptions): Promise<MutexRunResult> {
  const r = await runMutex(options);
  await r.system.close();
  return r;
}

function verdict(r: MutexRunResult, seed: number) {
  return { seed, safety: r.safety.violations, check: r.check.violations.map((v) => `[${v.invariant}] ${v.message}`) };
}

const seeds = (from: number, to: number, except: readonly number[] = []): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i).filter((s) => !except.includes(s));

describe("the behaviors on their own", () => {
  it("acquire answers at entry, release after leaving, an auto loop with its sessions; a stray release fails", async () => {
    for (const behavior of [mutexV1, mutexV2]) {
      const sys = new System({ seed: 7 });
      for (const id of ["a", "b", "c"]) sys.create(id, behavior);
      sys.link("a", "b");
      sys.link("a", "c");
      sys.link("b", "c");
      const auto = sys.request<AutoDone>("c", { kind: "auto", rounds: 2, gap: 3, hold: 2 });
      const g = await sys.request<Granted>("a", { kind: "acquire" });
      expect(g).toMatchObject({ node: "a", session: "a#1" });
      await expect(sys.request("b", { kind: "release", session: g.session })).rejects.toBeInstanceOf(RequestFailedError);
      const r = await sys.request<Released>("a", { kind: "release", session: g.session });
      expect(r).toMatchObject({ session: "a#1", enteredAt: g.enteredAt });
      const done = await auto;
      expect(done.sessions.map((s) => s.exit - s.enter)).toEqual([2, 2]);
      await sys.settle();
      expect(sys.check().violations).toEqual([]);
      await sys.close();
    }
  });

  it("a run is a function of its options", async () => {
    const a = await run(caseFor("conservative", 11));
    const b = await run(caseFor("conservative", 11));
    expect(JSON.stringify(b.system.trace())).toBe(JSON.stringify(a.system.trace()));
  });

  for (const start of ["mutex@1", "mutex@2"] as const) {
    it(`${start} alone is safe and live (seeds 1..150)`, async () => {
      let sessions = 0;
      for (const seed of seeds(1, 150)) {
        const r = await run(caseFor("none", seed, { start }));
        expect(verdict(r, seed)).toEqual({ seed, safety: [], check: [] });
        expect(r.stats.granted).toBe(r.stats.acquires);
        expect(r.stats.autoLoopsDone).toBe(r.stats.autoLoops);
        sessions += r.safety.sessions.total;
      }
      expect(sessions).toBeGreaterThan(2000);
    });
  }
});

describe("the state transfer and the message mapping", () => {
  const base: LamportState = {
    counter: 1,
    current: { id: "a#1", via: "client", acquire: "r1", loop: null, wantedAt: 0, enteredAt: null, enteredIn: null },
    inCS: false,
    wants: [],
    loops: [],
    history: [],
    dropped: 0,
    clock: 9,
    queue: [
      { ts: 3, node: "b" },
      { ts: 5, node: "a" },
      { ts: 7, node: "c" },
    ],
    seen: { b: 8, c: 9 },
    mine: 5,
    ticking: true,
    waitTicks: 2,
  };
  const info = { self: "a", neighbors: ["b", "c"] };

  it("a waiting node: certain grants only where Lamport's own condition holds, later requests deferred, the rest re-asked", () => {
    const s = transferState(base, info);
    // c stamped after our request and has no earlier request queued: it grants us; b's request precedes ours: unsure.
    expect(s).toMatchObject({ myTs: 5, clock: 9, granted: ["c"], unsure: ["b"], deferred: [{ ts: 7, node: "c" }], inCS: false });
  });

  it("a node in the CS defers every queued request; an idle node defers nothing", () => {
    const inCS = transferState({ ...base, inCS: true, queue: base.queue.slice(1), current: { ...base.current!, enteredAt: 4, enteredIn: "mutex@1" } }, info);
    expect(inCS).toMatchObject({ inCS: true, myTs: 5, deferred: [{ ts: 7, node: "c" }], unsure: [] });
    const idle = transferState({ ...base, current: null, mine: null, queue: [{ ts: 7, node: "c" }] }, info);
    expect(idle).toMatchObject({ myTs: null, deferred: [], granted: [], unsure: [] });
  });

  it("refuses a waiting node with no tick pending (nothing could re-ask after the swap)", () => {
    expect(() => transferState({ ...base, ticking: false }, info)).toThrow(/without a pending tick/);
  });

  it("request -> request, a clear reply -> a grant, any other reply -> nothing, release -> nothing", () => {
    expect(transferMessage({ t: "request", ts: 4 })).toEqual([{ t: "request", ts: 4 }]);
    expect(transferMessage({ t: "reply", ts: 6, for: 4, clear: true })).toEqual([{ t: "reply", for: 4 }]);
    expect(transferMessage({ t: "reply", ts: 6, for: 4, clear: false })).toEqual([]);
    expect(transferMessage({ t: "release", ts: 8, of: 2 })).toEqual([]);
  });
});

describe("the update mutex@1 -> mutex@2 under load", () => {
  const consistent: readonly { strategy: Strategy; seeds: number[] }[] = [
    { strategy: "conservative", seeds: seeds(1, 330) },
    { strategy: "rollback", seeds: seeds(1, 330) },
  ];
  for (const { strategy, seeds: list } of consistent) {
    it(`${strategy}: no safety violation, no invariant violation, every node mutex@2 (${list.length} seeds)`, async () => {
      let reasked = 0;
      let across = 0;
      for (const seed of list) {
        const r = await run(caseFor(strategy, seed));
        expect(verdict(r, seed)).toEqual({ seed, safety: [], check: [] });
        expect("error" in (r.report ?? { error: "no update" })).toBe(false);
        expect(r.system.nodes().every((n) => r.system.version(n) === "mutex@2")).toBe(true);
        reasked += r.stats.reasked;
        across += r.safety.sessions.acrossVersions;
      }
      // The runs do reach the hard cases: waiting nodes re-ask after the swap, sessions span the swap.
      expect(reasked).toBeGreaterThan(100);
      expect(across).toBeGreaterThan(50);
    });
  }

  // Regression: these runs found that timers set by events a rollback undid could still fire into the new
  // code once the node's rollback agent had detached (an undone CS entry's exit timer cut the replayed
  // session short; with seed 548 another node was observed in the CS before the real exit). The runtime now
  // cancels such timers itself, whatever agent the node has when they come due.
  const staleTimerCases: [string, MutexRunOptions][] = [
    ["seed 143", caseFor("rollback", 143)],
    ["seed 179", caseFor("rollback", 179)],
    ["seed 548", caseFor("rollback", 548)],
    ["2 nodes, seed 1058", { strategy: "rollback", seed: 1058, nodes: 2, clients: 0, autos: 3, roundsPerAuto: 1, updateAt: 36 }],
  ];
  it.each(staleTimerCases)("rollback, %s: a timer set by an undone event never fires", async (_name, options) => {
    const r = await run(options);
    expect(verdict(r, options.seed ?? 1)).toEqual({ seed: options.seed ?? 1, safety: [], check: [] });
  });

  it("naive is caught on some seed in 1..200, and the mutex checker alone catches it on some seed too", async () => {
    let caught: number | undefined;
    let caughtBySafety: number | undefined;
    for (const seed of seeds(1, 200)) {
      const r = await run(caseFor("naive", seed));
      if (caught === undefined && (!r.check.ok || !r.safety.ok)) caught = seed;
      if (caughtBySafety === undefined && r.safety.violations.some((v) => v.startsWith("mutual exclusion"))) caughtBySafety = seed;
      if (caught !== undefined && caughtBySafety !== undefined) break;
    }
    expect(caught).toBeDefined();
    expect(caughtBySafety).toBeDefined();
  });

  it("the two contrasts are caught: every reply as a grant breaks mutual exclusion; no re-ask deadlocks", async () => {
    let overlap: number | undefined;
    let stuck: number | undefined;
    for (const seed of seeds(1, 200)) {
      if (overlap === undefined) {
        const r = await run(caseFor("conservative", seed, { update: everyReplyIsAGrantUpdate }));
        if (r.safety.violations.some((v) => v.startsWith("mutual exclusion"))) overlap = seed;
      }
      if (stuck === undefined) {
        const r = await run(caseFor("conservative", seed, { update: noReaskUpdate }));
        if (r.safety.violations.some((v) => v.startsWith("liveness"))) stuck = seed;
      }
      if (overlap !== undefined && stuck !== undefined) break;
    }
    expect(overlap).toBeDefined();
    expect(stuck).toBeDefined();
  });
});
