/**
 * The update's coordinator lives in its root's process (DESIGN.md, "Faults and durability"): a crash of the root
 * stops it, what it did is in its journal on the root's simulated disk, and the restart resumes it.
 */
import { describe, expect, it } from "vitest";
import { CONTROL } from "./core/ids.js";
import type { TraceEvent } from "./core/trace/trace-event.js";
import { InvalidOptionError, NodeDownError, PrepareDeadlineError, System, defineBehavior, defineUpdate, type Strategy } from "./index.js";
import { ledgerUpdate, ledgerUpdate2, ledgerV1, type LedgerState } from "./harness/ledger.js";

const STRATEGIES: readonly Strategy[] = ["conservative", "rollback", "snapshot", "cut"];
const NODES = ["a", "b", "c"] as const;

function line3(sys: System): void {
  for (const id of NODES) sys.create(id, ledgerV1);
  sys.link("a", "b");
  sys.link("b", "c");
}

async function anomalies(sys: System): Promise<string[]> {
  const reads = await Promise.all(NODES.map((n) => sys.request<LedgerState>(n, { kind: "read" })));
  return reads.flatMap((r) => r.anomalies);
}

/** The coordinator's own events (node CONTROL) between each crash of `root` and its restart: none may happen. */
function coordinatorEventsWhileDown(trace: readonly TraceEvent[], root: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  let down = false;
  for (const e of trace) {
    if (e.kind === "crash" && e.node === root) down = true;
    else if (e.kind === "restart" && e.node === root) down = false;
    else if (down && "node" in e && e.node === CONTROL) out.push(e);
  }
  return out;
}

/** Each node took each of the coordinator's signals of `update` once (a resent copy is dropped as a duplicate). */
function signalsTakenTwice(trace: readonly TraceEvent[], update: number): string[] {
  const seen = new Map<string, number>();
  for (const e of trace) {
    if (e.kind !== "control-receive" || e.from !== CONTROL || e.update !== update) continue;
    const k = `${e.node}:${e.signal}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen].filter(([k, n]) => n > 1 && !k.endsWith(":abort")).map(([k, n]) => `${k} x${n}`);
}

describe("the coordinator in the root's process (simulated)", () => {
  it("a crash of the root stops the coordinator; its restart resumes the update from the journal, which completes; a second update follows", async () => {
    for (const strategy of STRATEGIES) {
      for (const at of [0, 3, 8, 14]) {
        const sys = new System({ seed: 5 + at, groupCommitMs: { min: 0, max: 3 } });
        line3(sys);
        const load = sys.request("c", { kind: "burst", count: 3, hops: 5 });
        const update = sys.update(ledgerUpdate, { strategy, root: "a" });
        await sys.sleep(at);
        const crashed = sys.updating();
        if (crashed) sys.crash("a");
        await sys.sleep(20);
        if (sys.isDown("a")) await sys.restart("a");
        const report = await update; // a crash of the root does not reject it
        await load;
        await sys.settle();
        const where = `${strategy} root crashed at ${at}`;
        expect(NODES.map((n) => sys.version(n)), where).toEqual(["ledger@2", "ledger@2", "ledger@2"]);
        expect(Object.keys(report.nodes).sort(), where).toEqual([...NODES]);
        expect(await anomalies(sys), where).toEqual([]);
        expect(sys.check().violations.map((v) => `${where}: ${v.message}`)).toEqual([]);
        expect(coordinatorEventsWhileDown(sys.trace(), "a"), where).toEqual([]);
        expect(signalsTakenTwice(sys.trace(), 1), where).toEqual([]);
        // And then: the next update, from the same root, runs as usual.
        await sys.update(ledgerUpdate2, { strategy, root: "a" });
        await sys.settle();
        expect(NODES.map((n) => sys.version(n)), where).toEqual(["ledger@3", "ledger@3", "ledger@3"]);
        expect(sys.check().violations.map((v) => `${where}, second update: ${v.message}`)).toEqual([]);
        if (at === 8) expect(crashed, where).toBe(true);
      }
    }
  });

  it("the root crashed twice in one update, and a middle node as root: it completes each time", async () => {
    for (const strategy of STRATEGIES) {
      const sys = new System({ seed: 21 });
      line3(sys);
      const update = sys.update(ledgerUpdate, { strategy, root: "b" });
      for (const at of [2, 9]) {
        await sys.sleep(at);
        if (!sys.updating()) break;
        sys.crash("b");
        await sys.sleep(7);
        await sys.restart("b");
      }
      await update;
      await sys.settle();
      expect(NODES.map((n) => sys.version(n)), strategy).toEqual(["ledger@2", "ledger@2", "ledger@2"]);
      expect(sys.check().violations.map((v) => `${strategy}: ${v.message}`)).toEqual([]);
      expect(coordinatorEventsWhileDown(sys.trace(), "b"), strategy).toEqual([]);
    }
  });

  it("an update called while its root is down waits for the root's restart, then runs", async () => {
    const sys = new System({ seed: 4 });
    line3(sys);
    sys.crash("a");
    const update = sys.update(ledgerUpdate, { strategy: "cut", root: "a" });
    await sys.sleep(50);
    expect(sys.updating()).toBe(true);
    expect(sys.trace().some((e) => e.kind === "control-send")).toBe(false); // nothing prepared: the root took nothing yet
    expect(NODES.filter((n) => n !== "a").map((n) => sys.version(n))).toEqual(["ledger@1", "ledger@1"]);
    await sys.restart("a");
    await update;
    await sys.settle();
    expect(NODES.map((n) => sys.version(n))).toEqual(["ledger@2", "ledger@2", "ledger@2"]);
    expect(sys.check().violations).toEqual([]);
  });

  it("prepare's deadline: a node crashed in prepare and not back in time aborts the update, naming it, nothing changed; after its restart the next update completes", async () => {
    for (const strategy of STRATEGIES) {
      const sys = new System({ seed: 8 });
      line3(sys);
      sys.crash("c");
      const update = sys.update(ledgerUpdate, { strategy, root: "a", prepareDeadlineMs: 40 });
      const outcome = update.then(
        () => undefined,
        (e: unknown) => e,
      );
      await sys.sleep(39);
      expect(sys.updating()).toBe(true);
      await sys.sleep(60); // past the deadline; the update ends once c, back, has taken the abort
      await sys.restart("c");
      const err = await outcome;
      expect(err, strategy).toBeInstanceOf(PrepareDeadlineError);
      expect((err as PrepareDeadlineError).nodes).toEqual(["c"]);
      expect((err as Error).message).toMatch(/node\(s\) "c" did not prepare within 40 ms/);
      expect(NODES.map((n) => sys.version(n))).toEqual(["ledger@1", "ledger@1", "ledger@1"]);
      await sys.settle();
      expect(sys.check().violations.map((v) => `${strategy}: ${v.message}`)).toEqual([]);
      // Nothing holds the nodes any more: the same update again, with c up, completes within the same deadline.
      await sys.update(ledgerUpdate, { strategy, root: "a", prepareDeadlineMs: 40 });
      await sys.settle();
      expect(NODES.map((n) => sys.version(n))).toEqual(["ledger@2", "ledger@2", "ledger@2"]);
      expect(await anomalies(sys)).toEqual([]);
      expect(sys.check().violations.map((v) => `${strategy}, again: ${v.message}`)).toEqual([]);
    }
  });

  it("prepare's deadline survives a crash of the root: counted from the journaled begin, not from the restart", async () => {
    const sys = new System({ seed: 9 });
    line3(sys);
    sys.crash("c");
    const outcome = sys.update(ledgerUpdate, { strategy: "cut", root: "a", prepareDeadlineMs: 30 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await sys.sleep(10);
    sys.crash("a");
    await sys.sleep(10);
    await sys.restart("a");
    await sys.sleep(15); // 35 ms after the update began: past the deadline, though only 15 ms after the restart
    const deadline = sys.trace().find((e) => e.kind === "control-send" && e.node === CONTROL && e.signal === "abort");
    expect(deadline?.t).toBe(30);
    await sys.restart("c");
    expect(await outcome).toBeInstanceOf(PrepareDeadlineError);
    await sys.settle();
    expect(NODES.map((n) => sys.version(n))).toEqual(["ledger@1", "ledger@1", "ledger@1"]);
    expect(sys.check().violations).toEqual([]);
  });

  it("a root restarted past prepare's deadline first waits a moment for its nodes' resent reports: they all prepared meanwhile, so the update completes", async () => {
    const sys = new System({ seed: 9 });
    line3(sys);
    const outcome = sys.update(ledgerUpdate, { strategy: "cut", root: "a", prepareDeadlineMs: 30 }).then(
      () => "completed",
      (e: unknown) => String(e),
    );
    sys.crash("a"); // its coordinator's prepares to b and c are on their way; their answers will be lost on the wire
    await sys.sleep(100);
    await sys.restart("a"); // 100 ms after the update began: far past the deadline
    expect(await outcome).toBe("completed");
    await sys.settle();
    expect(NODES.map((n) => sys.version(n))).toEqual(["ledger@2", "ledger@2", "ledger@2"]);
    expect(sys.check().violations).toEqual([]);
  });

  it("no deadline by default: an update started while a node is down waits for it (API.md); a bad deadline is refused", async () => {
    const sys = new System({ seed: 2 });
    line3(sys);
    await expect(sys.update(ledgerUpdate, { strategy: "cut", prepareDeadlineMs: 0 })).rejects.toThrow(InvalidOptionError);
    await expect(sys.update(ledgerUpdate, { strategy: "cut", prepareDeadlineMs: Number.NaN })).rejects.toThrow(/prepareDeadlineMs/);
    expect(sys.updating()).toBe(false);
    sys.crash("b");
    const update = sys.update(ledgerUpdate, { strategy: "cut" });
    await sys.sleep(3_600_000);
    expect(sys.updating()).toBe(true);
    await sys.restart("b");
    await update;
    expect(NODES.map((n) => sys.version(n))).toEqual(["ledger@2", "ledger@2", "ledger@2"]);
  });

  it("a halted update survives a crash of its root: resume() is refused while the root is down, and finishes it after the restart", async () => {
    const v1 = defineBehavior<{ n: number }, unknown>({ version: "h@1", init: () => ({ n: 0 }), receive: (s) => s });
    const v2 = defineBehavior<{ n: number }, unknown>({ version: "h@2", init: () => ({ n: 0 }), receive: (s) => s });
    let calls = 0;
    const failing = defineUpdate({
      from: v1,
      to: v2,
      state: (s, { self }) => {
        if (self === "b" && ++calls === 2) throw new Error("no room");
        return s;
      },
    });
    const sys = new System({ seed: 3 });
    for (const n of NODES) sys.create(n, v1);
    sys.link("a", "b");
    sys.link("b", "c");
    await expect(sys.update(failing, { strategy: "cut", root: "a" })).rejects.toThrow(/no room/);
    sys.crash("a");
    await expect(sys.resume({ ...failing, state: (s: { n: number }) => s })).rejects.toThrow(NodeDownError);
    await sys.restart("a");
    const report = await sys.resume({ ...failing, state: (s: { n: number }) => s });
    expect(Object.keys(report.nodes).sort()).toEqual([...NODES]);
    await sys.settle();
    expect(NODES.map((n) => sys.version(n))).toEqual(["h@2", "h@2", "h@2"]);
    expect(sys.check().violations).toEqual([]);
  });
});
