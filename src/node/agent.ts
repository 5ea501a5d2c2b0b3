import type { ChannelSignal, ControlMessage, NodeReport, UpdateFigures, VectorCut } from "../core/control.js";
import type { AppEnvelope } from "../core/envelope.js";
import type { NodeId, RequestId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { NodeInput } from "./swap-node.js";

/**
 * A node agent is the filter between a node and its channels (docs/design.md): every
 * send, delivery, request, timer and control message of the node passes through
 * it, and it decides to pass, hold, buffer, transform or drop.
 */
export interface NodeAgent {
  onSend(env: AppEnvelope): void;
  onDeliver(env: AppEnvelope): void;
  onRequest(request: RequestId, body: unknown): void;
  /** `timer` is the id startTimer returned. */
  onTimer(tag: string, timer: number): void;
  /** A control message of the update this agent is armed for (or, for a base agent, of none: pulses). */
  onControl(msg: ControlMessage, from: NodeId): void;
  /** A handler answered an outside request; without this hook the answer leaves at once. */
  onRespond?(request: RequestId, result: unknown): void;
  /** A handler set a timer; without this hook it starts at once. */
  onSetTimer?(delayMs: number, tag: string): void;
  /**
   * A neighbour of the update was lost for good and forgotten: its link is gone (neighbors() no longer lists it) and
   * nothing more arrives from it. The agent stops waiting for what it would have sent and drops what it held for it.
   * `running`: every node prepared and the protocol may proceed (false while a takeover asks the nodes their parts).
   */
  onNeighborGone?(node: NodeId, running: boolean): void;
  /**
   * For a takeover: has the strategy's protocol reached this node (a marker, m, a freeze, a cut; or it turned new)?
   * A new coordinator starts the protocol again only if it reached no live node. `drained`: snapshot's drained state.
   */
  progress?(): { readonly begun: boolean; readonly drained?: boolean };
  /** The update this agent was armed for was aborted in prepare. */
  onAbort?(): void;
  /**
   * The node's transfer threw at swap time (swap() returned false) and a resume brought corrected code: retry the
   * swap at the point of the protocol where it stopped. An agent without it cannot be resumed.
   */
  onResume?(): void;
  /**
   * A base agent's own state as plain data, for its node's snapshot (DESIGN.md, "Faults and durability"); with
   * `restore`, the agent a recovered node starts from. A base agent without it keeps its node's whole input log
   * (recovery replays it from the node's creation: slower, as correct).
   */
  snapshot?(): unknown;
  restore?(snapshot: unknown): void;
  /** What the node tells the coordinator with its prepare acknowledgement (rollback: its vector time when armed). */
  prepareAck?(): VectorCut;
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
  /** Metadata of messages the node received through its base agent before it armed; taken once. */
  takeStrayMeta(): readonly { readonly from: NodeId; readonly meta: unknown }[];
  /** Put an application message on its channel. */
  transmit(env: AppEnvelope): void;
  /** A control message of the strategy on the application channel to a neighbour (counted in controlMessages while armed). */
  sendControl(to: NodeId, msg: ChannelSignal, pulse?: number): void;
  /** A strategy's own message to the coordinator; `algorithm` counts it in controlMessages, else in controlPlaneMessages. */
  report(msg: NodeReport, algorithm: boolean): void;
  /** Turn new with the prepared update: state transfer, then code. False (and a fault traced) if the transfer threw. */
  swap(): boolean;
  /** The new-equivalents of an old message (traced and counted). */
  transform(env: AppEnvelope): AppEnvelope[];
  record(ev: TraceEvent): void;
  readonly tracing: boolean;
  /** The strategy's part at this node is over: give the node back to its base agent. */
  detach(): void;
  /** The agent between updates (pass-through, or a synchronized system's pulse machinery). */
  readonly baseAgent: NodeAgent;
  /** The root of a root-initiated strategy begins the protocol now: this instant is G. */
  markStarted(): void;
  /** What this node counts of the update it takes part in (reported to the coordinator when its part is over). */
  readonly figures: UpdateFigures;
}
