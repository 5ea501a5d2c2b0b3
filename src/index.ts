// The public API (../shared/API.md): re-exports only.
export type { NodeId, RequestId, MessageId } from "./core/ids.js";
export type { Context, Behavior } from "./core/behavior.js";
export { defineBehavior } from "./core/behavior.js";
export type { Update, Strategy, UpdateOptions, UpdateReport } from "./core/update.js";
export { defineUpdate, STRATEGIES } from "./core/update.js";
export { System } from "./system.js";
export type { SystemOptions, PendingEvent } from "./system.js";
export type { CheckReport, Violation, Invariant, CheckOptions } from "./check/checker.js";
export { checkTrace } from "./check/checker.js";
export type { TraceEvent, TraceKind, DropReason, FaultSite, UpdateOutcome } from "./check/trace-event.js";
export { availableStrategies } from "./update/registry.js";
export * from "./core/errors.js";
export { Rng } from "./core/rng.js";
// the testing layer
export type { Scenario, ScenarioWorkload, RunParams } from "./check/scenario.js";
export { fuzz, runCase, shrink, paramsFor } from "./check/fuzz.js";
export type { CaseResult, FuzzOptions, FuzzOutcome } from "./check/fuzz.js";
export { explore } from "./check/explore.js";
export type { ExploreModel, ExploreOptions, ExploreResult } from "./check/explore.js";
export { toNdjson, fromNdjson } from "./check/ndjson.js";
