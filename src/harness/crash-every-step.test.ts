/**
 * A crash at every step of an update: on the scripted scheduler, a 3-node line
 * of ledgers is updated while numbered messages and timer ticks travel; for
 * every k, each node in turn crashes right after the k-th event since update()
 * was called (k = 0: during prepare) and comes back a few events later. The
 * update must complete, the checker must find nothing over the whole run, and
 * every channel must have delivered each number exactly once, in order. With a
 * group-commit window, a commit is an event of its own, so some crashes fall
 * between a step and its commit and lose it.
 */
import { describe, expect, it } from "vitest";
import type { NodeId } from "../core/ids.js";
import type { Strategy } from "../core/update.js";
import { System } from "../system.js";
import { ledgerUpdate, ledgerV1, type LedgerRequest, type LedgerState } from "./ledger.js";

const NODES = ["a", "b", "c"] as const;
/** Events between the crash and the restart: what reaches the crashed node meanwhile is lost on the wire. */
const DOWN_FOR = 3;

interface Run {
  readonly sys: System;
  readonly update: Promise<unknown>;
  readonly answers: Promise<unknown>[];
}

/** The line, its load (bursts that hop on, ticks), and update() called; nothing has run yet. */
function start(strategy: Strategy, groupCommitMs: number): Run {
  const sys = new System({ seed: 7, scheduler: "scripted", groupCommitMs });
  for (const n of NODES) sys.create(n, ledgerV1);
  sys.link("a", "b");
  sys.link("b", "c");
  const ask = (n: NodeId, r: LedgerRequest): Promise<unknown> => sys.request(n, r);
  const answers = [ask("a", { kind: "burst", count: 2, hops: 2 }), ask("c", { kind: "burst", count: 2, hops: 1 }), ask("b", { kind: "tick", delay: 4, times: 2 })];
  const update = sys.update(ledgerUpdate, { strategy, root: "a" }).then(
    () => "complete",
    (e: unknown) => `rejected: ${String(e)}`,
  );
  return { sys, update, answers };
}

/** Run the earliest enabled event; false when none is left. */
function stepOnce(sys: System): boolean {
  const next = sys.pending()[0];
  if (next === undefined) return false;
  sys.step(next.seq);
  return true;
}

/** Events the update's run takes from update() to the end, with no crash. */
function eventsWithoutCrash(strategy: Strategy, groupCommitMs: number): number {
  const { sys } = start(strategy, groupCommitMs);
  let n = 0;
  while (stepOnce(sys)) n++;
  sys.abandon();
  return n;
}

/** Every channel delivered exactly what its sender numbered, once and in order; no request ran twice. */
function ledgerFindings(sys: System): string[] {
  const out: string[] = [];
  for (const n of NODES) {
    const s = sys.state(n) as LedgerState;
    out.push(...s.anomalies.map((a) => `${n}: anomaly ${a}`));
    for (const [rid, times] of Object.entries(s.ran)) if (times > 1) out.push(`${n}: request ${rid} ran ${times} times`);
    for (const [to, sent] of Object.entries(s.sent)) {
      const got = (sys.state(to) as LedgerState).got[n] ?? 0;
      if (got !== sent) out.push(`${n} -> ${to}: ${sent} sent, ${got} delivered`);
    }
  }
  return out;
}

/** Crash `victim` after k events, restart it DOWN_FOR events later, run to the end; what went wrong, if anything. */
async function crashAt(strategy: Strategy, groupCommitMs: number, k: number, victim: NodeId): Promise<string[]> {
  const run = start(strategy, groupCommitMs);
  const { sys } = run;
  for (let i = 0; i < k && stepOnce(sys); i++);
  sys.crash(victim);
  for (let i = 0; i < DOWN_FOR && stepOnce(sys); i++);
  await sys.restart(victim);
  while (stepOnce(sys));
  await sys.settle();
  const outcome = await run.update;
  await Promise.all(run.answers);
  const where = `crash of ${victim} after event ${k}`;
  const found = [...(outcome === "complete" ? [] : [`update ${String(outcome)}`]), ...sys.check().violations.map((v) => v.message), ...ledgerFindings(sys)];
  await sys.close();
  return found.map((f) => `${where}: ${f}`);
}

describe("a crash at every step of an update (scripted scheduler, 3-node line, ledger)", () => {
  for (const strategy of ["conservative", "rollback", "snapshot", "cut"] as const) {
    for (const groupCommitMs of [0, 2]) {
      it(`${strategy}${groupCommitMs > 0 ? `, group commit ${groupCommitMs} ms` : ""}: every node crashed after every event completes the update, exactly once per channel`, async () => {
        const total = eventsWithoutCrash(strategy, groupCommitMs);
        expect(total).toBeGreaterThan(20);
        const found: string[] = [];
        let lost = 0;
        for (let k = 0; k <= total; k++) {
          for (const victim of NODES) found.push(...(await crashAt(strategy, groupCommitMs, k, victim)));
        }
        expect(found.slice(0, 5)).toEqual([]);
        if (groupCommitMs > 0) {
          // Some crashes fell between a step and its commit: the runs above recovered from lost steps.
          for (let k = 0; k <= total && lost === 0; k++) lost += lostSteps(strategy, groupCommitMs, k);
          expect(lost).toBeGreaterThan(0);
        }
      }, 30_000);
    }
  }
});

/** How many uncommitted steps a crash of any node after k events loses. */
function lostSteps(strategy: Strategy, groupCommitMs: number, k: number): number {
  let lost = 0;
  for (const victim of NODES) {
    const { sys } = start(strategy, groupCommitMs);
    for (let i = 0; i < k && stepOnce(sys); i++);
    sys.crash(victim);
    for (const e of sys.trace()) if (e.kind === "crash") lost += e.lost;
    sys.abandon();
  }
  return lost;
}
