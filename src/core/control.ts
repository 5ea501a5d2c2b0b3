/**
 * The update machinery's protocol: every message the coordinator and the nodes
 * exchange, and every control message a strategy sends on the application's
 * channels, as one union on `kind`. It lives in core because it is what
 * travels: the simulated network passes these values, the TCP network encodes
 * them, and neither knows more of them than this file says.
 *
 * The kinds keep the signal names traces have always shown (a trace's
 * `signal` field is the message's kind), so traces and diagrams read the same.
 */
import type { AppEnvelope } from "./app-envelope.js";
import type { NodeId } from "./ids.js";
import type { Strategy, Update } from "./update.js";

/** What every node is told of the run it prepares for: plain data, the same on every network. */
export interface RunInfo {
  readonly id: number;
  readonly strategy: Strategy;
  readonly root: NodeId;
  /** Every node of the update, sorted. */
  readonly nodes: readonly NodeId[];
  /** The version each node runs when the update is planned: a message is mapped by the update of its sender's version. */
  readonly from: Readonly<Record<NodeId, string>>;
  readonly atPulse?: number;
  readonly requestedAt: number;
}

/**
 * The code of an update as the prepare message carries it. In one process the
 * update objects themselves; between processes a signed package the node
 * verifies and loads (the control plane never runs update code).
 */
export type UpdateCode =
  | { readonly kind: "inline"; readonly updates: readonly Update[] }
  | { readonly kind: "package"; readonly text: string };

/** A vector time with the Raynal-Schiper-Toueg send matrix (rollback's cut, and each node's arming point). */
export interface VectorCut {
  readonly vt: readonly number[];
  readonly st: readonly number[];
}

/** What the coordinator computes for one node before prepare (the strategy's view of the topology). */
export type StrategyPrepare =
  | { readonly kind: "orientation"; readonly parents: readonly NodeId[]; readonly children: readonly NodeId[] }
  | { readonly kind: "eccentricity"; readonly eccentricity: number };

/** What travels on a channel once per pulse in a synchronized system. */
export interface PulseEnvelope {
  readonly pulse: number;
  readonly messages: readonly AppEnvelope[];
  /** The pulse at which every node swaps, piggybacked until the sender swapped. */
  readonly swapAt?: number;
}

/** What a node counted of one update; it reports them when its part is over, the coordinator sums them. */
export interface UpdateFigures {
  controlMessages: number;
  controlPlaneMessages: number;
  heldMessages: number;
  transformedMessages: number;
  rolledBackEvents: number;
  replayedEvents: number;
  orphansDropped: number;
  armedMessages: number;
  metadataBytes: number;
  peakCheckpoints: number;
  /** Handler, message-mapping and state-transfer faults traced at this node while it took part in the update. */
  faults: number;
  /** Wall ms of the step in which the node turned new, where the network has a wall clock (TCP); else absent. */
  swapPauseMs?: number;
  /** That step in parts (they add up to swapPauseMs), beside it. */
  swapPhasesMs?: SwapPhases;
  /**
   * CPU ms the node's process used during that step (every thread of it), where the network measures it (TCP): well
   * under swapPauseMs means the process waited for a core (a busy machine), not for its own work.
   */
  swapCpuMs?: number;
  /** Wall ms the garbage collector held the node's main thread during that step (TCP: V8's GC profiler). */
  swapGcMs?: number;
}

/**
 * Where a swap's step went, in wall ms: `before` the swap (the agent's handling of the input that makes the node turn
 * new, the sends it makes first), the `transfer` (the update's state transfer and timer mapping: application code),
 * the rest of the `swap` (the new behavior and state set, the old version retired, the swap's trace record), and
 * `after` it (what the agent does in the same step once new: held messages released, markers sent, buffered messages
 * run by the new code).
 */
export interface SwapPhases {
  readonly before: number;
  readonly transfer: number;
  readonly swap: number;
  readonly after: number;
}

export function noFigures(): UpdateFigures {
  return {
    controlMessages: 0,
    controlPlaneMessages: 0,
    heldMessages: 0,
    transformedMessages: 0,
    rolledBackEvents: 0,
    replayedEvents: 0,
    orphansDropped: 0,
    armedMessages: 0,
    metadataBytes: 0,
    peakCheckpoints: 0,
    faults: 0,
  };
}

/** From the coordinator to a node, on the control plane. */
export type CoordinatorMessage =
  | { readonly kind: "prepare"; readonly run: RunInfo; readonly code: UpdateCode; readonly strategy?: StrategyPrepare }
  | { readonly kind: "abort" }
  /** The root begins the protocol (rollback: with every node's arming point merged into the cut). */
  | { readonly kind: "start"; readonly cut?: VectorCut }
  /** naive: swap now. */
  | { readonly kind: "swap" }
  /** snapshot: every node drained; swap and resume. */
  | { readonly kind: "restart" }
  /**
   * resume: a node whose transfer threw at swap time (halted) takes the corrected code, dry-runs it on its state as
   * it is now, and retries its swap at the point of its strategy's protocol where it stopped.
   */
  | { readonly kind: "resume"; readonly code: UpdateCode }
  /**
   * A node of the update was lost for good and forgotten (`forget`, or a takeover of its root): the receiver drops
   * its link to it if it has one (what it still held for it is dropped, traced) and its strategy stops waiting for it.
   */
  | {
      readonly kind: "gone";
      readonly node: NodeId;
      /**
       * Sent by a takeover before it knows every node prepared: drop the link, but start nothing yet (a conservative
       * node left without a parent becomes a source only once the update runs: the same "gone" comes again then).
       */
      readonly adopting?: true;
    }
  /**
   * The update's root was lost for good and a new coordinator at `root` took the update over: the node answers with
   * its part as its durable record has it ("part").
   */
  | { readonly kind: "takeover"; readonly root: NodeId }
  /**
   * The coordinator gave the update up after a node turned new (a transfer threw, or it stalled). The node keeps
   * its agent (what it holds or filters stays so), but no longer counts as in the update: configuration and a
   * later update may proceed, as before one runtime. It is not safe: a later prepare replaces the agent, and what
   * that agent still held or buffered is lost. Issue 13's halted mode replaces this with a safe halt and resume.
   */
  | { readonly kind: "end" };

/** From a node to the coordinator, on the control plane. */
export type NodeReport =
  | { readonly kind: "prepared"; readonly ack?: VectorCut }
  | { readonly kind: "refused"; readonly reason: string }
  /**
   * The node turned new at `t`. The root adds `startedAt` (G, the instant it began the protocol); a node whose
   * part ended in the same step adds its `figures` (no "done" follows).
   */
  | { readonly kind: "swapped"; readonly t: number; readonly startedAt?: number; readonly figures?: UpdateFigures }
  /** The transfer threw at swap time: the node stays old, halted at its swap point, until a resume. */
  | { readonly kind: "swap-failed"; readonly error: string }
  /** The node's part is over (its agent detached after its swap): nothing of the update is left there. */
  | { readonly kind: "done"; readonly t: number; readonly figures: UpdateFigures }
  /** snapshot: this node has every channel's marker. */
  | { readonly kind: "drained" }
  /**
   * The answer to a takeover: this node's part in the update. `prepared`: it holds the update's part (armed, new
   * and not done, or halted); otherwise `version` tells whether it finished its part (the new version) or never
   * prepared (the old one). `newAt`: when it turned new; `begun`: the strategy's protocol reached it (a marker, m, a
   * freeze, or its own swap); `drained`: snapshot's drained; `ack`: rollback's vector time now (a consistent cut
   * with the others', for a start at the new root).
   */
  | {
      readonly kind: "part";
      readonly prepared: boolean;
      readonly version: string;
      readonly newAt?: number;
      readonly halted?: string;
      readonly begun: boolean;
      readonly drained?: boolean;
      readonly ack?: VectorCut;
    }
  /** synchronizer: the asked pulse is too early for every node to learn it. */
  | { readonly kind: "too-early"; readonly asked: number; readonly earliest: number; readonly pulse: number };

/** A strategy's control message on an application channel, between neighbours. */
export type ChannelSignal =
  /**
   * conservative's update request m (rollback's marker is also "m": it carries the cut; a halted rollback node's marker
   * says `halted`: old messages still follow it on that channel).
   */
  | { readonly kind: "m"; readonly cut?: VectorCut; readonly halted?: true }
  | { readonly kind: "m'" }
  | { readonly kind: "marker" }
  | { readonly kind: "freeze" }
  | { readonly kind: "pulse"; readonly envelope: PulseEnvelope };

export type ControlMessage = CoordinatorMessage | NodeReport | ChannelSignal;
export type ControlKind = ControlMessage["kind"];
