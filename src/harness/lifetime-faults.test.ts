import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { testKnobs } from "../core/test-knobs.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Strategy } from "../core/update.js";
import { scenario as ledger } from "../scenarios/ledger/scenario.js";
import { scenario as mutex } from "../scenarios/mutex/fuzz-scenario.js";
import { scenario as db } from "../scenarios/replicated-db/scenario.js";
import { scenario as relay } from "../scenarios/relay/scenario.js";
import { DEFAULT_SHAPE, drawLifetime, FAULT_SHAPE, isFaultStep, type LifetimeStep } from "./lifetime.js";
import { fuzzLifetimes, parseCase } from "./lifetime-fuzz.js";
import { runLifetime, type LifetimeResult } from "./lifetime-run.js";
import type { Scenario } from "./scenario.js";

const SCENARIOS: readonly Scenario[] = [relay, db, mutex, ledger];
const BY_NAME: Readonly<Record<string, Scenario>> = { relay, "replicated-db": db, mutex, ledger };
/** Fault lifetimes per strategy in `npm test`, split over the scenarios (the >= 1,000 run is the README's command). */
const PER_STRATEGY = 100;

const findings = (r: LifetimeResult): string[] => [...r.errors, ...r.violations.map((v) => v.message), ...r.problems];

/** Every crash in the step lines is followed by that node's restart, every partition by that link's heal. */
function endsEveryFault(lines: readonly string[]): string[] {
  const open: string[] = [];
  lines.forEach((line, i) => {
    const later = lines.slice(i + 1).join("\n");
    const crash = /^#\d+ crash (\S+)(?: \(an update runs\))?$/.exec(line);
    if (crash !== null && !new RegExp(`restart(ed)? ${crash[1]}\\b`).test(later)) open.push(line);
    const cut = /^#\d+ partition (\S+)(?: \(an update runs\))?$/.exec(line);
    if (cut !== null && !new RegExp(`heal(ed)? ${cut[1]}\\b`).test(later)) open.push(line);
  });
  return open;
}

/** Crashes of a running update's root (between its G and its end): each stopped the update's coordinator. */
function rootCrashesMidUpdate(trace: readonly TraceEvent[]): number {
  let root: string | undefined;
  let n = 0;
  for (const e of trace) {
    if (e.kind === "update-start") root = e.root;
    else if (e.kind === "update-end") root = undefined;
    else if (e.kind === "crash" && e.node === root) n++;
  }
  return n;
}

describe("lifetime fuzzing with faults", () => {
  it("draws faults from the seed alone, on top of the same lifetime, and runs them to the same trace twice", async () => {
    const plain = drawLifetime(relay, relay.lifetime!, 42, DEFAULT_SHAPE);
    const faulty = drawLifetime(relay, relay.lifetime!, 42, FAULT_SHAPE);
    expect(drawLifetime(relay, relay.lifetime!, 42, FAULT_SHAPE)).toEqual(faulty);
    // The faults' own stream: without its fault steps, sleeps and detachment, it is the plain lifetime.
    const strip = (steps: readonly LifetimeStep[]): unknown[] =>
      steps.filter((s) => !isFaultStep(s) && s.kind !== "sleep" && s.kind !== "move").map((s) => (s.kind === "update" ? { ...s, detached: undefined, moveHalted: undefined } : s));
    expect(strip(faulty.steps)).toEqual(strip(plain.steps));
    const drawn = Array.from({ length: 50 }, (_, i) => drawLifetime(relay, relay.lifetime!, i, FAULT_SHAPE));
    const kinds = new Set(drawn.flatMap((l) => l.steps.map((s) => s.kind)));
    for (const k of ["crash", "restart", "partition", "heal", "move"]) expect(kinds.has(k as LifetimeStep["kind"])).toBe(true);
    // Moves interrupted at once by a crash of the same node, and halted nodes moved before their resume.
    expect(drawn.some((l) => l.steps.some((s, i) => s.kind === "move" && l.steps[i + 1]?.kind === "crash"))).toBe(true);
    expect(drawn.some((l) => l.steps.some((s) => s.kind === "update" && s.moveHalted !== undefined))).toBe(true);
    expect(drawn.some((l) => l.steps.some((s) => s.kind === "update" && s.detached === true))).toBe(true);
    expect(drawn.some((l) => l.groupCommitMs !== undefined)).toBe(true);
    const [r1, r2] = [await runLifetime(relay, "cut", faulty), await runLifetime(relay, "cut", faulty)];
    expect(JSON.stringify(r2.trace)).toBe(JSON.stringify(r1.trace));
    expect(r1.trace.some((e) => e.kind === "crash")).toBe(true);
  });

  for (const strategy of ["conservative", "rollback", "snapshot", "cut"] as const) {
    it(`${PER_STRATEGY} lifetimes with faults under ${strategy}: every node back, the checker clean over the whole run, the ledger exactly-once`, async () => {
      const each = Math.ceil(PER_STRATEGY / SCENARIOS.length);
      let crashes = 0;
      let coordinators = 0;
      const moves = { arrive: 0, fence: 0 };
      for (const [i, scenario] of SCENARIOS.entries()) {
        for (let k = 0; k < each; k++) {
          const r = await runLifetime(scenario, strategy, drawLifetime(scenario, scenario.lifetime!, 50_000 + 1000 * i + k, FAULT_SHAPE));
          expect(findings(r).slice(0, 3), `${scenario.name} seed ${r.lifetime.seed}`).toEqual([]);
          crashes += r.trace.filter((e) => e.kind === "crash").length;
          coordinators += rootCrashesMidUpdate(r.trace);
          for (const e of r.trace) if (e.kind === "arrive" || e.kind === "fence") moves[e.kind]++;
        }
      }
      expect(crashes).toBeGreaterThan(PER_STRATEGY);
      // Nodes moved, and some moves were interrupted by a crash of their source (fenced at the restart).
      expect(moves.arrive).toBeGreaterThan(10);
      expect(moves.fence).toBeGreaterThan(0);
      // The root runs its update's coordinator: some crashes stopped a coordinator while its update ran.
      expect(coordinators).toBeGreaterThan(0);
    }, 120_000);
  }

  it("a synchronized system refuses crash (documented): its crash steps are skipped, its partitions and group commit run", async () => {
    for (const scenario of [relay, ledger]) {
      const out = await fuzzLifetimes(scenario, "synchronizer", { runs: 15, seed: 50_000, shape: FAULT_SHAPE });
      expect(out.failure === undefined ? "ok" : findings(out.failure.shrunk).slice(0, 3).join(" | ")).toBe("ok");
    }
    const r = await runLifetime(relay, "synchronizer", { seed: 1, nodes: 3, steps: [{ kind: "crash", node: 0 }, { kind: "partition", link: 0 }, { kind: "heal", link: 0 }] });
    expect(r.steps).toEqual(["#0 crash: skipped (a synchronized system refuses crash)", "#1 partition n00-n01", "#2 heal n00-n01"]);
  });

  it("a move lands at the next join; one interrupted by a crash of its node leaves it down where it was; a move while an update runs is refused", async () => {
    const r = await runLifetime(ledger, "cut", {
      seed: 3,
      nodes: 3,
      steps: [
        { kind: "load", requests: 4, seed: 7 },
        { kind: "move", node: 1, to: 0 },
        { kind: "move", node: 2, to: 5 },
        { kind: "crash", node: 2 },
        { kind: "link", a: 0, b: 2 },
        { kind: "restart", node: 0 },
        { kind: "update", to: 2, root: 0, during: 2, seed: 9, refuse: false, halt: null, detached: true },
        { kind: "move", node: 0, to: 1 },
      ],
    });
    expect(findings(r)).toEqual([]);
    expect(r.steps.slice(1, 6)).toEqual([
      "#1 move n01 to rack-1",
      "#2 move n02 to rack-3",
      "#3 crash n02",
      "#4 join: n01 arrived at rack-1, n02's move to rack-3 interrupted (its source crashed)",
      "#4 link n00-n02: skipped (already linked)",
    ]);
    expect(r.steps.slice(6)).toEqual([
      "#5 restart n02",
      expect.stringMatching(/^#6 update 1->2/),
      "#7 move n00 to rack-2 (an update runs)",
      "end join: n00's move to rack-2 refused (an update ran)",
      expect.stringMatching(/^end join: update 1->2 \(root n00\): complete/),
    ]);
  });

  it("refutes naive with faults too", async () => {
    const out = await fuzzLifetimes(relay, "naive", { runs: 20, seed: 1, shape: FAULT_SHAPE });
    expect(out.failure).toBeDefined();
  });

  // A fuzzer that never finds anything is only trusted once it has been seen to find the bug a protection exists for.
  describe("finds a deliberately broken recovery, and shrinks it with every fault ended", () => {
    it("an outbox the store does not keep (testKnobs.persistOutbox = false)", async () => {
      testKnobs.persistOutbox = false;
      try {
        for (const scenario of [ledger, relay]) {
          const out = await fuzzLifetimes(scenario, "cut", { runs: 20, seed: 1, shape: FAULT_SHAPE });
          expect(out.failure, scenario.name).toBeDefined();
          const shrunk = out.failure!.shrunk;
          expect(shrunk.lifetime.steps.some((s) => s.kind === "crash")).toBe(true);
          expect(shrunk.lifetime.steps.length).toBeLessThanOrEqual(out.failure!.original.lifetime.steps.length);
          expect(endsEveryFault(shrunk.steps)).toEqual([]);
          expect(shrunk.errors.filter((e) => /still down/.test(e))).toEqual([]);
        }
      } finally {
        testKnobs.persistOutbox = true;
      }
    }, 60_000);

    it("markers that leave before their commit (testKnobs.controlAfterCommit = false), with a group-commit window", async () => {
      testKnobs.controlAfterCommit = false;
      try {
        for (const scenario of [ledger, relay]) {
          const out = await fuzzLifetimes(scenario, "conservative", { runs: 20, seed: 1, shape: FAULT_SHAPE });
          expect(out.failure, scenario.name).toBeDefined();
          expect(out.failure!.shrunk.lifetime.groupCommitMs).toBeDefined();
        }
      } finally {
        testKnobs.controlAfterCommit = true;
      }
    }, 60_000);
  });
});

describe("runtime bugs the fault fuzzer found (fixed; each case replays clean; the smallest reproductions are in fault-regressions.test.ts)", () => {
  const dir = new URL("./lifetime-cases/", import.meta.url);
  const cases = readdirSync(dir).filter((f) => f.startsWith("faults-") && f.endsWith(".case.json"));
  it("has its cases", () => expect(cases.length).toBeGreaterThanOrEqual(5));
  it.each(cases)("%s", async (file) => {
    const c = parseCase(readFileSync(new URL(file, dir), "utf8"), file);
    const scenario = BY_NAME[c.scenario];
    expect(scenario, c.scenario).toBeDefined();
    const r = await runLifetime(scenario as Scenario, c.strategy as Strategy, c.lifetime);
    expect(findings(r)).toEqual([]);
    expect(r.trace.some((e) => e.kind === "crash")).toBe(true);
  });
});
