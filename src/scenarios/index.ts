// The scenarios that ship with liveswap (`liveswap/scenarios`): the paper's replicated database,
// the mutual-exclusion protocol update (Lamport -> Ricart-Agrawala) and the small relay of the tests.
export { databaseV1, databaseV2, keyFormatUpdate, convertKey, keyV1, keyV2, DEFAULT_ENTRIES } from "./replicated-db/db.js";
export type { DbState, DbMessage, DbRequest, DbResponse } from "./replicated-db/db.js";
export { runExperiment, nodeName } from "./replicated-db/experiment.js";
export type { ExperimentOptions, ExperimentResult } from "./replicated-db/experiment.js";
export { scenario as replicatedDbScenario } from "./replicated-db/scenario.js";
export { mutexV1, mutexV2, mutexUpdate } from "./mutex/mutex.js";
export type { MutexRequest, MutexResponse } from "./mutex/mutex.js";
export { checkMutex } from "./mutex/safety.js";
export type { SafetyReport } from "./mutex/safety.js";
export { runMutex, mutexNode } from "./mutex/scenario.js";
export type { MutexRunOptions, MutexRunResult } from "./mutex/scenario.js";
export { scenario as mutexScenario } from "./mutex/fuzz-scenario.js";
export { relayV1, relayV2, relayUpdate } from "../harness/relay.js";
