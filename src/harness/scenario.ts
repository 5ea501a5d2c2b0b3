import type { Rng } from "../core/rng.js";
import type { NodeId } from "../core/ids.js";
import type { Strategy, Update } from "../core/update.js";
import type { System, SystemOptions } from "../system.js";

/**
 * What a user points the fuzzer, replay and the explorer at: their behaviors,
 * their update, a topology and a workload, and the safety predicate of their
 * application. A module exporting `scenario` (or a default export) of this type
 * can be named with --scenario PATH.
 */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly nodes: { readonly min: number; readonly max: number; readonly default: number };
  /** The most outside requests one run issues (the fuzzer draws 1..max, the shrinker lowers it). */
  readonly maxRequests: number;
  /** The latest moment, in virtual ms after the workload starts, at which update() may be called. */
  readonly updateWindow: number;
  /** Options of the system a run builds (e.g. `synchronizer: true` for that strategy). */
  systemOptions?(strategy: Strategy): SystemOptions;
  /** Create the nodes and links of a run; random choices draw from rng. Returns the nodes, in the order roots are picked from. */
  build(sys: System, nodes: number, rng: Rng): readonly NodeId[];
  /** The update the run applies. */
  update(): Update | readonly Update[];
  /** Issue `requests` outside requests over time; `problems()` is read once the run has settled. */
  workload(sys: System, nodes: readonly NodeId[], rng: Rng, requests: number): ScenarioWorkload;
}

export interface ScenarioWorkload {
  /** Resolves when every request has been issued and answered (or has failed). */
  readonly done: Promise<void>;
  /** The application's own safety verdict, after the run settled: one line per problem, empty when safe. */
  problems(): readonly string[];
}

/** One run's parameters: with the scenario and the strategy, they determine the run exactly. */
export interface RunParams {
  readonly seed: number;
  readonly nodes: number;
  readonly requests: number;
  /** Virtual ms after the workload starts when update() is called. */
  readonly updateAt: number;
  /** Index of the root in the scenario's node list. */
  readonly root: number;
}
