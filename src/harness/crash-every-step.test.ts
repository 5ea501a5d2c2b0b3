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
import { eventsWithoutCrash, LINE_NODES, ledgerFindings, startLedgerLine, stepOnce } from "../../test/support/ledger-line.js";

const NODES = LINE_NODES;
const SEED = 7;
/** Events between the crash and the restart: what reaches the crashed node meanwhile is lost on the wire. */
const DOWN_FOR = 3;

/** Crash `victim` after k events, restart it DOWN_FOR events later, run to the end; what went wrong, if anything. */
async function crashAt(strategy: Strategy, groupCommitMs: number, k: number, victim: NodeId): Promise<string[]> {
  const run = startLedgerLine(strategy, groupCommitMs, SEED);
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
        const total = eventsWithoutCrash(strategy, groupCommitMs, SEED);
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
    const { sys } = startLedgerLine(strategy, groupCommitMs, SEED);
    for (let i = 0; i < k && stepOnce(sys); i++);
    sys.crash(victim);
    for (const e of sys.trace()) if (e.kind === "crash") lost += e.lost;
    sys.abandon();
  }
  return lost;
}
