import { describe, expect, it } from "vitest";
import { noFigures, type NodeReport } from "../core/control.js";
import type { ControlEnvelope } from "../core/envelope.js";
import { PrepareDeadlineError, UpdateAbortedError, UpdateHaltedError, UpdateNotAbortableError } from "../core/errors.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import { Topology } from "../core/topology.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Strategy } from "../core/update.js";
import { planUpdate } from "./control-plane.js";
import { CoordinatorHost, MemoryJournal, type CoordinatorHostEnvironment, type CoordinatorOutcome } from "./coordinator-host.js";

/** A process around a coordinator host: a settable clock, timers fired by hand, what left and how it ended. */
function world(tracing = false) {
  const sent: ControlEnvelope[] = [];
  const traced: TraceEvent[] = [];
  const outcomes: CoordinatorOutcome[] = [];
  const timers: { at: number; fire: () => void; live: boolean }[] = [];
  let now = 1000;
  const env: CoordinatorHostEnvironment = {
    now: () => now,
    tracing,
    record: (ev) => void traced.push(ev),
    send: (e) => void sent.push(e),
    finished: (o) => void outcomes.push(o),
    setTimer: (ms, fire) => {
      const t = { at: now + ms, fire, live: true };
      timers.push(t);
      return () => void (t.live = false);
    },
  };
  const advance = (ms: number): void => {
    now += ms;
    for (const t of timers) if (t.live && t.at <= now) (t.live = false), t.fire();
  };
  return { env, sent, outcomes, advance, traced };
}

function plan(strategy: Strategy) {
  const topology = new Topology();
  for (const n of ["a", "b", "c"]) topology.addNode(n);
  topology.addLink("a", "b");
  topology.addLink("b", "c");
  return planUpdate({ topology, synchronizer: false, versionOf: () => "v1" }, [{ from: "v1", to: "v2" }], { strategy, root: "a" }, 7, 1000);
}

const code = { kind: "package", text: "(the signed package)" } as const;
let reportSeq = 0;
function report(from: NodeId, msg: NodeReport): ControlEnvelope {
  return { kind: "control", from, to: CONTROL, update: 7, msg, link: 0, plane: true, seq: ++reportSeq };
}

describe("CoordinatorHost: the journaled coordinator", () => {
  it("prepares every node, numbered on its link; a report applies once; the strategy starts when all prepared", () => {
    const w = world();
    const journal = new MemoryJournal();
    const host = CoordinatorHost.start(w.env, journal, plan("conservative"), code, { link: 42, numbered: true });
    expect(w.sent.map((e) => [e.to, e.msg.kind, e.link, e.seq])).toEqual([
      ["a", "prepare", 42, 1],
      ["b", "prepare", 42, 1],
      ["c", "prepare", 42, 1],
    ]);
    const r = report("a", { kind: "prepared" });
    host.report(r);
    host.report(r); // a resent duplicate
    expect(journal.load().filter((i) => i.kind === "report")).toHaveLength(1);
    host.report(report("b", { kind: "prepared" }));
    expect(host.run.phase).toBe("preparing");
    host.report(report("c", { kind: "prepared" }));
    expect(host.run.phase).toBe("running");
    expect(() => host.abort("too late")).toThrow(UpdateNotAbortableError);
    expect(journal.load().some((i) => i.kind === "abort")).toBe(false);
  });

  it("a restarted root rebuilds the coordinator from its journal: same phase, nothing sent again until a node asks", () => {
    const w = world();
    const journal = new MemoryJournal();
    const first = CoordinatorHost.start(w.env, journal, plan("conservative"), code, { link: 42, numbered: true });
    for (const n of ["a", "b", "c"]) first.report(report(n, { kind: "prepared" }));
    const sentBefore = w.sent.length;
    first.close(); // the root dies

    const w2 = world();
    const again = CoordinatorHost.recover(w2.env, journal);
    expect(again).toBeDefined();
    expect(again?.run.phase).toBe("running");
    expect(w2.sent).toHaveLength(0);
    // Node "a" says it applied only the prepare: it gets the rest, with the numbers they first had.
    const resent = again?.unacked("a", 1) ?? [];
    const firstRun = w.sent.slice(0, sentBefore).filter((e) => e.to === "a" && (e.seq ?? 0) > 1);
    expect(resent.map((e) => [e.msg.kind, e.seq])).toEqual(firstRun.map((e) => [e.msg.kind, e.seq]));
    expect(again?.applied("b")).toBeGreaterThan(0);
  });

  it("prepare's deadline aborts, naming the nodes not prepared; the abort is resent until acknowledged, then the journal is cleared", () => {
    const w = world();
    const journal = new MemoryJournal();
    const host = CoordinatorHost.start(w.env, journal, plan("cut"), code, { link: 5, numbered: true, deadlineMs: 30_000 });
    host.report(report("a", { kind: "prepared" }));
    w.advance(29_999);
    expect(w.outcomes).toHaveLength(0);
    w.advance(1);
    const outcome = w.outcomes[0];
    expect(outcome !== undefined && "error" in outcome ? outcome.error : undefined).toBeInstanceOf(PrepareDeadlineError);
    expect(outcome !== undefined && "error" in outcome ? outcome.error.message : "").toMatch(/node\(s\) "b", "c" did not prepare within 30000 ms/);
    expect(w.sent.filter((e) => e.msg.kind === "abort").map((e) => e.to)).toEqual(["a", "b", "c"]);
    expect(host.ended).toBe(true);
    // Until every node acknowledges its abort a restarted root would resend it.
    for (const n of ["a", "b"]) host.acked(n, 2);
    expect(journal.load().length).toBeGreaterThan(0);
    expect(CoordinatorHost.recover(world().env, journal)?.unacked("c", 1).map((e) => e.msg.kind)).toEqual(["abort"]);
    host.acked("c", 2);
    expect(journal.load()).toHaveLength(0);
  });

  it("a restarted root keeps the deadline's instant (it does not start a new one); an operator's abort in prepare is journaled", () => {
    const w = world();
    const journal = new MemoryJournal();
    CoordinatorHost.start(w.env, journal, plan("cut"), code, { link: 5, numbered: true, deadlineMs: 10_000 }).close();
    const w2 = world(); // same clock start (1000): 4 s later the deadline has 6 s left
    w2.advance(4000);
    const again = CoordinatorHost.recover(w2.env, journal) as CoordinatorHost;
    w2.advance(5999);
    expect(w2.outcomes).toHaveLength(0);
    again.abort("operator");
    const outcome = w2.outcomes[0];
    expect(outcome !== undefined && "error" in outcome ? outcome.error : undefined).toBeInstanceOf(UpdateAbortedError);
    w2.advance(10);
    expect(w2.outcomes).toHaveLength(1);
    const replayed = CoordinatorHost.recover(world().env, journal);
    expect(replayed?.run.phase).toBe("aborted");
  });

  // The root journals the input that decides the update, then traces the update-end, then tells its watchers: a root
  // killed in between has done neither, and its restarted process must (a watcher would wait for ever, the checker
  // would find an update that never ended).
  it("a root that died after journaling the report that completed the update: the replay says how it ended, with the update-end", () => {
    const w = world(true);
    const journal = new MemoryJournal();
    const first = CoordinatorHost.start(w.env, journal, plan("conservative"), code, { link: 42, numbered: true });
    for (const n of ["a", "b", "c"]) first.report(report(n, { kind: "prepared" }));
    for (const n of ["a", "b", "c"]) first.report(report(n, { kind: "swapped", t: 1001, figures: noFigures() }));
    expect(first.run.phase).toBe("completed");
    expect(first.replayedEnd).toBeUndefined();
    first.close();

    const w2 = world(true);
    const again = CoordinatorHost.recover(w2.env, journal) as CoordinatorHost;
    expect(again.ended).toBe(true);
    expect(w2.outcomes).toEqual([]);
    expect(w2.traced).toEqual([]);
    const end = again.replayedEnd;
    expect(end !== undefined && "report" in end.outcome ? Object.keys(end.outcome.report.nodes).sort() : []).toEqual(["a", "b", "c"]);
    expect(end?.event).toEqual(w.traced.find((e) => e.kind === "update-end"));
    expect(end?.event).toMatchObject({ kind: "update-end", update: 7, outcome: "completed" });
  });

  it("the replay of a halted update says it halted; of one resumed after its halt, nothing (it runs on)", () => {
    const w = world(true);
    const journal = new MemoryJournal();
    const first = CoordinatorHost.start(w.env, journal, plan("conservative"), code, { link: 42, numbered: true });
    for (const n of ["a", "b", "c"]) first.report(report(n, { kind: "prepared" }));
    first.report(report("a", { kind: "swapped", t: 1001, figures: noFigures() }));
    first.report(report("b", { kind: "swap-failed", error: "cannot convert" }));
    expect(first.run.phase).toBe("halted");
    const halted = CoordinatorHost.recover(world(true).env, journal);
    const end = halted?.replayedEnd;
    expect(halted?.ended).toBe(false);
    expect(end !== undefined && "error" in end.outcome ? end.outcome.error : undefined).toBeInstanceOf(UpdateHaltedError);
    expect(end?.event).toMatchObject({ kind: "update-end", outcome: "halted" });
    first.resume({ kind: "package", text: "(the corrected package)" });
    const resumed = CoordinatorHost.recover(world(true).env, journal);
    expect(resumed?.run.phase).toBe("resuming");
    expect(resumed?.replayedEnd).toBeUndefined();
  });
});

