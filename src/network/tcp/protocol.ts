import type { ControlEnvelope, Envelope } from "../../core/envelope.js";
import { WireFormatError } from "../../core/errors.js";

/**
 * The format of what follows the hello on this wire. A change to any message's
 * shape or meaning takes the next number; a peer or control session speaking
 * another (or an older liveswap, whose hello names none) is refused, so that
 * neither side misreads the other's frames. The hello and the refusal are the
 * frames every format keeps as they are (length-prefixed JSON, the fields
 * below), so that any two formats can tell each other apart.
 */
export const WIRE_FORMAT = 1;

/**
 * What processes say to each other, one value per frame. Between two nodes:
 * hello, then numbered data (the application's and the algorithms' channel
 * traffic) and acks. Between the control plane and a node: hello, commands
 * and their replies, and the coordinator's envelopes. `lc` is the sender's
 * Lamport clock, so merged traces keep every send before its delivery.
 */
export type WireMessage =
  /** `recv`: the last data sequence number this side delivered from the other (0 for a control session). */
  | {
      readonly kind: "hello";
      readonly from: string;
      readonly role: "node" | "control";
      readonly recv: number;
      readonly chan?: string;
      readonly seen?: string;
      /** The sender's WIRE_FORMAT: always sent; absent from an older liveswap's hello. */
      readonly format?: number;
    }
  /** The answer to a hello in another format, before the connection is closed: `reason` as the refusing side logged it. */
  /**
   * `unlinked`: the refusing side no longer has the link of that incarnation (it was unlinked while the other was
   * down): the other drops it too, and answers with the same refusal once it has (see TcpNetwork's unlinked links).
   */
  | { readonly kind: "refused"; readonly from: string; readonly format: number; readonly reason: string; readonly unlinked?: number }
  | { readonly kind: "data"; readonly seq: number; readonly lc: number; readonly env: Envelope }
  | { readonly kind: "ack"; readonly seq: number }
  /**
   * On a control session, either way: the receiver committed the coordinator's (or the node's) plane envelopes up
   * to `seq` on the plane channel `link` (the control plane's instance; 0 for the node's reports).
   */
  | { readonly kind: "plane-ack"; readonly link: number; readonly seq: number }
  | { readonly kind: "plane"; readonly lc: number; readonly env: ControlEnvelope }
  | { readonly kind: "cmd"; readonly id: number; readonly cmd: Command }
  | { readonly kind: "reply"; readonly id: number; readonly ok: true; readonly value: unknown }
  /** `detail`: the part of the error's message that its class cannot rebuild from what the client knows (its `detail` field). */
  | { readonly kind: "reply"; readonly id: number; readonly ok: false; readonly error: string; readonly code?: string; readonly detail?: string };

/** The control plane's commands to a node (Conic's configuration commands, requests, and what an update needs). */
export type Command =
  | { readonly kind: "status" }
  /**
   * An outside request; `request` is the client's id for it (a retry sends the same id and body). `since`, on a
   * retry: the client's wall clock (ms) when it first sent this id, so the node can tell a request whose first attempt
   * never arrived from one it has forgotten (RequestExpiredError).
   */
  | { readonly kind: "request"; readonly request: string; readonly body: unknown; readonly since?: number }
  | { readonly kind: "link"; readonly peer: string; readonly address: string; readonly incarnation: number }
  | { readonly kind: "unlink"; readonly peer: string }
  | { readonly kind: "destroy" }
  | { readonly kind: "trace" }
  /** Fault injection for tests and drills: close every connection to other nodes (they reconnect). */
  | { readonly kind: "sever" };

export interface PeerStatus {
  readonly id: string;
  readonly connected: boolean;
  /** Frames sent and not yet acknowledged. */
  readonly unacked: number;
  readonly reconnects: number;
  /** Frames that arrived twice (resent after a reconnect) and ran once. */
  readonly duplicates: number;
}

export interface NodeStatus {
  readonly id: string;
  readonly version: string;
  readonly epoch: number;
  /** Versions this node's updates replaced (retired): a node running one must not be linked to it. Absent from older nodes. */
  readonly retired?: readonly string[];
  readonly neighbors: readonly PeerStatus[];
  /** The update this node is taking part in, if any. */
  readonly update: { readonly id: number; readonly strategy: string; readonly prepared: boolean; readonly new: boolean } | null;
  readonly openRequests: number;
  readonly pid: number;
  /** A durable node's store (`store:` in the cluster file); absent without one, and from older nodes. */
  readonly store?: StoreStatus;
}

/** A durable node's group commits: how many, the log entries they made durable, each commit's wall ms (one fsync). */
export interface StoreStatus {
  readonly kind: string;
  readonly commits: number;
  readonly entries: number;
  /** Log entries since the last snapshot: what a recovery would replay now. */
  readonly logEntries: number;
  /** Median and 99th percentile of the last few thousand commits. */
  readonly fsyncP50Ms: number;
  readonly fsyncP99Ms: number;
}

type Hello = Extract<WireMessage, { kind: "hello" }>;

/** Who a hello comes from, as an error message names it. */
export function helloSender(hello: Pick<Hello, "from" | "role">): string {
  return hello.role === "control" ? `the control session "${hello.from}"` : `node "${hello.from}"`;
}

/** A WireFormatError when the hello speaks another format than this process; `self` names this process. */
export function wireFormatMismatch(hello: Pick<Hello, "from" | "role" | "format">, self: string): WireFormatError | undefined {
  return hello.format === WIRE_FORMAT ? undefined : new WireFormatError(helloSender(hello), hello.format, WIRE_FORMAT, self);
}
