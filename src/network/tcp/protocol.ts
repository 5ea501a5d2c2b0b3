import type { ControlEnvelope, Envelope } from "../../core/envelope.js";
import { WireFormatError } from "../../core/errors.js";

/**
 * The format of what follows the hello on this wire. A change to any message's
 * shape or meaning takes the next number; a peer or control session speaking
 * another (or an older liveswap, whose hello names none) is refused, so that
 * neither side misreads the other's frames. The hello and the refusal are the
 * frames every format keeps as they are (length-prefixed JSON, the fields
 * below), so that any two formats can tell each other apart.
 * 2: the update's coordinator lives in its root (update-submit/view/abort/resume, a coordinator's hello), traces
 * stream as "trace-chunk" frames, heartbeats, and every frame is checked against the protocol (wire-check.ts).
 * update-takeover and update-forget (a node lost for good) were added while format 2 was being built (the same
 * issue): they are part of format 2.
 */
export const WIRE_FORMAT = 2;

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
      /** A control session opened by a node's daemon coordinating an update: its certificate names that node. */
      readonly coordinator?: boolean;
      /** The sender's wire codec (codec-choice.ts); absent: JSON. */
      readonly codec?: string;
      /** The sender's location epoch (it moved this many times: deploy/node-location.ts); absent: 0. */
      readonly loc?: number;
      /** Sent by a node started from a record (`--import`): the version it runs, which a neighbour must not have retired. */
      readonly imported?: string;
    }
  /**
   * The answer to a hello in another format or codec, before the connection is closed: `reason` as the refusing side
   * logged it; `codec`, the refusing side's, when the codecs differ.
   */
  /**
   * `unlinked`: the refusing side no longer has the link of that incarnation (it was unlinked while the other was
   * down): the other drops it too, and answers with the same refusal once it has (see TcpNetwork's unlinked links).
   */
  /**
   * `fenced`: the refusing side will never take this node's connection again (it came back from a record older than
   * what it had acknowledged): the refused node stops, saying why.
   */
  | { readonly kind: "refused"; readonly from: string; readonly format: number; readonly reason: string; readonly unlinked?: number; readonly codec?: string; readonly fenced?: true }
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
  | { readonly kind: "reply"; readonly id: number; readonly ok: false; readonly error: string; readonly code?: string; readonly detail?: string }
  /**
   * A piece of the trace that answers command `id` ("trace", "destroy"), before its reply: NDJSON text of stamped
   * events, whole lines, `seq` from 0. A trace of any length travels so, in frames far below the frame limit; the
   * reply (a TraceReply) says how many pieces came, so a reader knows it missed none.
   */
  | { readonly kind: "trace-chunk"; readonly id: number; readonly seq: number; readonly text: string };

/** The reply to "trace" and "destroy", after the trace's pieces ("trace-chunk" frames). */
export interface TraceReply {
  readonly chunks: number;
  /** What retention dropped from this node's trace (the oldest segments): zero when it holds every event. */
  readonly horizon: { readonly droppedSegments: number; readonly droppedEvents: number; readonly droppedBytes: number };
}

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
  /** `alone`: the other side is down, so this side traces the unlink whatever the ids' order (it learns at its restart). */
  | { readonly kind: "unlink"; readonly peer: string; readonly alone?: true }
  | { readonly kind: "destroy" }
  /** Its trace (with a root's coordinator events); `tailBytes`: only the last this many bytes of each, whole lines (the console). */
  | { readonly kind: "trace"; readonly tailBytes?: number }
  /** The node's durable record as a signed portable file (deploy/node-record-file.ts), after a commit and a snapshot. */
  | { readonly kind: "export" }
  /**
   * A move out of this node's location (`ctl move`): it commits "moving to `address`", applies nothing more here,
   * and answers with its record sealed for the destination (the next location epoch). Sent again, it answers again.
   */
  | {
      readonly kind: "move-out";
      readonly address: string;
      /** ctl saw this update halted at its root: the node may move though it takes part in it (a halt does not block a drain). */
      readonly halted?: number;
    }
  /** The destination runs and every neighbour was told: this old location stops for good (its store says so). */
  | { readonly kind: "move-retire" }
  /** Give a move up before its destination ran: the node serves here again, under an epoch above the move's. */
  | { readonly kind: "move-cancel" }
  /** Neighbour `peer` moved to `address` under `locationEpoch`: dial it there, refuse it anywhere older. */
  | { readonly kind: "relocate"; readonly peer: string; readonly address: string; readonly locationEpoch: number }
  /** Fault injection for tests and drills: close every connection to other nodes (they reconnect). */
  | { readonly kind: "sever" }
  /**
   * To the update's root: coordinate this update (DESIGN.md, "Faults and durability": the coordinator lives in the
   * cluster). The reply is the update's id once it is journaled and prepare is under way; `ctl` then only watches.
   */
  | { readonly kind: "update-submit"; readonly package: string; readonly strategy: string; readonly root?: string; readonly deadlineMs?: number }
  /** To a root: the update it coordinates now, or its last one (null: none since its store was made). */
  | { readonly kind: "update-view" }
  /** To a root: give its update up, only while it prepares. */
  | { readonly kind: "update-abort"; readonly reason?: string }
  /** To a root: finish its halted update with this package (the same versions, a corrected transfer or mapping). */
  | { readonly kind: "update-resume"; readonly package: string }
  /**
   * To a node of an update whose root was lost for good: coordinate the update from now on (the takeover forgets the
   * lost root and rebuilds the update from every live node's part).
   */
  | { readonly kind: "update-takeover" }
  /**
   * To the running update's root: `node` (a node of the update) is lost for good (its process dead, its store gone):
   * forget it (in prepare the update aborts; past it every live node drops its link to it). The reply is the view.
   */
  | { readonly kind: "update-forget"; readonly node: string };

/** How an update a root coordinates stands, as `ctl status`, `ctl watch` and `ctl update` show it. */
export interface UpdateView {
  readonly id: number;
  readonly root: string;
  readonly strategy: string;
  /** preparing, running, halted, resuming, completed, aborted or failed. */
  readonly phase: string;
  readonly nodes: readonly string[];
  readonly prepared: readonly string[];
  readonly new: readonly string[];
  readonly halted: readonly { readonly node: string; readonly error: string }[];
  /** Nodes the coordinator has no connection to now: it waits for them (their envelopes are kept and resent). */
  readonly waiting: readonly string[];
  /** Prepare's deadline (ms after the update began), if any. */
  readonly deadlineMs?: number;
  /** The wall-clock instant (ms) the root began the update. */
  readonly begunAt: number;
  /** Once it ended or halted: its report, or its error as the client rebuilds it. */
  readonly outcome?: UpdateOutcomeView;
  /** Nodes lost for good and forgotten during the update (a takeover forgets the lost root), sorted. */
  readonly forgotten?: readonly string[];
}

export type UpdateOutcomeView =
  | { readonly ok: true; readonly report: unknown; readonly figures: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly error: string; readonly code: string; readonly fields?: Readonly<Record<string, unknown>> };

/** Where a node stands among its locations (ctl move), as its status says. */
export interface NodeLocationStatus {
  readonly epoch: number;
  readonly moving?: { readonly address: string; readonly epoch: number };
  readonly moved?: { readonly address: string; readonly epoch: number };
  /**
   * Its neighbours that moved, where it dials them and under which location epoch: a client that does not have ctl's
   * address book (a root's coordinator, ctl on another machine) finds a moved node through them. Absent from older nodes.
   */
  readonly peers?: Readonly<Record<string, { readonly address: string; readonly epoch: number }>>;
}

export interface PeerStatus {
  readonly id: string;
  readonly connected: boolean;
  /** Frames sent and not yet acknowledged. */
  readonly unacked: number;
  readonly reconnects: number;
  /** Frames that arrived twice (resent after a reconnect) and ran once. */
  readonly duplicates: number;
  /** Bytes of the outbox to this neighbour spilled to disk (it is slow or frozen); absent from older nodes. */
  readonly spilledBytes?: number;
  /**
   * Silent past the heartbeat timeout (`heartbeat.suspectAfterMs`): partitioned, frozen or dead, as far as this node
   * can tell; its connection was closed and is being redialled. Absent from older nodes.
   */
  readonly suspected?: boolean;
  /** Milliseconds since anything (a frame, a heartbeat) was last heard from it. Absent from older nodes. */
  readonly silentMs?: number;
  /**
   * Messages sent to it and received from it on this link (the channel's sequence numbers: they start again when the
   * link is made anew). Absent from older nodes.
   */
  readonly sent?: number;
  readonly received?: number;
}

export interface NodeStatus {
  readonly id: string;
  readonly version: string;
  readonly epoch: number;
  /** Versions this node's updates replaced (retired): a node running one must not be linked to it. Absent from older nodes. */
  readonly retired?: readonly string[];
  readonly neighbors: readonly PeerStatus[];
  /** The update this node is taking part in, if any. */
  readonly update: { readonly id: number; readonly strategy: string; readonly prepared: boolean; readonly new: boolean; readonly root?: string } | null;
  /**
   * The last update this node prepared for, even once its part is over (its root may still wait for others): what
   * forget checks a lost root against. Absent from older nodes and from a node that never took part in one.
   */
  readonly lastUpdate?: { readonly id: number; readonly root: string };
  readonly openRequests: number;
  /** Outside requests answered or failed since the process started; absent from older nodes. */
  readonly requestsSettled?: number;
  readonly pid: number;
  /** Its location epoch, and a move out of here committed (`moving`) or completed (`moved`). Absent from older nodes. */
  readonly location?: NodeLocationStatus;
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
