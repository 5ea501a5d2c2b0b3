import type { Violation } from "../check/checker.js";
import type { DropReason } from "../core/trace/trace-event.js";

/** The space-time model's shapes: what buildModel makes and the drawing reads. */
export interface At {
  readonly t: number;
  readonly node: string;
}

export interface NodeModel {
  readonly id: string;
  /** Creation (or first mention when the trace has no create event for it). */
  readonly from: number;
  /** Destroy time, if destroyed. */
  to: number | undefined;
  /** The version it was created with. */
  version: string;
  /** Each swap starts a segment in the swap's epoch (the first version, epoch 0, is the plain line). */
  readonly swaps: { readonly t: number; readonly epoch: number; readonly version: string; readonly update: number }[];
  /** Named in a termination violation. */
  violations: number[];
}

export interface MessageModel {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly epoch: number;
  /** Where the message came into existence: its send, or the transform that made it. */
  readonly origin: At & { readonly by: "send" | "transform" | "unknown"; readonly parent?: string };
  /** The sender held it (conservative): it is in no channel until released. */
  held: boolean;
  released: At | undefined;
  /** First time it was at the receiver: buffered, delivered, transformed or dropped there. */
  arrived: At | undefined;
  buffered: At | undefined;
  readonly deliveries: At[];
  transformed: (At & { readonly into: readonly string[] }) | undefined;
  dropped: (At & { readonly reason: DropReason }) | undefined;
  /** A rollback undid its execution at the receiver. */
  executionUndone: boolean;
  /** A rollback undid its send: an orphan. */
  sendUndone: boolean;
  /** Indices (1-based) of the violations naming it. */
  violations: number[];
}

export interface ControlModel {
  readonly from: string;
  readonly to: string;
  readonly signal: string;
  readonly plane: boolean;
  readonly update: number;
  readonly pulse: number | undefined;
  readonly sentAt: number;
  receivedAt: number | undefined;
}

/** Messages held by a sender toward one neighbour, or buffered by a receiver from one neighbour, over one interval. */
export interface SpanModel {
  readonly kind: "held" | "buffered";
  readonly node: string;
  /** The other end: the destination of held messages, the sender of buffered ones. */
  readonly peer: string;
  readonly from: number;
  to: number;
  /** The interval runs to the end of the drawn trace without closing. */
  open: boolean;
  readonly messages: string[];
}

export interface RollbackModel {
  readonly t: number;
  readonly node: string;
  readonly update: number;
  /** The node's event it went back to, and when that checkpoint was taken (if the trace shows it). */
  readonly toEvent: number;
  readonly toTime: number | undefined;
  readonly undone: number;
  readonly receives: number;
  readonly sends: number;
  replayed: number;
}

export interface UpdateModel {
  readonly id: number;
  readonly t: number;
  readonly strategy: string;
  readonly root: string;
  end: { readonly t: number; readonly outcome: string; readonly detail: string | undefined } | undefined;
}

export interface MarkModel {
  readonly kind: "transform" | "drop" | "fault" | "checkpoint" | "link" | "unlink";
  readonly t: number;
  readonly node: string;
  /** link / unlink: the other end. */
  readonly peer?: string;
  readonly msg?: string;
  readonly detail?: string;
}

export interface SpaceTimeModel {
  readonly nodes: NodeModel[];
  readonly messages: MessageModel[];
  readonly controls: ControlModel[];
  readonly spans: SpanModel[];
  readonly rollbacks: RollbackModel[];
  readonly updates: UpdateModel[];
  readonly marks: MarkModel[];
  readonly violations: readonly Violation[];
  readonly tStart: number;
  readonly tEnd: number;
  readonly eventsTotal: number;
  readonly eventsDrawn: number;
  /** The coordinator's lane is drawn (control-plane messages). */
  readonly controlPlane: boolean;
}

export interface ModelOptions {
  readonly violations?: readonly Violation[];
  /** Draw at most this many events, the first ones (default 50,000). */
  readonly maxEvents?: number;
  /** Give the coordinator "@control" a lane and draw control-plane messages (default false). */
  readonly controlPlane?: boolean;
  /**
   * Each node's version at the trace's end, for a trace that is the last window of a longer one: a lane that neither
   * starts nor swaps in the window ran that version throughout, and is labelled with it (its create event, which
   * names the version otherwise, lies before the window).
   */
  readonly versionsAtEnd?: Readonly<Record<string, string>>;
}
