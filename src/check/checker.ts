import type { MessageId, NodeId } from "../core/ids.js";
import { isConfigurationDrop, type TraceEvent } from "../core/trace/trace-event.js";

export type Invariant = "correctness" | "awareness" | "termination";

export interface Violation {
  invariant: Invariant;
  /** Human readable: which message, which nodes, which versions. */
  message: string;
  at: number;
}

export interface CheckReport {
  ok: boolean;
  violations: Violation[];
}

export interface CheckOptions {
  /**
   * The run is over: nothing more will happen. Then a message still unexecuted
   * breaks awareness and an update still running breaks termination. A trace
   * taken mid-run is checked with `complete: false`, where both are only pending.
   */
  readonly complete?: boolean;
}

interface MessageRecord {
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

interface UpdateRecord {
  readonly id: number;
  readonly nodes: readonly NodeId[];
  readonly startedAt: number;
  readonly turnedNew: Set<NodeId>;
  ended: boolean;
}

/**
 * The paper's three invariants (section 3), judged from the trace alone: epochs
 * of nodes and of messages are derived from create / swap / send / transform
 * events, never taken from the runtime's word.
 */
export function checkTrace(trace: readonly TraceEvent[], options: CheckOptions = {}): CheckReport {
  const violations: Violation[] = [];
  const nodeEpoch = new Map<NodeId, number>();
  const nodeVersion = new Map<NodeId, string>();
  const messages = new Map<MessageId, MessageRecord>();
  const updates = new Map<number, UpdateRecord>();
  let lastT = 0;

  const describeNode = (n: NodeId): string => `node "${n}" (${nodeVersion.get(n) ?? "unknown version"}, epoch ${nodeEpoch.get(n) ?? "?"})`;
  const register = (id: MessageId, from: NodeId, to: NodeId, epoch: number, version: string, t: number, what: string): void => {
    if (messages.has(id)) {
      violations.push({ invariant: "awareness", message: `message ${id} ${what} a second time (ids must be unique)`, at: t });
      return;
    }
    messages.set(id, { from, to, epoch, version, sentAt: t, status: "pending", sendUndone: false, droppedAsOrphan: false });
  };
  const consume = (id: MessageId, t: number, action: string): MessageRecord | undefined => {
    const m = messages.get(id);
    if (m === undefined) {
      violations.push({ invariant: "awareness", message: `message ${id} was ${action} but never sent`, at: t });
      return undefined;
    }
    if (m.status !== "pending") {
      violations.push({
        invariant: "awareness",
        message: `message ${id} from "${m.from}" to "${m.to}" was ${action} after it had already been ${m.status}`,
        at: t,
      });
      return undefined;
    }
    return m;
  };

  for (const ev of trace) {
    lastT = ev.t;
    switch (ev.kind) {
      case "create":
        nodeEpoch.set(ev.node, ev.epoch);
        nodeVersion.set(ev.node, ev.version);
        break;
      case "swap": {
        const before = nodeEpoch.get(ev.node) ?? 0;
        const u = updates.get(ev.update);
        if (u !== undefined) {
          if (u.turnedNew.has(ev.node)) {
            violations.push({ invariant: "termination", message: `${describeNode(ev.node)} turned new twice in update #${ev.update}`, at: ev.t });
          }
          u.turnedNew.add(ev.node);
        }
        if (ev.epoch !== before + 1) {
          violations.push({
            invariant: "correctness",
            message: `${describeNode(ev.node)} jumped to epoch ${ev.epoch} in update #${ev.update}; a swap moves one epoch forward`,
            at: ev.t,
          });
        }
        // Derived, not taken from the event: one bad swap must not make every later message look wrong.
        nodeEpoch.set(ev.node, before + 1);
        nodeVersion.set(ev.node, ev.to);
        break;
      }
      case "send":
        register(ev.msg, ev.node, ev.to, nodeEpoch.get(ev.node) ?? 0, nodeVersion.get(ev.node) ?? "unknown version", ev.t, "sent");
        break;
      case "transform": {
        const m = consume(ev.msg, ev.t, "replaced by its new-equivalent");
        if (m === undefined) break;
        m.status = "replaced";
        const epoch = m.epoch + 1;
        for (const id of ev.into) register(id, m.from, m.to, epoch, `new-equivalent of ${m.version}`, ev.t, "created by a transform");
        break;
      }
      case "deliver": {
        const m = consume(ev.msg, ev.t, `executed by "${ev.node}"`);
        if (m === undefined) break;
        m.status = "executed";
        if (m.to !== ev.node) {
          violations.push({ invariant: "awareness", message: `message ${ev.msg} for "${m.to}" was executed by "${ev.node}"`, at: ev.t });
        }
        const receiver = nodeEpoch.get(ev.node) ?? 0;
        if (m.epoch !== receiver) {
          const age = (e: number, other: number): string => (e < other ? "old" : "new");
          violations.push({
            invariant: "correctness",
            message:
              `${age(m.epoch, receiver)} message ${ev.msg} sent by "${m.from}" at epoch ${m.epoch} (${m.version}) ` +
              `was executed by ${age(receiver, m.epoch)} ${describeNode(ev.node)}`,
            at: ev.t,
          });
        }
        break;
      }
      case "drop": {
        const m = consume(ev.msg, ev.t, `dropped by "${ev.node}"`);
        if (m === undefined) break;
        m.status = "dropped";
        if (ev.reason === "orphan") {
          m.droppedAsOrphan = true; // judged at the end: its sender may roll back after the receiver dropped it
        } else if (!isConfigurationDrop(ev.reason)) {
          violations.push({
            invariant: "awareness",
            message: `message ${ev.msg} from "${m.from}" to "${m.to}" (epoch ${m.epoch}) was dropped by "${ev.node}" (${ev.reason}) and never replaced`,
            at: ev.t,
          });
        }
        break;
      }
      case "update-start":
        updates.set(ev.update, { id: ev.update, nodes: ev.nodes, startedAt: ev.t, turnedNew: new Set(), ended: false });
        break;
      case "update-end": {
        const u = updates.get(ev.update);
        if (u === undefined) break;
        u.ended = true;
        const old = u.nodes.filter((n) => !u.turnedNew.has(n));
        if (old.length > 0) {
          violations.push({
            invariant: "termination",
            message: `update #${u.id} ended (${ev.outcome}${ev.detail ? `: ${ev.detail}` : ""}) with node(s) ${quoteList(old)} not new`,
            at: ev.t,
          });
        }
        break;
      }
      case "rollback":
        for (const id of ev.receives) {
          const m = messages.get(id);
          if (m === undefined || m.status !== "executed") {
            violations.push({ invariant: "awareness", message: `"${ev.node}" undid the execution of ${id}, which it had not executed`, at: ev.t });
          } else {
            m.status = "pending"; // reopened: replayed (transformed) or dropped as an orphan next
          }
        }
        for (const id of ev.sends) {
          const m = messages.get(id);
          if (m === undefined) violations.push({ invariant: "awareness", message: `"${ev.node}" undid the send of ${id}, which was never sent`, at: ev.t });
          else m.sendUndone = true;
        }
        break;
      case "destroy":
        nodeEpoch.delete(ev.node);
        break;
      case "link":
      case "unlink":
      case "hold":
      case "release":
      case "buffer":
      case "request":
      case "respond":
      case "timer":
      case "fault":
      case "control-send":
      case "control-receive":
      case "pulse":
      case "checkpoint":
      case "replay":
        break;
      default:
        assertNever(ev);
    }
  }

  if (options.complete === true) {
    for (const [id, m] of messages) {
      if (m.droppedAsOrphan && !m.sendUndone) {
        violations.push({
          invariant: "awareness",
          message: `message ${id} from "${m.from}" to "${m.to}" was dropped as an orphan but "${m.from}" never undid its send`,
          at: lastT,
        });
      } else if (m.sendUndone && m.status !== "dropped") {
        violations.push({
          invariant: "awareness",
          message: `message ${id} from "${m.from}" to "${m.to}": its send was undone but its execution was not (${m.status})`,
          at: lastT,
        });
      } else if (m.status === "pending") {
        violations.push({
          invariant: "awareness",
          message: `message ${id} from "${m.from}" to "${m.to}" (epoch ${m.epoch}, sent at ${m.sentAt}) was never executed nor replaced`,
          at: lastT,
        });
      }
    }
    for (const u of updates.values()) {
      if (!u.ended) {
        const old = u.nodes.filter((n) => !u.turnedNew.has(n));
        violations.push({
          invariant: "termination",
          message: `update #${u.id} started at ${u.startedAt} never ended${old.length > 0 ? `; node(s) ${quoteList(old)} still old` : ""}`,
          at: lastT,
        });
      }
    }
  }
  violations.sort((a, b) => a.at - b.at);
  return { ok: violations.length === 0, violations };
}

function quoteList(ids: readonly string[]): string {
  return ids.map((n) => `"${n}"`).join(", ");
}

function assertNever(x: never): never {
  throw new Error(`checker: unknown trace event ${JSON.stringify(x)}`);
}
