import type { AppEnvelope } from "./app-envelope.js";
import type { ControlMessage } from "./control.js";
import type { NodeId } from "./ids.js";

export type { AppEnvelope };

/** A message of the update machinery: on a data channel (m, m', markers) or on the control plane. */
export interface ControlEnvelope {
  readonly kind: "control";
  readonly from: NodeId;
  readonly to: NodeId;
  /** The update it belongs to; a message of another update is stale. */
  readonly update: number;
  readonly msg: ControlMessage;
  readonly link: number;
  /** True on the coordinator's plane (prepare, start, done), false on the application's channels. */
  readonly plane: boolean;
  /** Its number on its channel, as an application message's (see AppEnvelope.seq). */
  readonly seq?: number;
}

export type Envelope = AppEnvelope | ControlEnvelope;
