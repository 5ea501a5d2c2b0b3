/** The ledger (per-channel exactly-once checker, src/harness/ledger.ts) as a node package for TCP tests. */
import { ledgerV1, ledgerV2 } from "../../src/harness/ledger.js";

export const behaviors = { "ledger-v1": ledgerV1, "ledger-v2": ledgerV2 };
