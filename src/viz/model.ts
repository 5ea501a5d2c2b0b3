/**
 * The space-time diagram's model: what the trace says happened, reduced to
 * things with a place on the page (node lines, message flights, spans on a
 * line, marks). Pure data, built in one pass over the trace; `space-time.ts`
 * draws it.
 */
import type { Violation } from "../check/checker.js";
import type { DropReason, TraceEvent } from "../core/trace/trace-event.js";

/** The update coordinator's endpoint; it is never a node of the trace. */
export const CONTROL_LANE = "@control";

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

const s = (x: unknown): string => (typeof x === "string" ? x : String(x));
const num = (x: unknown, fallback = 0): number => (typeof x === "number" && Number.isFinite(x) ? x : fallback);

/** Node names sorted as people count: r2 before r10. */
export function compareNodeIds(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true }) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Messages held (or buffered) together share one span on a line: a message
 * joins the open span of its line and direction, the span closes when its last
 * message leaves (released, delivered, dropped).
 */
class SpanTracker {
  private readonly of = new Map<string, SpanModel>();
  private readonly current = new Map<string, SpanModel>();
  private readonly members = new Map<SpanModel, number>();

  constructor(
    private readonly kind: SpanModel["kind"],
    private readonly spans: SpanModel[],
  ) {}

  join(id: string, node: string, peer: string, t: number): void {
    if (this.of.has(id)) return;
    const key = JSON.stringify([node, peer]);
    let sp = this.current.get(key);
    if (sp === undefined) {
      sp = { kind: this.kind, node, peer, from: t, to: t, open: true, messages: [] };
      this.spans.push(sp);
      this.current.set(key, sp);
      this.members.set(sp, 0);
    }
    sp.messages.push(id);
    this.of.set(id, sp);
    this.members.set(sp, (this.members.get(sp) ?? 0) + 1);
  }

  leave(id: string, t: number): void {
    const sp = this.of.get(id);
    if (sp === undefined) return;
    this.of.delete(id);
    this.shrink(sp, t);
  }

  /** A transform passes its message's place in the span on to the new-equivalents. */
  pass(id: string, into: readonly string[], t: number): void {
    const sp = this.of.get(id);
    if (sp === undefined) return;
    this.of.delete(id);
    for (const x of into) {
      if (this.of.has(x)) continue;
      this.of.set(x, sp);
      this.members.set(sp, (this.members.get(sp) ?? 0) + 1);
    }
    this.shrink(sp, t);
  }

  private shrink(sp: SpanModel, t: number): void {
    const left = (this.members.get(sp) ?? 1) - 1;
    this.members.set(sp, left);
    if (t > sp.to) sp.to = t;
    if (left > 0) return;
    sp.open = false;
    this.members.delete(sp);
    const key = JSON.stringify([sp.node, sp.peer]);
    if (this.current.get(key) === sp) this.current.delete(key);
  }
}

export function buildModel(trace: readonly TraceEvent[], options: ModelOptions = {}): SpaceTimeModel {
  const maxEvents = Math.max(0, Math.floor(options.maxEvents ?? DEFAULT_MAX_EVENTS));
  const controlPlane = options.controlPlane ?? false;
  const events = trace.length > maxEvents ? trace.slice(0, maxEvents) : trace;

  let tStart = Number.POSITIVE_INFINITY;
  let tEnd = Number.NEGATIVE_INFINITY;
  for (const ev of events) {
    const t = num(ev.t, Number.NaN);
    if (Number.isNaN(t)) continue;
    if (t < tStart) tStart = t;
    if (t > tEnd) tEnd = t;
  }
  if (!Number.isFinite(tStart)) {
    tStart = 0;
    tEnd = 0;
  }

  const nodes = new Map<string, NodeModel>();
  const node = (id: unknown, t: number, version = "?"): NodeModel => {
    const key = s(id);
    let n = nodes.get(key);
    if (n === undefined) {
      n = { id: key, from: t, to: undefined, version, swaps: [], violations: [] };
      nodes.set(key, n);
    }
    return n;
  };
  const lane = (id: unknown, t: number): void => {
    if (s(id) !== CONTROL_LANE) node(id, t);
  };

  const messages = new Map<string, MessageModel>();
  const message = (id: string, from: string, to: string, epoch: number, origin: MessageModel["origin"]): MessageModel => {
    const m: MessageModel = {
      id,
      from,
      to,
      epoch,
      origin,
      held: false,
      released: undefined,
      arrived: undefined,
      buffered: undefined,
      deliveries: [],
      transformed: undefined,
      dropped: undefined,
      executionUndone: false,
      sendUndone: false,
      violations: [],
    };
    messages.set(id, m);
    return m;
  };
  /** A message the trace uses without having created it (a trace cut short, or a broken one). */
  const known = (id: string, from: string, to: string, t: number, epoch: number): MessageModel =>
    messages.get(id) ?? message(id, from, to, epoch, { t, node: from, by: "unknown" });
  const arrive = (m: MessageModel, at: At): void => {
    if (m.arrived === undefined) m.arrived = at;
  };

  const controls: ControlModel[] = [];
  const controlQueues = new Map<string, ControlModel[]>();
  const controlKey = (from: string, to: string, signal: string, plane: boolean, update: number, pulse: number | undefined): string =>
    JSON.stringify([from, to, signal, plane, update, pulse ?? null]);

  const spans: SpanModel[] = [];
  const held = new SpanTracker("held", spans);
  const buffered = new SpanTracker("buffered", spans);

  const rollbacks: RollbackModel[] = [];
  const lastRollback = new Map<string, RollbackModel>();
  const checkpoints = new Map<string, Map<number, number>>();
  const updates = new Map<number, UpdateModel>();
  const marks: MarkModel[] = [];

  for (const ev of events) {
    const t = num(ev.t);
    switch (ev.kind) {
      case "create": {
        const n = node(ev.node, t, s(ev.version));
        if (n.version === "?") n.version = s(ev.version);
        break;
      }
      case "destroy":
        node(ev.node, t).to = t;
        break;
      case "link":
      case "unlink":
        lane(ev.a, t);
        lane(ev.b, t);
        if (t > tStart || ev.kind === "unlink") marks.push({ kind: ev.kind, t, node: s(ev.a), peer: s(ev.b) });
        break;
      case "send": {
        lane(ev.node, t);
        lane(ev.to, t);
        const id = s(ev.msg);
        if (!messages.has(id)) message(id, s(ev.node), s(ev.to), num(ev.epoch), { t, node: s(ev.node), by: "send" });
        break;
      }
      case "hold": {
        lane(ev.node, t);
        const id = s(ev.msg);
        const m = known(id, s(ev.node), s(ev.to), t, 0);
        m.held = true;
        held.join(id, s(ev.node), s(ev.to), t);
        break;
      }
      case "release": {
        lane(ev.node, t);
        const id = s(ev.msg);
        const m = known(id, s(ev.node), s(ev.to), t, 0);
        m.released = { t, node: s(ev.node) };
        held.leave(id, t);
        break;
      }
      case "buffer": {
        lane(ev.node, t);
        const id = s(ev.msg);
        const m = known(id, s(ev.from), s(ev.node), t, 0);
        m.buffered = { t, node: s(ev.node) };
        arrive(m, m.buffered);
        buffered.join(id, s(ev.node), s(ev.from), t);
        break;
      }
      case "deliver": {
        lane(ev.node, t);
        lane(ev.from, t);
        const id = s(ev.msg);
        const m = known(id, s(ev.from), s(ev.node), t, num(ev.epoch));
        const at = { t, node: s(ev.node) };
        m.deliveries.push(at);
        arrive(m, at);
        buffered.leave(id, t);
        break;
      }
      case "transform": {
        lane(ev.node, t);
        const id = s(ev.msg);
        const into = Array.isArray(ev.into) ? ev.into.map(s) : [];
        const m = known(id, s(ev.from), s(ev.to), t, 0);
        const at = { t, node: s(ev.node) };
        m.transformed = { ...at, into };
        // Replaced at the receiver: the message had come to it; at the sender (held) it never left.
        if (at.node === m.to && at.node !== m.from) arrive(m, at);
        for (const x of into) {
          if (!messages.has(x)) message(x, s(ev.from), s(ev.to), num(ev.epoch), { ...at, by: "transform", parent: id });
        }
        held.pass(id, into, t);
        buffered.pass(id, into, t);
        marks.push({ kind: "transform", t, node: at.node, msg: id, detail: into.join(" ") });
        break;
      }
      case "drop": {
        lane(ev.node, t);
        const id = s(ev.msg);
        const m = known(id, s(ev.from), s(ev.node), t, 0);
        const at = { t, node: s(ev.node) };
        m.dropped = { ...at, reason: ev.reason };
        if (at.node !== m.from || m.released !== undefined || !m.held) arrive(m, at);
        held.leave(id, t);
        buffered.leave(id, t);
        marks.push({ kind: "drop", t, node: at.node, msg: id, detail: s(ev.reason) });
        break;
      }
      case "fault":
        lane(ev.node, t);
        marks.push({
          kind: "fault",
          t,
          node: s(ev.node),
          detail: `${s(ev.during)}: ${s(ev.error)}`,
          ...(ev.msg !== undefined ? { msg: s(ev.msg) } : {}),
        });
        break;
      case "swap": {
        const n = node(ev.node, t);
        n.swaps.push({ t, epoch: num(ev.epoch, n.swaps.length + 1), version: s(ev.to), update: num(ev.update) });
        break;
      }
      case "control-send": {
        const plane = ev.plane === true;
        if (plane && !controlPlane) break;
        lane(ev.node, t);
        lane(ev.to, t);
        const pulse = typeof ev.pulse === "number" ? ev.pulse : undefined;
        const c: ControlModel = { from: s(ev.node), to: s(ev.to), signal: s(ev.signal), plane, update: num(ev.update), pulse, sentAt: t, receivedAt: undefined };
        controls.push(c);
        const key = controlKey(c.from, c.to, c.signal, plane, c.update, pulse);
        const q = controlQueues.get(key);
        if (q === undefined) controlQueues.set(key, [c]);
        else q.push(c);
        break;
      }
      case "control-receive": {
        const plane = ev.plane === true;
        if (plane && !controlPlane) break;
        const pulse = typeof ev.pulse === "number" ? ev.pulse : undefined;
        const q = controlQueues.get(controlKey(s(ev.from), s(ev.node), s(ev.signal), plane, num(ev.update), pulse));
        const c = q?.shift();
        if (c !== undefined) c.receivedAt = t;
        break;
      }
      case "checkpoint": {
        let cps = checkpoints.get(s(ev.node));
        if (cps === undefined) checkpoints.set(s(ev.node), (cps = new Map()));
        if (!cps.has(num(ev.event))) cps.set(num(ev.event), t);
        marks.push({ kind: "checkpoint", t, node: s(ev.node), detail: String(ev.event) });
        break;
      }
      case "rollback": {
        lane(ev.node, t);
        const cps = checkpoints.get(s(ev.node));
        const toEvent = num(ev.to);
        // The checkpoint it went back to; before the first one the trace shows, the node's state when armed (no later than its first checkpoint).
        let toTime = cps?.get(toEvent);
        if (toTime === undefined && cps !== undefined) {
          let first: [number, number] | undefined;
          for (const e of cps) if (first === undefined || e[0] < first[0]) first = e;
          if (first !== undefined && toEvent < first[0]) toTime = first[1];
        }
        const receives = Array.isArray(ev.receives) ? ev.receives.map(s) : [];
        const sends = Array.isArray(ev.sends) ? ev.sends.map(s) : [];
        for (const id of receives) {
          const m = messages.get(id);
          if (m !== undefined) m.executionUndone = true;
        }
        for (const id of sends) {
          const m = messages.get(id);
          if (m !== undefined) m.sendUndone = true;
        }
        const r: RollbackModel = {
          t,
          node: s(ev.node),
          update: num(ev.update),
          toEvent,
          toTime,
          undone: num(ev.undone),
          receives: receives.length,
          sends: sends.length,
          replayed: 0,
        };
        rollbacks.push(r);
        lastRollback.set(r.node, r);
        break;
      }
      case "replay": {
        const r = lastRollback.get(s(ev.node));
        if (r !== undefined) r.replayed++;
        break;
      }
      case "update-start":
        updates.set(num(ev.update), { id: num(ev.update), t, strategy: s(ev.strategy), root: s(ev.root), end: undefined });
        break;
      case "update-end": {
        const u = updates.get(num(ev.update));
        if (u !== undefined) u.end = { t, outcome: s(ev.outcome), detail: ev.detail === undefined ? undefined : s(ev.detail) };
        break;
      }
      case "request":
      case "respond":
      case "timer":
      case "pulse":
        lane(ev.node, t);
        break;
      default:
        break;
    }
  }
  for (const sp of spans) {
    if (sp.open) sp.to = Math.max(sp.to, tEnd);
  }

  // The checker's violations name messages (unquoted ids) and nodes (quoted); link each to what it names.
  const violations = options.violations ?? [];
  violations.forEach((v, i) => {
    for (const raw of s(v.message).split(/\s+/)) {
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

  const ordered = [...nodes.values()].sort((a, b) => compareNodeIds(a.id, b.id));
  return {
    nodes: ordered,
    messages: [...messages.values()],
    controls,
    spans,
    rollbacks,
    updates: [...updates.values()],
    marks,
    violations,
    tStart,
    tEnd,
    eventsTotal: trace.length,
    eventsDrawn: events.length,
    controlPlane,
  };
}
