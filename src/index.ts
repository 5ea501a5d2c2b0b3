// The public API (../shared/API.md): re-exports only.
export type { NodeId, RequestId, MessageId } from "./core/ids.js";
export type { Context, Behavior } from "./core/behavior.js";
export { defineBehavior } from "./core/behavior.js";
export type { Update, Strategy, UpdateOptions, UpdateReport } from "./core/update.js";
export { defineUpdate, STRATEGIES } from "./core/update.js";
export { System, DEFAULT_SETTLE_WITHIN_MS } from "./system.js";
export type { SystemOptions, PendingEvent } from "./system.js";
export type { CheckReport, Violation, Invariant, CheckOptions } from "./check/checker.js";
export { checkTrace } from "./check/checker.js";
export type { TraceEvent, TraceKind, DropReason, FaultSite, UpdateOutcome } from "./core/trace/trace-event.js";
export { availableStrategies } from "./update/registry.js";
export * from "./core/errors.js";
export { Rng } from "./core/rng.js";
// the testing layer
export type { Scenario, ScenarioWorkload, RunParams } from "./harness/scenario.js";
export { fuzz, runCase, shrink, paramsFor } from "./harness/fuzz.js";
export type { CaseResult, FuzzOptions, FuzzOutcome } from "./harness/fuzz.js";
export { explore } from "./harness/explore.js";
export type { ExploreModel, ExploreOptions, ExploreResult } from "./harness/explore.js";
export { toNdjson, fromNdjson } from "./core/trace/ndjson.js";
