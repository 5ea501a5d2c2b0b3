/**
 * The space-time diagram's model: what the trace says happened, reduced to
 * things with a place on the page (node lines, message flights, spans on a
 * line, marks). Pure data, built in one pass over the trace; `space-time.ts`
 * draws it.
 */
import type { Violation } from "../check/checker.js";
import type { DropReason, TraceEvent } from "../core/trace/trace-event.js";
import { addEvent } from "./model-events.js";
import { newModelState, num, str } from "./model-state.js";

export { CONTROL_LANE } from "./model-state.js";

/** A point of the diagram: a virtual instant on one node's line. */
export type { At, NodeModel, MessageModel, ControlModel, SpanModel, RollbackModel, UpdateModel, MarkModel, SpaceTimeModel, ModelOptions } from "./model-types.js";
import type { At, NodeModel, MessageModel, ControlModel, SpanModel, RollbackModel, UpdateModel, MarkModel, SpaceTimeModel, ModelOptions } from "./model-types.js";

export const DEFAULT_MAX_EVENTS = 50_000;

/** Node names sorted as people count: r2 before r10. */
export function compareNodeIds(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true }) || (a < b ? -1 : a > b ? 1 : 0);
}

/** The first and last instants of the drawn events (0..0 when none has a time). */
function timeRange(events: readonly TraceEvent[]): { tStart: number; tEnd: number } {
  let tStart = Number.POSITIVE_INFINITY;
  let tEnd = Number.NEGATIVE_INFINITY;
  for (const ev of events) {
    const t = num(ev.t, Number.NaN);
    if (Number.isNaN(t)) continue;
    if (t < tStart) tStart = t;
    if (t > tEnd) tEnd = t;
  }
  return Number.isFinite(tStart) ? { tStart, tEnd } : { tStart: 0, tEnd: 0 };
}

/** The checker's violations name messages (unquoted ids) and nodes (quoted); link each to what it names. */
function linkViolations(violations: readonly Violation[], nodes: ReadonlyMap<string, NodeModel>, messages: ReadonlyMap<string, MessageModel>): void {
  violations.forEach((v, i) => {
    for (const raw of str(v.message).split(/\s+/)) {
      if (raw === "") continue;
      const quoted = raw.startsWith('"');
      const token = raw.replace(/^[("]+/, "").replace(/[)",;:.]+$/, "");
      if (quoted) {
        if (v.invariant === "termination") {
          const n = nodes.get(token);
          if (n !== undefined && !n.violations.includes(i + 1)) n.violations.push(i + 1);
        }
        continue;
      }
      const m = messages.get(token) ?? messages.get(raw.replace(/^[(]+/, "").replace(/[),;:]+$/, ""));
      if (m !== undefined && !m.violations.includes(i + 1)) m.violations.push(i + 1);
    }
  });
}

/** The model of the first `maxEvents` events: one pass over them, then the spans still open reach the end. */
export function buildModel(trace: readonly TraceEvent[], options: ModelOptions = {}): SpaceTimeModel {
  const maxEvents = Math.max(0, Math.floor(options.maxEvents ?? DEFAULT_MAX_EVENTS));
  const controlPlane = options.controlPlane ?? false;
  const events = trace.length > maxEvents ? trace.slice(0, maxEvents) : trace;
  const { tStart, tEnd } = timeRange(events);
  const st = newModelState(tStart, controlPlane);
  for (const ev of events) addEvent(st, ev);
  for (const sp of st.spans) {
    if (sp.open) sp.to = Math.max(sp.to, tEnd);
  }
  for (const n of st.nodes.values()) {
    const v = options.versionsAtEnd?.[n.id];
    if (n.version === "?" && n.swaps.length === 0 && v !== undefined) n.version = v;
  }
  const violations = options.violations ?? [];
  linkViolations(violations, st.nodes, st.messages);
  return {
    nodes: [...st.nodes.values()].sort((a, b) => compareNodeIds(a.id, b.id)),
    messages: [...st.messages.values()],
    controls: st.controls,
    spans: st.spans,
    rollbacks: st.rollbacks,
    updates: [...st.updates.values()],
    marks: st.marks,
    violations,
    tStart,
    tEnd,
    eventsTotal: trace.length,
    eventsDrawn: events.length,
    controlPlane,
  };
}
