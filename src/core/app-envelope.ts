import type { MessageId, NodeId } from "./ids.js";

/** An application message on the wire, with what the checker and the strategies need to know of it. */
export interface AppEnvelope {
  readonly kind: "app";
  readonly id: MessageId;
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's epoch when it sent the message (how many updates its code had taken). */
  readonly epoch: number;
  readonly body: unknown;
  /** Incarnation of the link it travels on: a message of a removed link is never delivered on its successor. */
  readonly link: number;
  /** What a strategy attaches while armed (vector time, causal-order metadata); absent in the steady state. */
  readonly meta?: unknown;
  /**
   * Its number on its channel (runtime/channels.ts), given when it leaves its node: the receiver applies each number
   * once and in order, so a frame resent after a crash or a partition is never executed twice.
   */
  readonly seq?: number;
}
