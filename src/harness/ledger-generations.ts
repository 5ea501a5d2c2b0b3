/**
 * The ledger (ledger.ts) in any generation, for lifetime fuzzing across
 * faults: "ledger@k" runs the same handlers, so state and messages carry over
 * unchanged and an update k -> j (forward or back) only changes the version.
 * What the ledger judges is the runtime's delivery, not the application's
 * evolution: per channel exactly once and in order, every request run once.
 */
import { defineBehavior, type Behavior } from "../core/behavior.js";
import { defineUpdate, type Update } from "../core/update.js";
import { ledgerHandlers, ledgerV1, ledgerV2, ledgerV3, type LedgerMessage, type LedgerRequest, type LedgerState } from "./ledger.js";

type LedgerBehavior = Behavior<LedgerState, LedgerMessage, LedgerRequest, unknown>;

/** The first three are ledger.ts's own objects: a system knows one behavior object per version. */
const cache = new Map<number, LedgerBehavior>([
  [1, ledgerV1],
  [2, ledgerV2],
  [3, ledgerV3],
]);

/** Generation k of the ledger, the same object on every call. */
export function ledgerAt(k: number): LedgerBehavior {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`ledger generation must be a whole number >= 1, got ${k}`);
  let b = cache.get(k);
  if (b === undefined) {
    b = defineBehavior<LedgerState, LedgerMessage, LedgerRequest, unknown>({ version: `ledger@${k}`, ...ledgerHandlers });
    cache.set(k, b);
  }
  return b;
}

/** The update k -> j (any j != k): state and messages as they are. */
export function ledgerUpdateBetween(from: number, to: number): Update {
  return defineUpdate<LedgerState, LedgerMessage, LedgerState, LedgerMessage>({ from: ledgerAt(from), to: ledgerAt(to), state: (s) => s, message: (m) => [m] });
}
