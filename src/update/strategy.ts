import type { CoordinatorMessage, NodeReport, RunInfo, StrategyPrepare, VectorCut } from "../core/control.js";
import type { NodeId } from "../core/ids.js";
import type { Topology } from "../core/topology.js";
import type { Strategy } from "../core/update.js";
import type { NodeAgent, NodePort } from "../node/agent.js";

/** What a strategy's coordinator part may do. */
export interface CoordinatorPort {
  now(): number;
  readonly run: RunInfo;
  /** A message to a node on the control plane; `algorithm` counts it in controlMessages, else in controlPlaneMessages. */
  send(to: NodeId, msg: CoordinatorMessage, algorithm: boolean): void;
  /** Give the update up before any node turned new: every node is told to disarm and update() rejects with `error`. */
  abort(error: Error): void;
  /** The nodes the update still waits for: every node of the run but those forgotten (lost for good), sorted. */
  liveNodes(): readonly NodeId[];
}

/**
 * A strategy's part on the coordinator for one run: its own state lives in
 * the object (never in module-level maps keyed by run), so the coordinator
 * can live in any process.
 */
export interface StrategyCoordinator {
  /** G: the coordinator's first move once every node is prepared; `acks` are the nodes' prepare acknowledgements. */
  start(acks: ReadonlyMap<NodeId, VectorCut | undefined>): void;
  /** A node's message that the common protocol (prepared, swapped, done) does not handle. */
  onReport?(from: NodeId, msg: NodeReport): void;
  /**
   * A new coordinator took the update over (its root was lost for good) and the protocol had reached some live node:
   * rebuild this part's state from the nodes' answers and do what the lost coordinator would have done next.
   */
  adopt?(parts: ReadonlyMap<NodeId, NodeReport & { kind: "part" }>): void;
  /** A node was forgotten (lost for good) past prepare: what this part waited for from it is no longer awaited. */
  onForget?(node: NodeId): void;
  /** This part's state as plain data (see NodeAgent.fingerprint). */
  fingerprint?(): unknown;
}

export interface StrategyModule {
  readonly name: Strategy;
  /** The strategy's messages travel the application's links, so every node must be reachable from the root. */
  readonly needsConnectedTopology: boolean;
  /**
   * The protocol begins when the root acts on the coordinator's start (G is
   * that instant, the last one at which every node is old), rather than when
   * the coordinator sends its first message.
   */
  readonly startsAtRoot: boolean;
  /** Undefined when this system can run the strategy, else the reason it cannot. */
  unavailable(system: { readonly synchronizer: boolean }): string | undefined;
  /** Per-node data computed once by the coordinator and shipped with prepare (e.g. parents and children). */
  prepareData?(run: RunInfo, topology: Topology): ReadonlyMap<NodeId, StrategyPrepare>;
  /** The agent a node installs when it accepts prepare. */
  agent(node: NodePort, run: RunInfo, prepared: StrategyPrepare | undefined): NodeAgent;
  /** The coordinator's part for one run. */
  coordinator(port: CoordinatorPort): StrategyCoordinator;
}

/** The coordinator part of the strategies whose root begins on a plain start. */
export function startAtRoot(port: CoordinatorPort): StrategyCoordinator {
  return { start: () => port.send(port.run.root, { kind: "start" }, false) };
}
