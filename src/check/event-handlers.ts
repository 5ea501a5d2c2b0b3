import type { NodeId } from "../core/ids.js";
import { isConfigurationDrop, type TraceEvent, type TraceKind } from "../core/trace/trace-event.js";
import {
  type CheckerState,
  consumeMessage,
  describeNode,
  describeUpdate,
  quoteList,
  registerMessage,
  startedBeforeHorizon,
  stillOld,
  updateRecord,
  violate,
} from "./checker-state.js";

type EventOf<K extends TraceKind> = Extract<TraceEvent, { kind: K }>;
type Handler<K extends TraceKind> = (s: CheckerState, ev: EventOf<K>) => void;

/** Events that say nothing about epochs or message lifetimes: the invariants do not depend on them. */
const ignore = (): void => undefined;

/**
 * A node's epoch is that of the version it was created at, once the trace has shown that version running: the
 * event's own epoch is the runtime's word (a system-wide counter), which is wrong for a node created with a
 * version an update replaced and lags after an update that failed. A version seen for the first time takes the
 * event's epoch (a new program, or the first nodes of the run).
 */
/**
 * A created node's epoch: that of the live nodes running its version; for a retired version (a swap left it), the
 * epoch it was retired at, so the node is old; otherwise (a version no node runs now and no update replaced: its
 * nodes were destroyed, or a new program) the epoch its create event says it joins at.
 */
function onCreate(s: CheckerState, ev: EventOf<"create">): void {
  let epoch = runningEpoch(s, ev.version);
  if (epoch === undefined && s.retiredVersions.has(ev.version)) epoch = s.versionEpoch.get(ev.version);
  epoch ??= ev.epoch;
  if (!s.versionEpoch.has(ev.version)) s.versionEpoch.set(ev.version, epoch);
  s.forgottenNodes.delete(ev.node); // created again under the id of a node lost for good: a new node
  s.nodeEpoch.set(ev.node, epoch);
  s.nodeVersion.set(ev.node, ev.version);
}

function onSwap(s: CheckerState, ev: EventOf<"swap">): void {
  // From a horizon, a node not seen yet was at the epoch before the one its swap reaches.
  const before = s.nodeEpoch.get(ev.node) ?? (s.beforeHorizon !== undefined ? ev.epoch - 1 : 0);
  const u = updateRecord(s, ev.update, ev.t, () => `the swap of "${ev.node}" to ${ev.to}`);
  u.ran = true;
  if (u.turnedNew.has(ev.node)) violate(s, "termination", `${describeNode(s, ev.node)} turned new twice in update #${ev.update}`, ev.t);
  u.turnedNew.add(ev.node);
  if (ev.epoch !== before + 1) {
    violate(s, "correctness", `${describeNode(s, ev.node)} jumped to epoch ${ev.epoch} in update #${ev.update}; a swap moves one epoch forward`, ev.t);
  }
  // Derived, not taken from the event: one bad swap must not make every later message look wrong.
  s.nodeEpoch.set(ev.node, before + 1);
  s.nodeVersion.set(ev.node, ev.to);
  // A node created later at `to` runs what this one runs now; one created at `from` stays behind (retired or not).
  s.versionEpoch.set(ev.to, before + 1);
  if (!s.versionEpoch.has(ev.from)) s.versionEpoch.set(ev.from, before);
  s.retiredVersions.add(ev.from);
  s.retiredVersions.delete(ev.to);
}

/** The highest epoch of the live nodes that run `version`, if any does. */
function runningEpoch(s: CheckerState, version: string): number | undefined {
  let out: number | undefined;
  for (const [n, e] of s.nodeEpoch) if (s.nodeVersion.get(n) === version && !s.forgottenNodes.has(n) && (out === undefined || e > out)) out = e;
  return out;
}

function onSend(s: CheckerState, ev: EventOf<"send">): void {
  if (s.beforeHorizon !== undefined && !s.nodeEpoch.has(ev.node)) s.nodeEpoch.set(ev.node, ev.epoch);
  const epoch = s.nodeEpoch.get(ev.node) ?? 0;
  const version = s.nodeVersion.get(ev.node) ?? "unknown version";
  registerMessage(s, ev.msg, { from: ev.node, to: ev.to, epoch, version }, ev.t, "sent");
}

function onTransform(s: CheckerState, ev: EventOf<"transform">): void {
  const m = consumeMessage(s, ev.msg, ev.t, "replaced by its new-equivalent", ev.node);
  if (m === undefined) return;
  m.status = "replaced";
  // A mapping turns an old message into the new version's: the node that maps it must already be newer. One
  // that is not (a new message mapped again, e.g. tagged with a lagging epoch) is reported here, once; its
  // results keep the message's epoch so that their execution is not reported a second time.
  const known = s.nodeEpoch.get(ev.node);
  const at = known ?? 0;
  // From a horizon, a node whose epoch the trace has not shown yet is taken to be newer, as its mapping says.
  const mapped = m.epoch < at || (known === undefined && s.beforeHorizon !== undefined);
  if (!mapped) {
    violate(s, "correctness", `message ${ev.msg} sent by "${m.from}" at epoch ${m.epoch} (${m.version}) was mapped by ${describeNode(s, ev.node)}, which is not newer: it was not an old message`, ev.t);
  }
  const made = { from: m.from, to: m.to, epoch: mapped ? m.epoch + 1 : m.epoch, version: `new-equivalent of ${m.version}` };
  for (const id of ev.into) registerMessage(s, id, made, ev.t, "created by a transform");
}

function onDeliver(s: CheckerState, ev: EventOf<"deliver">): void {
  atLiveNode(s, ev);
  const m = consumeMessage(s, ev.msg, ev.t, `executed by "${ev.node}"`, ev.node);
  if (m === undefined) return;
  m.status = "executed";
  if (m.to !== ev.node) violate(s, "awareness", `message ${ev.msg} for "${m.to}" was executed by "${ev.node}"`, ev.t);
  if (s.beforeHorizon !== undefined && !s.nodeEpoch.has(ev.node)) {
    s.beforeHorizon.deliveries++;
    return;
  }
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
  // A link removed while its sender still kept a copy of a message the receiver had taken (executed, replaced by its
  // new-equivalent, or dropped as an orphan; the acknowledgement was lost: the receiver died, and was forgotten): the
  // copy goes with the link, and nothing was lost.
  const taken = s.messages.get(ev.msg)?.status;
  if (isConfigurationDrop(ev.reason) && taken !== undefined && taken !== "pending") return;
  const m = consumeMessage(s, ev.msg, ev.t, `dropped by "${ev.node}"`);
  if (m === undefined) return;
  m.status = "dropped";
  if (isConfigurationDrop(ev.reason)) m.droppedByConfiguration = true;
  if (ev.reason === "orphan") {
    m.droppedAsOrphan = true; // judged at the end: its sender may roll back after the receiver dropped it
  } else if (!isConfigurationDrop(ev.reason)) {
    violate(s, "awareness", `message ${ev.msg} from "${m.from}" to "${m.to}" (epoch ${m.epoch}) was dropped by "${ev.node}" (${ev.reason}) and never replaced`, ev.t);
  }
}

/**
 * The start of an update, or its resume after a halt (a second start of the same id): what it did so far is kept,
 * and the nodes it must turn new are its start's list (with a resume's added).
 */
function onUpdateStart(s: CheckerState, ev: EventOf<"update-start">): void {
  const u = updateRecord(s, ev.update, ev.t, () => "its update-start");
  u.nodes = u.startedAt === undefined ? ev.nodes : [...new Set([...u.nodes, ...ev.nodes])].sort();
  u.startedAt ??= ev.t;
  u.ran = true;
  if (u.ending === "halted") u.ending = undefined;
}

/** A halt is not an end: the same update may complete later, so it is judged only when the run is over. */
function onUpdateEnd(s: CheckerState, ev: EventOf<"update-end">): void {
  const u = updateRecord(s, ev.update, ev.t, () => `its update-end (${ev.outcome})`);
  u.ran = true;
  u.ending = ev.outcome;
  if (ev.outcome === "halted") {
    u.haltDetail = ev.detail;
    return;
  }
  const old = stillOld(u);
  if (old.length === 0 || startedBeforeHorizon(s, u)) return;
  violate(s, "termination", `${describeUpdate(u)} ended (${ev.outcome}${ev.detail ? `: ${ev.detail}` : ""}) with node(s) ${quoteList(old)} not new`, ev.t);
}

/** Prepare's signals (and a synchronized system's pulses) do not show that an update ran: one refused in prepare changes nothing. */
const NOT_RUNNING: ReadonlySet<string> = new Set(["prepare", "prepared", "refused", "abort", "pulse"]);

/** Control messages name their update: the way to see one that ran without a traced start. */
function onControl(s: CheckerState, ev: EventOf<"control-send"> | EventOf<"control-receive">): void {
  if (ev.update === 0) return; // outside any update: a synchronized system's pulses
  const u = updateRecord(s, ev.update, ev.t, () =>
    ev.kind === "control-send" ? `"${ev.signal}" sent by "${ev.node}" to "${ev.to}"` : `"${ev.signal}" received by "${ev.node}" from "${ev.from}"`,
  );
  // The coordinator aborts only before any node turned new: the update is over, nothing changed.
  if (ev.signal === "abort") u.ending ??= "aborted";
  else if (!NOT_RUNNING.has(ev.signal)) u.ran = true;
}

/** Held by its sender or buffered by its receiver: still pending, but known to be waiting (a halted update may leave it so). */
function onWaiting(s: CheckerState, ev: EventOf<"hold"> | EventOf<"buffer">): void {
  const m = s.messages.get(ev.msg);
  if (m === undefined) return;
  m.waiting = true;
  m.waitingAt = ev.node;
}

function onRollback(s: CheckerState, ev: EventOf<"rollback">): void {
  for (const id of ev.receives) {
    const m = s.messages.get(id);
    if (m === undefined && s.beforeHorizon !== undefined) s.beforeHorizon.messages++;
    else if (m === undefined || m.status !== "executed") violate(s, "awareness", `"${ev.node}" undid the execution of ${id}, which it had not executed`, ev.t);
    else m.status = "pending"; // reopened: replayed (transformed) or dropped as an orphan next
  }
  for (const id of ev.sends) {
    const m = s.messages.get(id);
    if (m === undefined && s.beforeHorizon !== undefined) s.beforeHorizon.messages++;
    else if (m === undefined) violate(s, "awareness", `"${ev.node}" undid the send of ${id}, which was never sent`, ev.t);
    else m.sendUndone = true;
  }
}

function onDestroy(s: CheckerState, ev: EventOf<"destroy">): void {
  s.nodeEpoch.delete(ev.node);
  s.down.delete(ev.node);
}

/** A node lost for good, destroyed while down: an update it was in no longer has it to turn new. */
function onForget(s: CheckerState, ev: EventOf<"forget">): void {
  s.forgottenNodes.add(ev.node);
  s.down.delete(ev.node);
  if (ev.update !== undefined) updateRecord(s, ev.update, ev.t, () => `the forget of "${ev.node}"`).forgotten.add(ev.node);
  for (const m of s.messages.values()) {
    if (m.from !== ev.node && m.to !== ev.node) continue;
    m.endForgotten = true;
    if (m.from === ev.node) m.senderForgotten = true;
    // Held by the forgotten sender, or buffered by the forgotten receiver: gone with that node's state, unless the
    // node took it before it died (traced concurrently with the forget: it may come after it in the merged trace).
    if (m.status === "pending" && m.waitingAt === ev.node) m.lostWithWaiter = true;
  }
}

/** A crash erases nothing from the trace (it holds committed steps only); the node's work waits for its restart. */
function onCrash(s: CheckerState, ev: EventOf<"crash">): void {
  // A crash of a moving node's source before the destination committed interrupts the move: the node is down there.
  if (s.moving.delete(ev.node)) return;
  if (s.down.has(ev.node)) violate(s, "correctness", `node "${ev.node}" crashed while it was crashed already`, ev.t);
  s.down.add(ev.node);
}

/** A node comes back at the version and epoch of its last commit, which are the ones the trace shows it at. */
function onRestart(s: CheckerState, ev: EventOf<"restart">): void {
  if (s.moving.has(ev.node)) violate(s, "correctness", `node "${ev.node}" restarted while it was moving to "${s.moving.get(ev.node)?.to ?? "?"}"`, ev.t);
  if (!s.down.delete(ev.node)) violate(s, "correctness", `node "${ev.node}" restarted without having crashed`, ev.t);
  cameBack(s, ev, "came back from its store");
}

/** A node leaves its location: it runs nowhere until it arrives (what is sent to it waits, as for a crashed node). */
function onMove(s: CheckerState, ev: EventOf<"move">): void {
  const moving = s.moving.get(ev.node);
  if (moving !== undefined) violate(s, "correctness", `node "${ev.node}" started a move to "${ev.to}" while it was moving to "${moving.to}"`, ev.t);
  else if (s.down.has(ev.node)) violate(s, "correctness", `node "${ev.node}" started a move to "${ev.to}" while it was crashed`, ev.t);
  s.down.add(ev.node);
  s.moving.set(ev.node, { to: ev.to, locationEpoch: ev.locationEpoch });
}

/** A moving node runs again at its destination, at the version and epoch it left with: one life, two locations. */
function onArrive(s: CheckerState, ev: EventOf<"arrive">): void {
  const moving = s.moving.get(ev.node);
  if (moving === undefined && s.beforeHorizon === undefined) {
    violate(s, "correctness", `node "${ev.node}" arrived at "${ev.at}" without a move`, ev.t);
  } else if (moving !== undefined && (moving.to !== ev.at || moving.locationEpoch !== ev.locationEpoch)) {
    violate(s, "correctness", `node "${ev.node}" arrived at "${ev.at}" (location epoch ${ev.locationEpoch}), but it was moving to "${moving.to}" (location epoch ${moving.locationEpoch})`, ev.t);
  }
  s.moving.delete(ev.node);
  s.down.delete(ev.node);
  cameBack(s, ev, `arrived at "${ev.at}"`);
}

/** A node runs again (restart or arrival) at what its record holds: the version and epoch it last committed. */
function cameBack(s: CheckerState, ev: EventOf<"restart" | "arrive">, how: string): void {
  // From a horizon, a node not seen yet comes back where its restart says: nothing before it is in the trace.
  if (s.beforeHorizon !== undefined && !s.nodeEpoch.has(ev.node)) {
    s.nodeEpoch.set(ev.node, ev.epoch);
    s.nodeVersion.set(ev.node, ev.version);
  }
  const epoch = s.nodeEpoch.get(ev.node);
  const version = s.nodeVersion.get(ev.node);
  if (epoch !== ev.epoch || version !== ev.version) {
    violate(
      s,
      "correctness",
      `node "${ev.node}" ${how} at ${ev.version} (epoch ${ev.epoch}), but the last it committed was ${version ?? "nothing"} (epoch ${epoch ?? "?"}): its durable record lost a committed step`,
      ev.t,
    );
  }
}

/** Nothing runs at a crashed node: an event there means a step of a dead process became visible. */
function atLiveNode(s: CheckerState, ev: { readonly node: NodeId; readonly kind: string; readonly t: number }): void {
  if (s.down.has(ev.node)) violate(s, "correctness", `node "${ev.node}" had a ${ev.kind} event while it was ${s.moving.has(ev.node) ? "moving" : "crashed"}`, ev.t);
}

/** One handler per kind: the mapped type makes a new TraceEvent kind a compile error until it is handled here. */
export const EVENT_HANDLERS: { readonly [K in TraceKind]: Handler<K> } = {
  create: onCreate,
  destroy: onDestroy,
  forget: onForget,
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
  hold: onWaiting,
  release: ignore,
  buffer: onWaiting,
  request: ignore,
  respond: ignore,
  timer: ignore,
  fault: ignore,
  "control-send": onControl,
  "control-receive": onControl,
  pulse: ignore,
  checkpoint: ignore,
  replay: ignore,
  crash: onCrash,
  restart: onRestart,
  move: onMove,
  arrive: onArrive,
  fence: ignore,
  partition: ignore,
  heal: ignore,
  suspect: ignore,
  unsuspect: ignore,
};
