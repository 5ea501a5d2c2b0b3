import type { NodeId } from "../../src/core/ids.js";
import type { Strategy } from "../../src/core/update.js";
import { ledgerUpdate, ledgerV1, type LedgerRequest, type LedgerState } from "../../src/harness/ledger.js";
import { System } from "../../src/system.js";

/** The three ledgers of a line a - b - c, on the scripted scheduler: the crash-at-every-step tests' system. */
export const LINE_NODES = ["a", "b", "c"] as const;

export interface LedgerLineRun {
  readonly sys: System;
  /** "complete", or "rejected: <error>". */
  readonly update: Promise<string>;
  readonly answers: Promise<unknown>[];
}

/** The line, its load (bursts that hop on, ticks), and update() called from root "a"; nothing has run yet. */
export function startLedgerLine(strategy: Strategy, groupCommitMs: number, seed: number): LedgerLineRun {
  const sys = new System({ seed, scheduler: "scripted", groupCommitMs });
  for (const n of LINE_NODES) sys.create(n, ledgerV1);
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
export function stepOnce(sys: System): boolean {
  const next = sys.pending()[0];
  if (next === undefined) return false;
  sys.step(next.seq);
  return true;
}

/** Run up to `n` events. */
export function steps(sys: System, n: number): void {
  for (let i = 0; i < n && stepOnce(sys); i++);
}

/** Events the update's run takes from update() to the end, with no crash. */
export function eventsWithoutCrash(strategy: Strategy, groupCommitMs: number, seed: number): number {
  const { sys } = startLedgerLine(strategy, groupCommitMs, seed);
  let n = 0;
  while (stepOnce(sys)) n++;
  sys.abandon();
  return n;
}

/**
 * Every channel between `nodes` delivered exactly what its sender numbered, once and in order; no request ran twice.
 * `lost`: a node lost for good (not in `nodes`): what went to or came from it is not judged.
 */
export function ledgerFindings(sys: System, nodes: readonly NodeId[] = LINE_NODES, lost?: NodeId): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    const s = sys.state(n) as LedgerState;
    out.push(...s.anomalies.filter((a) => lost === undefined || !a.startsWith(`${lost}:`)).map((a) => `${n}: anomaly ${a}`));
    for (const [rid, times] of Object.entries(s.ran)) if (times > 1) out.push(`${n}: request ${rid} ran ${times} times`);
    for (const [to, sent] of Object.entries(s.sent)) {
      if (to === lost) continue;
      const got = (sys.state(to) as LedgerState).got[n] ?? 0;
      if (got !== sent) out.push(`${n} -> ${to}: ${sent} sent, ${got} delivered`);
    }
  }
  return out;
}
