/**
 * The ledger (src/harness/ledger.ts) with one more request, `{ kind: "big", chars }`, answered with a string of that
 * many characters: a test asks a node for an answer over the frame limit and sees the node refuse it and go on.
 */
import { defineBehavior } from "../../src/core/behavior.js";
import { ledgerHandlers, type LedgerMessage, type LedgerRequest, type LedgerState } from "../../src/harness/ledger.js";

type BigRequest = LedgerRequest | { readonly kind: "big"; readonly chars: number };

export const ledgerBig = defineBehavior<LedgerState, LedgerMessage, BigRequest, unknown>({
  version: "ledger@1",
  ...ledgerHandlers,
  request(s, req, id, ctx) {
    if (req.kind !== "big") return ledgerHandlers.request(s, req, id, ctx);
    ctx.respond(id, "x".repeat(req.chars));
    return s;
  },
});

export const behaviors = { "ledger-big": ledgerBig };
