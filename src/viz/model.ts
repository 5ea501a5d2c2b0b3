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
export interface At {
  readonly t: number;
  readonly node: string;
}

export interface NodeModel {
  readonly id: string;
  /** Creation (or first mention when the trace has no create event for it). */
  readonly from: number;
  /** Destroy time, if destroyed. */
  to: number | undefined;
  /** The version it was created with. */
  version: string;
  /** Each swap starts a segment in the swap's epoch (the first version, epoch 0, is the plain line). */
  readonly swaps: { readonly t: number; readonly epoch: number; readonly version: string; readonly update: number }[];
  /** Named in a termination violation. */
  violations: number[];
}

export interface MessageModel {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly epoch: number;
  /** Where the message came into existence: its send, or the transform that made it. */
  readonly origin: At & { readonly by: "send" | "transform" | "unknown"; readonly parent?: string };
  /** The sender held it (conservative): it is in no channel until released. */
  held: boolean;
  released: At | undefined;
  /** First time it was at the receiver: buffered, delivered, transformed or dropped there. */
  arrived: At | undefined;
  buffered: At | undefined;
  readonly deliveries: At[];
  transformed: (At & { readonly into: readonly string[] }) | undefined;
  dropped: (At & { readonly reason: DropReason }) | undefined;
  /** A rollback undid its execution at the receiver. */
  executionUndone: boolean;
  /** A rollback undid its send: an orphan. */
  sendUndone: boolean;
  /** Indices (1-based) of the violations naming it. */
  violations: number[];
}

export interface ControlModel {
  readonly from: string;
  readonly to: string;
  readonly signal: string;
  readonly plane: boolean;
  readonly update: number;
  readonly pulse: number | undefined;
  readonly sentAt: number;
  receivedAt: number | undefined;
}

/** Messages held by a sender toward one neighbour, or buffered by a receiver from one neighbour, over one interval. */
export interface SpanModel {
  readonly kind: "held" | "buffered";
  readonly node: string;
  /** The other end: the destination of held messages, the sender of buffered ones. */
  readonly peer: string;
  readonly from: number;
  to: number;
  /** The interval runs to the end of the drawn trace without closing. */
  open: boolean;
  readonly messages: string[];
}

export interface RollbackModel {
  readonly t: number;
  readonly node: string;
  readonly update: number;
  /** The node's event it went back to, and when that checkpoint was taken (if the trace shows it). */
  readonly toEvent: number;
  readonly toTime: number | undefined;
  readonly undone: number;
  readonly receives: number;
  readonly sends: number;
  replayed: number;
}

export interface UpdateModel {
  readonly id: number;
  readonly t: number;
  readonly strategy: string;
  readonly root: string;
  end: { readonly t: number; readonly outcome: string; readonly detail: string | undefined } | undefined;
}

export interface MarkModel {
  readonly kind: "transform" | "drop" | "fault" | "checkpoint" | "link" | "unlink";
  readonly t: number;
  readonly node: string;
  /** link / unlink: the other end. */
  readonly peer?: string;
  readonly msg?: string;
  readonly detail?: string;
}

export interface SpaceTimeModel {
  readonly nodes: NodeModel[];
  readonly messages: MessageModel[];
  readonly controls: ControlModel[];
  readonly spans: SpanModel[];
  readonly rollbacks: RollbackModel[];
  readonly updates: UpdateModel[];
  readonly marks: MarkModel[];
  readonly violations: readonly Violation[];
  readonly tStart: number;
  readonly tEnd: number;
  readonly eventsTotal: number;
  readonly eventsDrawn: number;
  /** The coordinator's lane is drawn (control-plane messages). */
  readonly controlPlane: boolean;
}

export interface ModelOptions {
  readonly violations?: readonly Violation[];
  /** Draw at most this many events, the first ones (default 50,000). */
  readonly maxEvents?: number;
  /** Give the coordinator "@control" a lane and draw control-plane messages (default false). */
  readonly controlPlane?: boolean;
}

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
