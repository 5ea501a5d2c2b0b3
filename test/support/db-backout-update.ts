// A back-out of the replicated database's key update (db@2 -> db@1), packed by tests that run many updates on one
// cluster: db@1 -> db@2 -> db@1 -> ... (a back-out is an ordinary update; the version it replaces is retired, and
// the one it returns to is current again).
import { DEFAULT_ENTRIES } from "../../src/scenarios/replicated-db/db.js";
import { databaseUpdate } from "../../src/scenarios/replicated-db/generations.js";

export const update = databaseUpdate(2, 1, DEFAULT_ENTRIES);
