import { isConfigurationDrop, type TraceEvent, type TraceKind } from "../core/trace/trace-event.js";
import { type CheckerState, consumeMessage, describeNode, quoteList, registerMessage, violate } from "./checker-state.js";

type EventOf<K extends TraceKind> = Extract<TraceEvent, { kind: K }>;
type Handler<K extends TraceKind> = (s: CheckerState, ev: EventOf<K>) => void;

/** Events that say nothing about epochs or message lifetimes: the invariants do not depend on them. */
const ignore = (): void => undefined;

function onCreate(s: CheckerState, ev: EventOf<"create">): void {
  s.nodeEpoch.set(ev.node, ev.epoch);
  s.nodeVersion.set(ev.node, ev.version);
}

function onSwap(s: CheckerState, ev: EventOf<"swap">): void {
  const before = s.nodeEpoch.get(ev.node) ?? 0;
  const u = s.updates.get(ev.update);
  if (u !== undefined) {
    if (u.turnedNew.has(ev.node)) violate(s, "termination", `${describeNode(s, ev.node)} turned new twice in update #${ev.update}`, ev.t);
    u.turnedNew.add(ev.node);
  }
  if (ev.epoch !== before + 1) {
    violate(s, "correctness", `${describeNode(s, ev.node)} jumped to epoch ${ev.epoch} in update #${ev.update}; a swap moves one epoch forward`, ev.t);
  }
  // Derived, not taken from the event: one bad swap must not make every later message look wrong.
  s.nodeEpoch.set(ev.node, before + 1);
  s.nodeVersion.set(ev.node, ev.to);
}

function onSend(s: CheckerState, ev: EventOf<"send">): void {
  const epoch = s.nodeEpoch.get(ev.node) ?? 0;
  const version = s.nodeVersion.get(ev.node) ?? "unknown version";
  registerMessage(s, ev.msg, { from: ev.node, to: ev.to, epoch, version }, ev.t, "sent");
}

function onTransform(s: CheckerState, ev: EventOf<"transform">): void {
  const m = consumeMessage(s, ev.msg, ev.t, "replaced by its new-equivalent");
  if (m === undefined) return;
  m.status = "replaced";
  const made = { from: m.from, to: m.to, epoch: m.epoch + 1, version: `new-equivalent of ${m.version}` };
  for (const id of ev.into) registerMessage(s, id, made, ev.t, "created by a transform");
}

function onDeliver(s: CheckerState, ev: EventOf<"deliver">): void {
  const m = consumeMessage(s, ev.msg, ev.t, `executed by "${ev.node}"`);
  if (m === undefined) return;
  m.status = "executed";
  if (m.to !== ev.node) violate(s, "awareness", `message ${ev.msg} for "${m.to}" was executed by "${ev.node}"`, ev.t);
  const receiver = s.nodeEpoch.get(ev.node) ?? 0;
  if (m.epoch === receiver) return;
  const age = (e: number, other: number): string => (e < other ? "old" : "new");
  violate(
    s,
    "correctness",
    `${age(m.epoch, receiver)} message ${ev.msg} sent by "${m.from}" at epoch ${m.epoch} (${m.version}) ` +
      `was executed by ${age(receiver, m.epoch)} ${describeNode(s, ev.node)}`,
    ev.t,
  );
}

function onDrop(s: CheckerState, ev: EventOf<"drop">): void {
  const m = consumeMessage(s, ev.msg, ev.t, `dropped by "${ev.node}"`);
  if (m === undefined) return;
  m.status = "dropped";
  if (ev.reason === "orphan") {
    m.droppedAsOrphan = true; // judged at the end: its sender may roll back after the receiver dropped it
  } else if (!isConfigurationDrop(ev.reason)) {
    violate(s, "awareness", `message ${ev.msg} from "${m.from}" to "${m.to}" (epoch ${m.epoch}) was dropped by "${ev.node}" (${ev.reason}) and never replaced`, ev.t);
  }
}

function onUpdateStart(s: CheckerState, ev: EventOf<"update-start">): void {
  s.updates.set(ev.update, { id: ev.update, nodes: ev.nodes, startedAt: ev.t, turnedNew: new Set(), ended: false });
}

function onUpdateEnd(s: CheckerState, ev: EventOf<"update-end">): void {
  const u = s.updates.get(ev.update);
  // A halted update is not over: resume() may finish it; if nothing does, the end of the trace reports it unfinished.
  if (u === undefined || ev.outcome === "halted") return;
  u.ended = true;
  const old = u.nodes.filter((n) => !u.turnedNew.has(n));
  if (old.length === 0) return;
  violate(s, "termination", `update #${u.id} ended (${ev.outcome}${ev.detail ? `: ${ev.detail}` : ""}) with node(s) ${quoteList(old)} not new`, ev.t);
}

function onRollback(s: CheckerState, ev: EventOf<"rollback">): void {
  for (const id of ev.receives) {
    const m = s.messages.get(id);
    if (m === undefined || m.status !== "executed") violate(s, "awareness", `"${ev.node}" undid the execution of ${id}, which it had not executed`, ev.t);
    else m.status = "pending"; // reopened: replayed (transformed) or dropped as an orphan next
  }
  for (const id of ev.sends) {
    const m = s.messages.get(id);
    if (m === undefined) violate(s, "awareness", `"${ev.node}" undid the send of ${id}, which was never sent`, ev.t);
    else m.sendUndone = true;
  }
}

function onDestroy(s: CheckerState, ev: EventOf<"destroy">): void {
  s.nodeEpoch.delete(ev.node);
}

/** One handler per kind: the mapped type makes a new TraceEvent kind a compile error until it is handled here. */
export const EVENT_HANDLERS: { readonly [K in TraceKind]: Handler<K> } = {
  create: onCreate,
  destroy: onDestroy,
  swap: onSwap,
  send: onSend,
  transform: onTransform,
  deliver: onDeliver,
  drop: onDrop,
  "update-start": onUpdateStart,
  "update-end": onUpdateEnd,
  rollback: onRollback,
  link: ignore,
  unlink: ignore,
  hold: ignore,
  release: ignore,
  buffer: ignore,
  request: ignore,
  respond: ignore,
  timer: ignore,
  fault: ignore,
  "control-send": ignore,
  "control-receive": ignore,
  pulse: ignore,
  checkpoint: ignore,
  replay: ignore,
};
