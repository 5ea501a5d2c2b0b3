import type { Envelope } from "../core/envelope.js";
import type { RunInfo } from "../core/control.js";
import type { NodeId, RequestId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { ChannelsSnapshot } from "./channels.js";
import type { RequestRecordsSnapshot } from "./request-records.js";

/**
 * The format of a node's durable record (its snapshot and log entries). A store
 * refuses a record of another format with a clear error, so that liveswap itself
 * can be upgraded node by node.
 */
export const HOST_RECORD_FORMAT = 1;

/** How many log entries a quiet node keeps before it writes a snapshot (recovery replays at most about this many). */
export const SNAPSHOT_EVERY = 1000;

/**
 * One input a node committed, with the instant it ran: its log is the list of
 * them since its last snapshot, and recovery replays it (handlers are
 * deterministic functions of state, input and time, so the replay rebuilds the
 * same state, channels, timers, request records and strategy agent).
 */
export type LogEntry =
  | { readonly kind: "init"; readonly t: number }
  | { readonly kind: "deliver"; readonly t: number; readonly env: Envelope }
  | { readonly kind: "request"; readonly t: number; readonly request: RequestId; readonly body: unknown; readonly issued: number }
  | { readonly kind: "timer"; readonly t: number; readonly tag: string; readonly timer: number };

/** A node's snapshot: everything its log would otherwise have to rebuild. */
export type HostSnapshot =
  /** A node just created, before init (its log starts with init): every agent can start from it. */
  | {
      readonly format: number;
      readonly kind: "genesis";
      readonly version: string;
      readonly epoch: number;
      readonly messagesSent: number;
      /** What the network keeps of the node beside the host's own record (over TCP: its links and store instance). */
      readonly extra?: unknown;
    }
  | {
      readonly format: number;
      readonly kind: "quiet";
      readonly version: string;
      readonly epoch: number;
      readonly state: unknown;
      readonly messagesSent: number;
      readonly retired: readonly string[];
      /** Pending timers: id, tag, absolute due time. */
      readonly timers: readonly (readonly [number, string, number])[];
      readonly nextTimer: number;
      readonly strays: readonly { readonly from: NodeId; readonly meta: unknown; readonly run: number | undefined }[];
      readonly channels: ChannelsSnapshot;
      readonly requests: RequestRecordsSnapshot;
      /** The base agent's own state (AgentSnapshot), null for the pass-through agent. */
      readonly agent: unknown;
      /** The code of the update that brought the current version (over TCP a signed package), null for the first version. */
      readonly code: unknown;
      /** The run of the last update the node prepared for (a takeover of that update starts from it). */
      readonly lastRun?: RunInfo;
      readonly extra?: unknown;
    };

/** What a step produced that may leave the node only once the step is durable (output commit). */
export type HostOutput =
  | { readonly kind: "transmit"; readonly env: Envelope }
  | { readonly kind: "record"; readonly ev: TraceEvent }
  | { readonly kind: "answer"; readonly request: RequestId; readonly result: unknown }
  | { readonly kind: "fail"; readonly request: RequestId; readonly reason: string }
  | { readonly kind: "expired"; readonly request: RequestId };

/** A receiver applied `seq` on the channel from `from` on `link`: the sender may forget what precedes it. */
export interface Ack {
  readonly from: NodeId;
  readonly link: number;
  readonly seq: number;
}
