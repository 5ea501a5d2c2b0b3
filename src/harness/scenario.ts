import type { Rng } from "../core/rng.js";
import type { NodeId } from "../core/ids.js";
import type { Behavior } from "../core/behavior.js";
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
  /** Lifetime fuzzing: generations beyond 2, reconfiguration and a request-at-a-time load. Optional. */
  readonly lifetime?: LifetimeSupport;
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
  /** The root: a node's name, or (as the fuzzer draws it) an index into the scenario's node list, taken modulo its length. */
  readonly root: number | NodeId;
}

/** The configuration commands a lifetime may draw between its steps. */
export type ReconfigKind = "create" | "link" | "unlink" | "destroy";

/**
 * What a scenario gives the lifetime fuzzer (`liveswap fuzz --lifetime`): its
 * program at any generation k >= 1 (as one behavior per family, when several
 * programs run side by side), the updates between generations with a real
 * state transfer and message mapping, and a load that can be issued a request
 * at a time while the system lives through many updates and reconfigurations.
 * Generation 1 is what `build` creates. Messages of different generations
 * must differ in shape, so that the checker and `problems()` catch a mix-up.
 */
export interface LifetimeSupport {
  /** The behaviors of generation k, one per family; the same objects on every call (resume needs them). */
  behaviorsAt(k: number): readonly Behavior[];
  /** The updates k -> j, one per family, between the objects of behaviorsAt; j < k is a back-out. */
  updates(from: number, to: number): readonly Update[];
  /** Whether the application can go from generation k to j (e.g. no back-out to a protocol it cannot rebuild). */
  canUpdate(from: number, to: number): boolean;
  /** Create the first nodes and links at generation 1, as `build` does for a single update; returns the nodes. */
  build(sys: System, nodes: number, rng: Rng): readonly NodeId[];
  /** The configuration commands the application tolerates (a fixed complete graph tolerates none). */
  readonly reconfigure: readonly ReconfigKind[];
  /** A load issued one request at a time, judged once the run settled. */
  load(sys: System): LifetimeLoad;
}

export interface LifetimeLoad {
  /** Issue one outside request at `node`, drawing what it asks from rng; never awaited by the caller, never rejects. */
  issue(node: NodeId, rng: Rng): void;
  /** Once the system settled (or was closed): everything issued has an outcome, then the application's verdict. */
  problems(): Promise<readonly string[]>;
}
