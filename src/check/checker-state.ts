import type { MessageId, NodeId } from "../core/ids.js";
import type { UpdateOutcome } from "../core/trace/trace-event.js";
import type { BeforeHorizon, Invariant, Violation } from "./violation.js";

export interface MessageRecord {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly epoch: number;
  readonly version: string;
  readonly sentAt: number;
  status: "pending" | "executed" | "replaced" | "dropped";
  /** The sender rolled back past the send. */
  sendUndone: boolean;
  /** Dropped as an orphan: only right if the send is undone by the end of the run. */
  droppedAsOrphan: boolean;
  /** Held by its sender or buffered by its receiver: what a halted update leaves waiting, not lost. */
  waiting: boolean;
  /**
   * Its sender or receiver was lost for good and forgotten: an undo that node owed (its send of an orphan, its
   * execution of a message whose send was undone) is lost with its state, and is not owed any more.
   */
  endForgotten?: true;
  /**
   * Its sender was forgotten: over TCP a node may commit a step and die before its outputs leave, so a message it sent
   * may never have reached the wire; nobody alive can say, and it is lost with the node.
   */
  senderForgotten?: true;
  /** Dropped by a configuration change (its link removed, its receiver destroyed): see consumeMessage. */
  droppedByConfiguration?: true;
  /**
   * The node that keeps it waiting (its sender holds it, or its receiver buffered it): it is lost with that node's
   * state if that node is forgotten.
   */
  waitingAt?: NodeId;
  /**
   * The node it waited at was forgotten: lost with that node's state unless that node took it before it died, which the
   * merged trace may show after the forget (the two are concurrent). Judged at the end of the run.
   */
  lostWithWaiter?: true;
}

/** How an update's life ended so far: an update-end's outcome, or "aborted" when the coordinator gave it up in prepare. */
export type UpdateEnding = UpdateOutcome | "aborted";

export interface UpdateRecord {
  readonly id: number;
  /** Every node the update must turn new: its update-start's list, or the live nodes when it was first seen without one. */
  nodes: readonly NodeId[];
  /** When its update-start was traced; undefined while none was (a stalled update may never trace one). */
  startedAt: number | undefined;
  /** The first event that named it, for the message when its start is missing. */
  readonly firstSeen: { readonly t: number; readonly what: string };
  /** Something beyond prepare happened (a swap, a protocol message, an end): the update did start, traced or not. */
  ran: boolean;
  readonly turnedNew: Set<NodeId>;
  /** Nodes lost for good and forgotten while it ran: it no longer has them to turn new. */
  readonly forgotten: Set<NodeId>;
  /** The last ending traced; a halted update is not over: swaps and a completion of the same id may follow. */
  ending: UpdateEnding | undefined;
  /** The detail of the last halt, for the termination violation if the update never completes. */
  haltDetail: string | undefined;
}

/** Everything the checker knows after the events it has read: derived from the trace alone. */
export interface CheckerState {
  readonly violations: Violation[];
  readonly nodeEpoch: Map<NodeId, number>;
  /**
   * Nodes lost for good and forgotten. They keep their epoch: events of theirs may follow the forget in a merged
   * trace (nothing orders them before it), and are judged at the epoch they ran at; they are in no later update.
   */
  readonly forgottenNodes: Set<NodeId>;
  readonly nodeVersion: Map<NodeId, string>;
  /**
   * The epoch of the nodes that run each version: the first create that shows it, then every swap to it. A node
   * created later at a known version takes that epoch whatever its create event says, so a node created with a
   * retired version is old and one created while the runtime's own epoch lags is new.
   */
  readonly versionEpoch: Map<string, number>;
  /** Versions a swap left (retired), until a swap returns to them (a back-out). */
  readonly retiredVersions: Set<string>;
  readonly messages: Map<MessageId, MessageRecord>;
  readonly updates: Map<number, UpdateRecord>;
  /** Time of the last event read: where end-of-run violations are placed. */
  lastT: number;
  /** Nodes crashed and not restarted yet: what waits for them is pending, not lost. */
  readonly down: Set<NodeId>;
  /** Nodes moving (also in `down`: they run nowhere until they arrive), with where to and under which location epoch. */
  readonly moving: Map<NodeId, { readonly to: string; readonly locationEpoch: number }>;
  /** Set when the trace starts mid-run (CheckOptions.horizon): what began before it is counted here, not judged. */
  readonly beforeHorizon: BeforeHorizon | undefined;
}

export function newCheckerState(horizon = false): CheckerState {
  return {
    violations: [],
    nodeEpoch: new Map(),
    forgottenNodes: new Set(),
    nodeVersion: new Map(),
    versionEpoch: new Map(),
    retiredVersions: new Set(),
    messages: new Map(),
    updates: new Map(),
    lastT: 0,
    down: new Set(),
    moving: new Map(),
    beforeHorizon: horizon ? { messages: 0, deliveries: 0, updates: 0 } : undefined,
  };
}

export function violate(s: CheckerState, invariant: Invariant, message: string, at: number): void {
  s.violations.push({ invariant, message, at });
}

export function describeNode(s: CheckerState, n: NodeId): string {
  return `node "${n}" (${s.nodeVersion.get(n) ?? "unknown version"}, epoch ${s.nodeEpoch.get(n) ?? "?"})`;
}

export function quoteList(ids: readonly string[]): string {
  return ids.map((n) => `"${n}"`).join(", ");
}

/** A message comes into existence (sent, or made by a transform); ids must be unique. */
export function registerMessage(
  s: CheckerState,
  id: MessageId,
  m: { readonly from: NodeId; readonly to: NodeId; readonly epoch: number; readonly version: string },
  t: number,
  what: string,
): void {
  if (s.messages.has(id)) {
    violate(s, "awareness", `message ${id} ${what} a second time (ids must be unique)`, t);
    return;
  }
  // Spelled out, not spread: one object shape for every record keeps the hot path of a long trace fast.
  s.messages.set(id, { from: m.from, to: m.to, epoch: m.epoch, version: m.version, sentAt: t, status: "pending", sendUndone: false, droppedAsOrphan: false, waiting: false });
}

/** The pending message an event ends (executed, replaced, dropped), or undefined after reporting why it cannot. */
export function consumeMessage(s: CheckerState, id: MessageId, t: number, action: string, by?: NodeId): MessageRecord | undefined {
  const m = s.messages.get(id);
  if (m === undefined) {
    // From a horizon, a message without a send was sent before it: counted, not judged.
    if (s.beforeHorizon !== undefined) s.beforeHorizon.messages++;
    else violate(s, "awareness", `message ${id} was ${action} but never sent`, t);
    return undefined;
  }
  // Its receiver, lost for good, took it before it died, and its sender dropped its copy when the receiver was
  // forgotten (its link removed): the two are concurrent (the acknowledgement died with the receiver), so the merged
  // trace may show either first. Only for a forgotten receiver: a live one must never take what was reported lost;
  // and not once the id names a node created again (forgottenNodes forgets it then).
  if (m.status === "dropped" && m.droppedByConfiguration === true && by === m.to && s.forgottenNodes.has(by)) return m;
  if (m.status !== "pending") {
    violate(s, "awareness", `message ${id} from "${m.from}" to "${m.to}" was ${action} after it had already been ${m.status}`, t);
    return undefined;
  }
  return m;
}

/**
 * The record of update `id`, made on the first event that names it. Prepare's messages come before the
 * update-start, so a record without a start is normal until the update runs; if it runs without one, its
 * nodes are taken to be those alive when it was first seen (configuration is refused while an update runs).
 */
/** `what` names the event that shows it first; a function, so that the events of a known update build no text. */
export function updateRecord(s: CheckerState, id: number, t: number, what: () => string): UpdateRecord {
  const known = s.updates.get(id);
  if (known !== undefined) return known;
  const u: UpdateRecord = {
    id,
    nodes: [...s.nodeEpoch.keys()].filter((n) => !s.forgottenNodes.has(n)).sort(),
    startedAt: undefined,
    firstSeen: { t, what: what() },
    ran: false,
    turnedNew: new Set(),
    forgotten: new Set(),
    ending: undefined,
    haltDetail: undefined,
  };
  s.updates.set(id, u);
  return u;
}

/** The nodes of `u` that have not turned new. */
export function stillOld(u: UpdateRecord): NodeId[] {
  return u.nodes.filter((n) => !u.turnedNew.has(n) && !u.forgotten.has(n));
}

/** From a horizon, an update without a traced start began before it: its termination cannot be judged. */
export function startedBeforeHorizon(s: CheckerState, u: UpdateRecord): boolean {
  return s.beforeHorizon !== undefined && u.startedAt === undefined;
}

/** How to name an update in a violation: its start, or that none was traced and where it was first seen. */
export function describeUpdate(u: UpdateRecord): string {
  if (u.startedAt !== undefined) return `update #${u.id} started at ${u.startedAt}`;
  return `update #${u.id} (no update-start in the trace; first seen at ${u.firstSeen.t}: ${u.firstSeen.what})`;
}
