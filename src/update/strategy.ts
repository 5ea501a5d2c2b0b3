import type { AppEnvelope, ControlEnvelope } from "../core/envelope.js";
import type { NodeId, RequestId } from "../core/ids.js";
import type { Topology } from "../core/topology.js";
import type { Strategy, Update } from "../core/update.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { NodeInput } from "../node/swap-node.js";
import type { UpdateRun } from "./update-run.js";

/**
 * A node agent is the filter between a node and its channels (DESIGN.md): every
 * send, delivery, request, timer and control message of the node passes through
 * it, and it decides to pass, hold, buffer, transform or drop.
 */
export interface NodeAgent {
  onSend(env: AppEnvelope): void;
  onDeliver(env: AppEnvelope): void;
  onRequest(request: RequestId, body: unknown): void;
  /** `timer` is the id startTimer returned. */
  onTimer(tag: string, timer: number): void;
  onControl(env: ControlEnvelope): void;
  /** A handler answered an outside request; without this hook the answer leaves at once. */
  onRespond?(request: RequestId, result: unknown): void;
  /** A handler set a timer; without this hook it starts at once. */
  onSetTimer?(delayMs: number, tag: string): void;
  /** The update this agent was armed for was aborted in prepare. */
  onAbort?(): void;
  /** What the node tells the coordinator with its prepare acknowledgement (e.g. its vector time when armed). */
  prepareAck?(): unknown;
  /**
   * Everything of this agent's state that can change what happens next, as plain
   * data (the explorer hashes it to recognise a global state it has seen).
   * An agent without it makes state hashing unavailable. Node states it keeps
   * (checkpoints) go through `stateKey`, the model's abstraction of a state,
   * as the node's own state does.
   */
  fingerprint?(stateKey: (state: unknown) => unknown): unknown;
}

/** What an agent may do to its node. */
export interface NodePort {
  readonly id: NodeId;
  readonly epoch: number;
  readonly version: string;
  now(): number;
  neighbors(): readonly NodeId[];
  /** Run the node's handler for this input now; its sends come back through the agent's onSend. */
  execute(input: NodeInput): void;
  /** The node's current state (an immutable value: a checkpoint is a reference to it). */
  readonly state: unknown;
  /** Put the node back in an earlier state (rollback). */
  rewind(state: unknown): void;
  /** Let an answer to an outside request leave now (output commit). */
  respondNow(request: RequestId, result: unknown): void;
  /** Start a timer for the node; returns its id. */
  startTimer(delayMs: number, tag: string): number;
  /** The timer will not fire, whichever agent the node has by then (a rollback undid the event that set it). */
  cancelTimer(timer: number): void;
  /** Metadata of messages the node received through its base agent since the update began, before it armed; taken once. */
  takeStrayMeta(): readonly { readonly from: NodeId; readonly meta: unknown }[];
  /** Put an application message on its channel. */
  transmit(env: AppEnvelope): void;
  /** A control message of the strategy on the application channel to a neighbor (counted in controlMessages while an update runs here). */
  sendControl(to: NodeId, signal: string, data?: unknown, pulse?: number): void;
  /** A message to the coordinator; `algorithm` true counts it in controlMessages, else in controlPlaneMessages. */
  report(signal: string, data: unknown, algorithm: boolean): void;
  /** Turn new with the prepared update: state transfer, then code. False (and a fault traced) if the transfer threw. */
  swap(): boolean;
  /** The new-equivalents of an old message (traced and counted); `site` is where the replacement happens. */
  transform(env: AppEnvelope): AppEnvelope[];
  record(ev: TraceEvent): void;
  readonly tracing: boolean;
  /** Give the node back to the plain pass-through agent. */
  detach(): void;
  /** The agent between updates (pass-through, or a synchronized system's pulse machinery). */
  readonly baseAgent: NodeAgent;
  /** The root of a root-initiated strategy begins the protocol now: this instant is G. */
  markStarted(): void;
}

/** What the coordinator may do. */
export interface CoordinatorPort {
  now(): number;
  readonly topology: Topology;
  /** A message to a node on the control plane; `algorithm` as in NodePort.report. */
  send(to: NodeId, signal: string, data: unknown, algorithm: boolean): void;
  /** Give the update up before any node turned new: every node is told to disarm and update() rejects with `error`. */
  abort(error: Error): void;
  /** Each node's prepare acknowledgement data (see NodeAgent.prepareAck), once every node is prepared. */
  readonly acks: ReadonlyMap<NodeId, unknown>;
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
  /** Per-node data computed by the coordinator and shipped with prepare (e.g. parents and children). */
  prepareData?(run: UpdateRun, topology: Topology, node: NodeId): unknown;
  /** The agent a node installs when it accepts prepare. */
  agent(node: NodePort, run: UpdateRun, prepared: unknown): NodeAgent;
  /** G: the coordinator's first move once every node is prepared. */
  start(coordinator: CoordinatorPort, run: UpdateRun): void;
  /** The coordinator-side state of this strategy for a run, as plain data (see NodeAgent.fingerprint). */
  coordinatorFingerprint?(run: UpdateRun): unknown;
  /** A node's message to the coordinator that the common protocol (prepare, swapped) does not handle. */
  onCoordinatorMessage?(coordinator: CoordinatorPort, run: UpdateRun, env: ControlEnvelope): void;
}

export type { Update };
