import { InvalidTraceError } from "../core/errors.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { NodeId } from "../core/ids.js";
import { type CheckerState, type MessageRecord, type UpdateRecord, describeUpdate, newCheckerState, quoteList, startedBeforeHorizon, stillOld, violate } from "./checker-state.js";
import { EVENT_HANDLERS } from "./event-handlers.js";
import type { CheckReport } from "./violation.js";

export type { CheckReport, Invariant, Violation } from "./violation.js";

export interface CheckOptions {
  /**
   * The run is over: nothing more will happen. Then a message still unexecuted
   * breaks awareness and an update still running breaks termination. A trace
   * taken mid-run is checked with `complete: false`, where both are only pending.
   */
  readonly complete?: boolean;
  /**
   * The trace starts mid-run: its oldest part was dropped (trace retention), and it begins at a horizon from which
   * every node's part is complete (ClusterClient.traceFromHorizon). What began before the horizon cannot be judged
   * and is counted in the report's `beforeHorizon` instead: a message ended whose send is not in the trace, an
   * update whose start is not, a delivery at a node whose epoch the trace has not shown yet. A node's epoch is
   * derived from the trace as always once a create, restart or swap shows it; before that, its first send's epoch
   * (the runtime's word, the only witness left of what came before) stands for it.
   */
  readonly horizon?: boolean;
}

/**
 * The paper's three invariants (section 3), judged from the trace alone: epochs
 * of nodes and of messages are derived from create / swap / send / transform
 * events, never taken from the runtime's word.
 */
export function checkTrace(trace: readonly TraceEvent[], options: CheckOptions = {}): CheckReport {
  const s = newCheckerState(options.horizon === true);
  for (const ev of trace) {
    s.lastT = ev.t;
    handle(s, ev);
  }
  if (options.complete === true) {
    const halted = haltedNodes(s);
    const waiting = judgeUnfinishedMessages(s, halted);
    judgeUnfinishedUpdates(s, waiting);
    judgeDownNodes(s, waiting.get(DOWN) ?? 0);
  }
  const violations = s.violations;
  violations.sort((a, b) => a.at - b.at);
  if (s.beforeHorizon !== undefined) s.beforeHorizon.updates = [...s.updates.values()].filter((u) => startedBeforeHorizon(s, u)).length;
  return { ok: violations.length === 0, violations, ...(s.beforeHorizon !== undefined ? { beforeHorizon: s.beforeHorizon } : {}) };
}

function handle(s: CheckerState, ev: TraceEvent): void {
  // Own properties only: a trace read from a file may name any kind, "toString" included.
  if (!Object.hasOwn(EVENT_HANDLERS, ev.kind)) throw new InvalidTraceError(`checker: unknown trace event ${JSON.stringify(ev)}`);
  // The table's mapped type pairs each kind with its handler; TypeScript cannot follow that through a union, hence the widening.
  const handler = EVENT_HANDLERS[ev.kind] as (s: CheckerState, ev: TraceEvent) => void;
  handler(s, ev);
}

/** The nodes still old in an update that halted and was never completed: flows across its epoch boundary wait for them. */
function haltedNodes(s: CheckerState): Map<NodeId, UpdateRecord> {
  const out = new Map<NodeId, UpdateRecord>();
  for (const u of s.updates.values()) if (u.ending === "halted") for (const n of stillOld(u)) out.set(n, u);
  return out;
}

/**
 * The run is over: every message must have ended in a way the invariants accept. A message that waits for a
 * halted update (held or buffered, or crossing the epoch boundary, to or from a node it left old) is that
 * update's termination violation, not an awareness one: it is counted there. Returns those counts by update id.
 */
function judgeUnfinishedMessages(s: CheckerState, halted: ReadonlyMap<NodeId, UpdateRecord>): Map<number, number> {
  const waiting = new Map<number, number>();
  for (const [id, m] of s.messages) {
    const what = `message ${id} from "${m.from}" to "${m.to}"`;
    if (m.droppedAsOrphan && !m.sendUndone && m.endForgotten !== true) {
      violate(s, "awareness", `${what} was dropped as an orphan but "${m.from}" never undid its send`, s.lastT);
    } else if (m.sendUndone && m.status !== "dropped" && m.endForgotten !== true) {
      violate(s, "awareness", `${what}: its send was undone but its execution was not (${m.status})`, s.lastT);
    } else if (m.status === "pending") {
      if (m.senderForgotten === true) continue; // perhaps never left its sender, lost for good with it
      if (m.lostWithWaiter === true) continue; // held or buffered by a node lost for good: gone with its state
      if (s.down.has(m.to) || s.down.has(m.from)) {
        // Kept by its sender's durable outbox for a crashed receiver, or sent and committed by a node that crashed
        // since: it waits for the restart (termination), it is not lost.
        waiting.set(DOWN, (waiting.get(DOWN) ?? 0) + 1);
        continue;
      }
      const u = haltedOn(s, m, halted);
      if (u !== undefined) waiting.set(u.id, (waiting.get(u.id) ?? 0) + 1);
      else violate(s, "awareness", `${what} (epoch ${m.epoch}, sent at ${m.sentAt}) was never executed nor replaced`, s.lastT);
    }
  }
  return waiting;
}

/** The key under which messages waiting for a crashed node are counted. */
const DOWN = -1;

/** Termination holds once every crashed node is back: one still down at the end of a finished run breaks it. */
function judgeDownNodes(s: CheckerState, waitingMessages: number): void {
  if (s.down.size === 0) return;
  const wait = waitingMessages > 0 ? `; ${waitingMessages} message(s) wait for them` : "";
  const crashed = [...s.down].filter((n) => !s.moving.has(n)).sort();
  const moving = [...s.moving.keys()].sort();
  const what = [
    ...(crashed.length > 0 ? [`node(s) ${quoteList(crashed)} crashed and never restarted`] : []),
    ...(moving.length > 0 ? [`node(s) ${quoteList(moving)} started a move and never arrived`] : []),
  ];
  violate(s, "termination", `${what.join("; ")}${wait}`, s.lastT);
}

/** The last update that halted and never completed, if any. */
function lastHalted(s: CheckerState): UpdateRecord | undefined {
  let out: UpdateRecord | undefined;
  for (const u of s.updates.values()) if (u.ending === "halted") out = u;
  return out;
}

/** The halted update a pending message waits for, if any. */
function haltedOn(s: CheckerState, m: MessageRecord, halted: ReadonlyMap<NodeId, UpdateRecord>): UpdateRecord | undefined {
  if (halted.size === 0 && !m.waiting) return undefined;
  // Held or buffered behind a mapping that threw, a message waits for the halted update even between two new nodes.
  const u = halted.get(m.to) ?? halted.get(m.from) ?? (m.waiting ? lastHalted(s) : undefined);
  if (u === undefined) return undefined;
  return m.waiting || m.epoch !== (s.nodeEpoch.get(m.to) ?? 0) ? u : undefined;
}

/**
 * Completed and failed updates were judged at their end. Still open now: one that never ended (traced start or
 * not), one halted and never completed, one aborted after a node turned new, one left in prepare.
 */
function judgeUnfinishedUpdates(s: CheckerState, waiting: ReadonlyMap<number, number>): void {
  for (const u of s.updates.values()) {
    if (startedBeforeHorizon(s, u)) continue;
    const why = unfinished(u, waiting.get(u.id) ?? 0);
    if (why !== undefined) violate(s, "termination", `${describeUpdate(u)} ${why}`, s.lastT);
  }
}

/** Why `u` breaks termination at the end of the run, or undefined when it does not. */
function unfinished(u: UpdateRecord, waitingMessages: number): string | undefined {
  const old = stillOld(u);
  const oldText = old.length > 0 ? `; node(s) ${quoteList(old)} still old` : "";
  switch (u.ending) {
    case "completed":
    case "failed":
      return undefined;
    case "aborted":
      return u.turnedNew.size === 0 ? undefined : `was aborted after node(s) ${quoteList([...u.turnedNew].sort())} turned new${oldText}`;
    case "halted": {
      const wait = waitingMessages > 0 ? `; ${waitingMessages} message(s) wait for it` : "";
      return `halted${u.haltDetail ? ` (${u.haltDetail})` : ""} and was never resumed to completion${oldText}${wait}`;
    }
    case undefined:
      return u.ran ? `never ended${oldText}` : `was prepared but never started nor aborted`;
  }
}
