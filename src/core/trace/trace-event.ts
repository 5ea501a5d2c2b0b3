import type { MessageId, NodeId, RequestId } from "../ids.js";
import type { Strategy } from "../update.js";

/**
 * Everything that happens in a run, as one discriminated union on `kind`. The
 * checker and the viewer read only this. `t` is virtual ms on the simulated
 * network. Message epochs count the updates the sender's code had taken when
 * it sent (0 for the first version); an update turns a node from epoch e to e+1.
 */
export type TraceEvent =
  // configuration (Conic's commands)
  | { readonly kind: "create"; readonly t: number; readonly node: NodeId; readonly version: string; readonly epoch: number }
  | { readonly kind: "destroy"; readonly t: number; readonly node: NodeId }
  /**
   * A node lost for good was forgotten (destroyed while it was down), perhaps during update `update`, which stops
   * waiting for it. What was in flight to or from it is dropped (traced "unlinked" / "destroyed").
   */
  | { readonly kind: "forget"; readonly t: number; readonly node: NodeId; readonly update?: number }
  | { readonly kind: "link"; readonly t: number; readonly a: NodeId; readonly b: NodeId }
  | { readonly kind: "unlink"; readonly t: number; readonly a: NodeId; readonly b: NodeId }
  // faults (DESIGN.md, "Faults and durability"): the trace holds what nodes committed, so a crash erases nothing
  // from it; `lost` counts the steps that ran and were not yet durable (they never happened for anyone else)
  | { readonly kind: "crash"; readonly t: number; readonly node: NodeId; readonly lost: number }
  /** `replayed`: log entries the node re-ran from its durable store. */
  | { readonly kind: "restart"; readonly t: number; readonly node: NodeId; readonly version: string; readonly epoch: number; readonly replayed: number }
  | { readonly kind: "partition"; readonly t: number; readonly a: NodeId; readonly b: NodeId }
  /**
   * Moving a node (docs/design.md "Moving a node", Polylith's change of geometry): `move`: it stopped at `from` with all it
   * ran made durable, and its record travels to `to` under location epoch `locationEpoch`; it runs nowhere meanwhile
   * (what is sent to it waits). `arrive`: it runs at `at` from that record, at its version and epoch, one life with
   * what it did before. `fence`: a move was interrupted before its destination committed the record; the node stays
   * at `at` under `locationEpoch`, above the interrupted move's, so that move's record is refused forever.
   */
  | { readonly kind: "move"; readonly t: number; readonly node: NodeId; readonly from: string; readonly to: string; readonly locationEpoch: number }
  | { readonly kind: "arrive"; readonly t: number; readonly node: NodeId; readonly at: string; readonly locationEpoch: number; readonly version: string; readonly epoch: number }
  | { readonly kind: "fence"; readonly t: number; readonly node: NodeId; readonly at: string; readonly locationEpoch: number }
  | { readonly kind: "heal"; readonly t: number; readonly a: NodeId; readonly b: NodeId }
  /**
   * Failure detection over TCP (network/tcp/heartbeat.ts): `node` heard nothing from its neighbour `peer` for
   * `silentMs` and suspects it (partitioned, frozen or dead: it cannot tell which); `unsuspect`: heard again,
   * `silentMs` after it was last heard. An opinion of one node, not a fault: the checker ignores both.
   */
  | { readonly kind: "suspect"; readonly t: number; readonly node: NodeId; readonly peer: NodeId; readonly silentMs: number }
  | { readonly kind: "unsuspect"; readonly t: number; readonly node: NodeId; readonly peer: NodeId; readonly silentMs: number }
  // application messages: a message comes into existence by send or transform, ends by deliver, transform or drop
  | { readonly kind: "send"; readonly t: number; readonly node: NodeId; readonly to: NodeId; readonly msg: MessageId; readonly epoch: number }
  | { readonly kind: "deliver"; readonly t: number; readonly node: NodeId; readonly from: NodeId; readonly msg: MessageId; readonly epoch: number }
  | { readonly kind: "hold"; readonly t: number; readonly node: NodeId; readonly to: NodeId; readonly msg: MessageId }
  | { readonly kind: "release"; readonly t: number; readonly node: NodeId; readonly to: NodeId; readonly msg: MessageId }
  | { readonly kind: "buffer"; readonly t: number; readonly node: NodeId; readonly from: NodeId; readonly msg: MessageId }
  | {
      readonly kind: "transform";
      readonly t: number;
      /** Where the replacement happened: the sender (held message) or the receiver (message in the channel). */
      readonly node: NodeId;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly msg: MessageId;
      readonly into: readonly MessageId[];
      readonly epoch: number;
    }
  | { readonly kind: "drop"; readonly t: number; readonly node: NodeId; readonly from: NodeId; readonly msg: MessageId; readonly reason: DropReason }
  // node events
  | { readonly kind: "request"; readonly t: number; readonly node: NodeId; readonly request: RequestId }
  | { readonly kind: "respond"; readonly t: number; readonly node: NodeId; readonly request: RequestId }
  | { readonly kind: "timer"; readonly t: number; readonly node: NodeId; readonly tag: string }
  | { readonly kind: "fault"; readonly t: number; readonly node: NodeId; readonly during: FaultSite; readonly error: string; readonly msg?: MessageId }
  | {
      readonly kind: "swap";
      readonly t: number;
      readonly node: NodeId;
      readonly update: number;
      readonly from: string;
      readonly to: string;
      readonly epoch: number;
    }
  // the update machinery
  | {
      readonly kind: "control-send";
      readonly t: number;
      readonly node: NodeId;
      readonly to: NodeId;
      readonly update: number;
      readonly signal: string;
      readonly plane: boolean;
      /** A synchronized system's pulse envelope: its pulse number. */
      readonly pulse?: number;
    }
  | {
      readonly kind: "control-receive";
      readonly t: number;
      readonly node: NodeId;
      readonly from: NodeId;
      readonly update: number;
      readonly signal: string;
      readonly plane: boolean;
      readonly pulse?: number;
    }
  /** rollback: an armed node kept the state after its event `event` (its checkpoint, by reference). */
  | { readonly kind: "checkpoint"; readonly t: number; readonly node: NodeId; readonly event: number }
  /** rollback: the node went back to the state after its event `to`, undoing what came after. */
  | {
      readonly kind: "rollback";
      readonly t: number;
      readonly node: NodeId;
      readonly update: number;
      readonly to: number;
      /** How many events were undone. */
      readonly undone: number;
      /** Messages whose execution was undone (each is replayed or dropped as an orphan next). */
      readonly receives: readonly MessageId[];
      /** Messages whose send was undone (orphans wherever they arrive). */
      readonly sends: readonly MessageId[];
      readonly requests: readonly RequestId[];
      readonly timers: readonly string[];
    }
  /** rollback: an undone event runs again through the new code. */
  | { readonly kind: "replay"; readonly t: number; readonly node: NodeId; readonly of: "receive" | "request" | "timer"; readonly msg?: MessageId; readonly request?: RequestId; readonly tag?: string }
  /** A synchronized node entered a pulse. */
  | { readonly kind: "pulse"; readonly t: number; readonly node: NodeId; readonly pulse: number }
  | {
      readonly kind: "update-start";
      readonly t: number;
      readonly update: number;
      readonly strategy: Strategy;
      readonly root: NodeId;
      /** Every node the update must turn new. */
      readonly nodes: readonly NodeId[];
    }
  | { readonly kind: "update-end"; readonly t: number; readonly update: number; readonly outcome: UpdateOutcome; readonly detail?: string };

export type DropReason =
  /** The link was removed while the message was in flight (configuration, not the update). */
  | "unlinked"
  /** The destination was destroyed (configuration, not the update). */
  | "destroyed"
  /** The update machinery discarded it. */
  | "incompatible"
  /** Its send was undone by a rollback (the sender's new code regenerates whatever it must send). */
  | "orphan";

export type FaultSite = "receive" | "request" | "timer" | "init" | "state-transfer" | "message-mapping";

/**
 * completed: every node turned new; failed: the update gave up (a state transfer threw at swap time); halted: it
 * stopped safely with some nodes old and may be resumed (swaps of the same update, then its completion, may follow).
 */
export type UpdateOutcome = "completed" | "failed" | "halted";

export type TraceKind = TraceEvent["kind"];

/** Drops that configuration commands cause; awareness is about the update and does not count them. */
export function isConfigurationDrop(reason: DropReason): boolean {
  return reason === "unlinked" || reason === "destroyed";
}
