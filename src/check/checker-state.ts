import type { MessageId, NodeId } from "../core/ids.js";
import type { Invariant, Violation } from "./violation.js";

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
}

export interface UpdateRecord {
  readonly id: number;
  readonly nodes: readonly NodeId[];
  readonly startedAt: number;
  readonly turnedNew: Set<NodeId>;
  ended: boolean;
}

/** Everything the checker knows after the events it has read: derived from the trace alone. */
export interface CheckerState {
  readonly violations: Violation[];
  readonly nodeEpoch: Map<NodeId, number>;
  readonly nodeVersion: Map<NodeId, string>;
  readonly messages: Map<MessageId, MessageRecord>;
  readonly updates: Map<number, UpdateRecord>;
  /** Time of the last event read: where end-of-run violations are placed. */
  lastT: number;
}

export function newCheckerState(): CheckerState {
  return { violations: [], nodeEpoch: new Map(), nodeVersion: new Map(), messages: new Map(), updates: new Map(), lastT: 0 };
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
  s.messages.set(id, { ...m, sentAt: t, status: "pending", sendUndone: false, droppedAsOrphan: false });
}

/** The pending message an event ends (executed, replaced, dropped), or undefined after reporting why it cannot. */
export function consumeMessage(s: CheckerState, id: MessageId, t: number, action: string): MessageRecord | undefined {
  const m = s.messages.get(id);
  if (m === undefined) {
    violate(s, "awareness", `message ${id} was ${action} but never sent`, t);
    return undefined;
  }
  if (m.status !== "pending") {
    violate(s, "awareness", `message ${id} from "${m.from}" to "${m.to}" was ${action} after it had already been ${m.status}`, t);
    return undefined;
  }
  return m;
}
