import { InvalidTraceError } from "../core/errors.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { type CheckerState, newCheckerState, quoteList, violate } from "./checker-state.js";
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
}

/**
 * The paper's three invariants (section 3), judged from the trace alone: epochs
 * of nodes and of messages are derived from create / swap / send / transform
 * events, never taken from the runtime's word.
 */
export function checkTrace(trace: readonly TraceEvent[], options: CheckOptions = {}): CheckReport {
  const s = newCheckerState();
  for (const ev of trace) {
    s.lastT = ev.t;
    handle(s, ev);
  }
  if (options.complete === true) {
    judgeUnfinishedMessages(s);
    judgeUnfinishedUpdates(s);
  }
  const violations = s.violations;
  violations.sort((a, b) => a.at - b.at);
  return { ok: violations.length === 0, violations };
}

function handle(s: CheckerState, ev: TraceEvent): void {
  // Own properties only: a trace read from a file may name any kind, "toString" included.
  if (!Object.hasOwn(EVENT_HANDLERS, ev.kind)) throw new InvalidTraceError(`checker: unknown trace event ${JSON.stringify(ev)}`);
  // The table's mapped type pairs each kind with its handler; TypeScript cannot follow that through a union, hence the widening.
  const handler = EVENT_HANDLERS[ev.kind] as (s: CheckerState, ev: TraceEvent) => void;
  handler(s, ev);
}

/** The run is over: every message must have ended in a way the invariants accept. */
function judgeUnfinishedMessages(s: CheckerState): void {
  for (const [id, m] of s.messages) {
    const what = `message ${id} from "${m.from}" to "${m.to}"`;
    if (m.droppedAsOrphan && !m.sendUndone) {
      violate(s, "awareness", `${what} was dropped as an orphan but "${m.from}" never undid its send`, s.lastT);
    } else if (m.sendUndone && m.status !== "dropped") {
      violate(s, "awareness", `${what}: its send was undone but its execution was not (${m.status})`, s.lastT);
    } else if (m.status === "pending") {
      violate(s, "awareness", `${what} (epoch ${m.epoch}, sent at ${m.sentAt}) was never executed nor replaced`, s.lastT);
    }
  }
}

function judgeUnfinishedUpdates(s: CheckerState): void {
  for (const u of s.updates.values()) {
    if (u.ended) continue;
    const old = u.nodes.filter((n) => !u.turnedNew.has(n));
    violate(s, "termination", `update #${u.id} started at ${u.startedAt} never ended${old.length > 0 ? `; node(s) ${quoteList(old)} still old` : ""}`, s.lastT);
  }
}
