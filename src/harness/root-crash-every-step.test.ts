/**
 * The coordinator crashed at every step of an update: on the scripted scheduler, a 3-node line of ledgers is updated
 * from root "a" while numbered messages and timer ticks travel; for every k, the root crashes right after the k-th
 * event since update() was called (k = 0: before its prepares left), which stops the update's coordinator with it,
 * and restarts some events later (0: at once; later: what reaches it meanwhile is lost on the wire), and in one
 * variant crashes a second time soon after. The update must complete, the checker find nothing over the whole run,
 * every channel deliver each number exactly once, in order, and the coordinator do nothing while its root is down.
 */
import { describe, expect, it } from "vitest";
import { CONTROL } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Strategy } from "../core/update.js";
import { eventsWithoutCrash, LINE_NODES, ledgerFindings, startLedgerLine, stepOnce, steps } from "../../test/support/ledger-line.js";

const NODES = LINE_NODES;
const ROOT = "a";
const SEED = 13;

/** The coordinator's events while its root was down (there must be none), and whether it acted both before and after. */
function coordinatorAcross(trace: readonly TraceEvent[]): { readonly whileDown: number; readonly resumed: boolean } {
  let down = false;
  let crashed = false;
  let before = false;
  let after = false;
  let whileDown = 0;
  for (const e of trace) {
    if (e.kind === "crash" && e.node === ROOT) [down, crashed] = [true, true];
    else if (e.kind === "restart" && e.node === ROOT) down = false;
    else if ("node" in e && e.node === CONTROL) {
      if (down) whileDown++;
      else if (crashed) after = true;
      else before = true;
    }
  }
  return { whileDown, resumed: before && after };
}

/** Crash the root after k events, restart it `downFor` events later (again `again` events after, if given). */
async function crashRootAt(strategy: Strategy, groupCommitMs: number, k: number, downFor: number, again?: number): Promise<{ found: string[]; resumed: boolean }> {
  const run = startLedgerLine(strategy, groupCommitMs, SEED);
  const { sys } = run;
  steps(sys, k);
  const crashes = again === undefined ? 1 : 2;
  for (let i = 0; i < crashes; i++) {
    if (i > 0) steps(sys, again ?? 0);
    sys.crash(ROOT);
    steps(sys, downFor);
    await sys.restart(ROOT);
  }
  while (stepOnce(sys));
  await sys.settle();
  const outcome = await run.update;
  await Promise.all(run.answers);
  const across = coordinatorAcross(sys.trace());
  const where = `root crashed after event ${k}, down for ${downFor}${again !== undefined ? `, again ${again} later` : ""}`;
  const found = [
    ...(outcome === "complete" ? [] : [`update ${outcome}`]),
    ...(across.whileDown > 0 ? [`${across.whileDown} coordinator event(s) while its root was down`] : []),
    ...NODES.filter((n) => sys.version(n) !== "ledger@2").map((n) => `${n} is at ${sys.version(n)}`),
    ...sys.check().violations.map((v) => v.message),
    ...ledgerFindings(sys),
  ];
  await sys.close();
  return { found: found.map((f) => `${where}: ${f}`), resumed: across.resumed };
}

describe("the root (and its coordinator) crashed at every step of an update (scripted scheduler, 3-node line, ledger)", () => {
  for (const strategy of ["conservative", "rollback", "snapshot", "cut"] as const) {
    for (const groupCommitMs of [0, 2]) {
      it(`${strategy}${groupCommitMs > 0 ? `, group commit ${groupCommitMs} ms` : ""}: the update completes after every crash of its root, exactly once per channel`, async () => {
        const total = eventsWithoutCrash(strategy, groupCommitMs, SEED);
        expect(total).toBeGreaterThan(20);
        const found: string[] = [];
        let resumed = 0;
        for (let k = 0; k <= total; k++) {
          for (const downFor of [0, 4, 12]) {
            const r = await crashRootAt(strategy, groupCommitMs, k, downFor);
            found.push(...r.found);
            if (r.resumed) resumed++;
          }
          found.push(...(await crashRootAt(strategy, groupCommitMs, k, 3, 5)).found);
        }
        expect(found.slice(0, 5)).toEqual([]);
        // Most crashes fell in the middle of the update: its coordinator acted before the crash and after the restart.
        expect(resumed).toBeGreaterThan(total);
      }, 60_000);
    }
  }
});
