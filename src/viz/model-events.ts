import type { TraceEvent, TraceKind } from "../core/trace/trace-event.js";
import type { ControlModel, RollbackModel } from "./model-types.js";
import { addMessage, arrive, controlKey, ensureNode, knownMessage, lane, type ModelState, num, str } from "./model-state.js";

type EventOf<K extends TraceKind> = Extract<TraceEvent, { kind: K }>;
type Handler<K extends TraceKind> = (st: ModelState, ev: EventOf<K>, t: number) => void;

function onCreate(st: ModelState, ev: EventOf<"create">, t: number): void {
  const n = ensureNode(st, ev.node, t, str(ev.version));
  if (n.version === "?") n.version = str(ev.version);
}

function onDestroy(st: ModelState, ev: EventOf<"destroy" | "forget">, t: number): void {
  ensureNode(st, ev.node, t).to = t;
}

function onLinkChange(st: ModelState, ev: EventOf<"link" | "unlink">, t: number): void {
  lane(st, ev.a, t);
  lane(st, ev.b, t);
  if (t > st.tStart || ev.kind === "unlink") st.marks.push({ kind: ev.kind, t, node: str(ev.a), peer: str(ev.b) });
}

function onSend(st: ModelState, ev: EventOf<"send">, t: number): void {
  lane(st, ev.node, t);
  lane(st, ev.to, t);
  const id = str(ev.msg);
  if (!st.messages.has(id)) addMessage(st, id, str(ev.node), str(ev.to), num(ev.epoch), { t, node: str(ev.node), by: "send" });
}

function onHold(st: ModelState, ev: EventOf<"hold">, t: number): void {
  lane(st, ev.node, t);
  const id = str(ev.msg);
  knownMessage(st, id, str(ev.node), str(ev.to), t, 0).held = true;
  st.held.join(id, str(ev.node), str(ev.to), t);
}

function onRelease(st: ModelState, ev: EventOf<"release">, t: number): void {
  lane(st, ev.node, t);
  const id = str(ev.msg);
  knownMessage(st, id, str(ev.node), str(ev.to), t, 0).released = { t, node: str(ev.node) };
  st.held.leave(id, t);
}

function onBuffer(st: ModelState, ev: EventOf<"buffer">, t: number): void {
  lane(st, ev.node, t);
  const id = str(ev.msg);
  const m = knownMessage(st, id, str(ev.from), str(ev.node), t, 0);
  m.buffered = { t, node: str(ev.node) };
  arrive(m, m.buffered);
  st.buffered.join(id, str(ev.node), str(ev.from), t);
}

function onDeliver(st: ModelState, ev: EventOf<"deliver">, t: number): void {
  lane(st, ev.node, t);
  lane(st, ev.from, t);
  const id = str(ev.msg);
  const m = knownMessage(st, id, str(ev.from), str(ev.node), t, num(ev.epoch));
  const at = { t, node: str(ev.node) };
  m.deliveries.push(at);
  arrive(m, at);
  st.buffered.leave(id, t);
}

function onTransform(st: ModelState, ev: EventOf<"transform">, t: number): void {
  lane(st, ev.node, t);
  const id = str(ev.msg);
  const into = Array.isArray(ev.into) ? ev.into.map(str) : [];
  const m = knownMessage(st, id, str(ev.from), str(ev.to), t, 0);
  const at = { t, node: str(ev.node) };
  m.transformed = { ...at, into };
  // Replaced at the receiver: the message had come to it; at the sender (held) it never left.
  if (at.node === m.to && at.node !== m.from) arrive(m, at);
  for (const x of into) {
    if (!st.messages.has(x)) addMessage(st, x, str(ev.from), str(ev.to), num(ev.epoch), { ...at, by: "transform", parent: id });
  }
  st.held.pass(id, into, t);
  st.buffered.pass(id, into, t);
  st.marks.push({ kind: "transform", t, node: at.node, msg: id, detail: into.join(" ") });
}

function onDrop(st: ModelState, ev: EventOf<"drop">, t: number): void {
  lane(st, ev.node, t);
  const id = str(ev.msg);
  const m = knownMessage(st, id, str(ev.from), str(ev.node), t, 0);
  const at = { t, node: str(ev.node) };
  m.dropped = { ...at, reason: ev.reason };
  // Dropped by a sender that still held it: it never reached a channel, so it never arrived anywhere.
  if (at.node !== m.from || m.released !== undefined || !m.held) arrive(m, at);
  st.held.leave(id, t);
  st.buffered.leave(id, t);
  st.marks.push({ kind: "drop", t, node: at.node, msg: id, detail: str(ev.reason) });
}

function onFault(st: ModelState, ev: EventOf<"fault">, t: number): void {
  lane(st, ev.node, t);
  st.marks.push({ kind: "fault", t, node: str(ev.node), detail: `${str(ev.during)}: ${str(ev.error)}`, ...(ev.msg !== undefined ? { msg: str(ev.msg) } : {}) });
}

function onSwap(st: ModelState, ev: EventOf<"swap">, t: number): void {
  const n = ensureNode(st, ev.node, t);
  n.swaps.push({ t, epoch: num(ev.epoch, n.swaps.length + 1), version: str(ev.to), update: num(ev.update) });
}

function onControlSend(st: ModelState, ev: EventOf<"control-send">, t: number): void {
  const plane = ev.plane === true;
  if (plane && !st.controlPlane) return;
  lane(st, ev.node, t);
  lane(st, ev.to, t);
  const pulse = typeof ev.pulse === "number" ? ev.pulse : undefined;
  const c: ControlModel = { from: str(ev.node), to: str(ev.to), signal: str(ev.signal), plane, update: num(ev.update), pulse, sentAt: t, receivedAt: undefined };
  st.controls.push(c);
  const key = controlKey(c.from, c.to, c.signal, plane, c.update, pulse);
  const q = st.controlQueues.get(key);
  if (q === undefined) st.controlQueues.set(key, [c]);
  else q.push(c);
}

function onControlReceive(st: ModelState, ev: EventOf<"control-receive">, t: number): void {
  const plane = ev.plane === true;
  if (plane && !st.controlPlane) return;
  const pulse = typeof ev.pulse === "number" ? ev.pulse : undefined;
  const c = st.controlQueues.get(controlKey(str(ev.from), str(ev.node), str(ev.signal), plane, num(ev.update), pulse))?.shift();
  if (c !== undefined) c.receivedAt = t;
}

function onCheckpoint(st: ModelState, ev: EventOf<"checkpoint">, t: number): void {
  let cps = st.checkpoints.get(str(ev.node));
  if (cps === undefined) st.checkpoints.set(str(ev.node), (cps = new Map()));
  if (!cps.has(num(ev.event))) cps.set(num(ev.event), t);
  st.marks.push({ kind: "checkpoint", t, node: str(ev.node), detail: String(ev.event) });
}

/** The checkpoint a rollback went back to; before the first one the trace shows, the node's state when armed (no later than its first checkpoint). */
function checkpointTime(cps: Map<number, number> | undefined, toEvent: number): number | undefined {
  const toTime = cps?.get(toEvent);
  if (toTime !== undefined || cps === undefined) return toTime;
  let first: [number, number] | undefined;
  for (const e of cps) if (first === undefined || e[0] < first[0]) first = e;
  return first !== undefined && toEvent < first[0] ? first[1] : undefined;
}

function onRollback(st: ModelState, ev: EventOf<"rollback">, t: number): void {
  lane(st, ev.node, t);
  const toEvent = num(ev.to);
  const toTime = checkpointTime(st.checkpoints.get(str(ev.node)), toEvent);
  const receives = Array.isArray(ev.receives) ? ev.receives.map(str) : [];
  const sends = Array.isArray(ev.sends) ? ev.sends.map(str) : [];
  for (const id of receives) {
    const m = st.messages.get(id);
    if (m !== undefined) m.executionUndone = true;
  }
  for (const id of sends) {
    const m = st.messages.get(id);
    if (m !== undefined) m.sendUndone = true;
  }
  const node = str(ev.node);
  const r: RollbackModel = { t, node, update: num(ev.update), toEvent, toTime, undone: num(ev.undone), receives: receives.length, sends: sends.length, replayed: 0 };
  st.rollbacks.push(r);
  st.lastRollback.set(node, r);
}

function onReplay(st: ModelState, ev: EventOf<"replay">): void {
  const r = st.lastRollback.get(str(ev.node));
  if (r !== undefined) r.replayed++;
}

function onUpdateStart(st: ModelState, ev: EventOf<"update-start">, t: number): void {
  st.updates.set(num(ev.update), { id: num(ev.update), t, strategy: str(ev.strategy), root: str(ev.root), end: undefined });
}

function onUpdateEnd(st: ModelState, ev: EventOf<"update-end">, t: number): void {
  const u = st.updates.get(num(ev.update));
  if (u !== undefined) u.end = { t, outcome: str(ev.outcome), detail: ev.detail === undefined ? undefined : str(ev.detail) };
}

/** Events that only place their node on the diagram. */
function onNodeEvent(st: ModelState, ev: EventOf<"request" | "respond" | "timer" | "pulse" | "crash" | "restart" | "move" | "arrive" | "fence">, t: number): void {
  lane(st, ev.node, t);
}

/** What each kind of event adds to the model. */
const MODEL_HANDLERS: { readonly [K in TraceKind]: Handler<K> } = {
  create: onCreate,
  destroy: onDestroy,
  forget: onDestroy,
  link: onLinkChange,
  unlink: onLinkChange,
  send: onSend,
  hold: onHold,
  release: onRelease,
  buffer: onBuffer,
  deliver: onDeliver,
  transform: onTransform,
  drop: onDrop,
  fault: onFault,
  swap: onSwap,
  "control-send": onControlSend,
  "control-receive": onControlReceive,
  checkpoint: onCheckpoint,
  rollback: onRollback,
  replay: onReplay,
  "update-start": onUpdateStart,
  "update-end": onUpdateEnd,
  request: onNodeEvent,
  respond: onNodeEvent,
  timer: onNodeEvent,
  pulse: onNodeEvent,
  crash: onNodeEvent,
  restart: onNodeEvent,
  move: onNodeEvent,
  arrive: onNodeEvent,
  fence: onNodeEvent,
  partition: ignoreEvent,
  heal: ignoreEvent,
  suspect: ignoreEvent,
  unsuspect: ignoreEvent,
};

/** Events the diagram does not draw (yet): a partition shows as the messages it delays. */
function ignoreEvent(): void {
  // nothing to place
}

/** Add one event to the model; a kind this version does not know (a newer trace) is skipped. */
export function addEvent(st: ModelState, ev: TraceEvent): void {
  if (!Object.hasOwn(MODEL_HANDLERS, ev.kind)) return;
  // The table pairs each kind with its handler; TypeScript cannot follow that through a union, hence the widening.
  const handler = MODEL_HANDLERS[ev.kind] as (st: ModelState, ev: TraceEvent, t: number) => void;
  handler(st, ev, num(ev.t));
}
