import type { ControlModel, MessageModel, At, MarkModel, NodeModel, RollbackModel, SpanModel, UpdateModel } from "./model-types.js";
import { SpanTracker } from "./span-tracker.js";

/** The update coordinator's endpoint; it is never a node of the trace. */
export const CONTROL_LANE = "@control";

/** What buildModel knows after the events it has read. */
export interface ModelState {
  readonly controlPlane: boolean;
  /** The first instant drawn: a link before it is the initial configuration, not a change worth a mark. */
  readonly tStart: number;
  readonly nodes: Map<string, NodeModel>;
  readonly messages: Map<string, MessageModel>;
  readonly controls: ControlModel[];
  /** Control messages sent and not yet received, per (from, to, signal, plane, update, pulse): FIFO like their channels. */
  readonly controlQueues: Map<string, ControlModel[]>;
  readonly spans: SpanModel[];
  readonly held: SpanTracker;
  readonly buffered: SpanTracker;
  readonly rollbacks: RollbackModel[];
  readonly lastRollback: Map<string, RollbackModel>;
  /** Per node: its event number -> the time of the checkpoint taken after it. */
  readonly checkpoints: Map<string, Map<number, number>>;
  readonly updates: Map<number, UpdateModel>;
  readonly marks: MarkModel[];
}

export function newModelState(tStart: number, controlPlane: boolean): ModelState {
  const spans: SpanModel[] = [];
  return {
    controlPlane,
    tStart,
    nodes: new Map(),
    messages: new Map(),
    controls: [],
    controlQueues: new Map(),
    spans,
    held: new SpanTracker("held", spans),
    buffered: new SpanTracker("buffered", spans),
    rollbacks: [],
    lastRollback: new Map(),
    checkpoints: new Map(),
    updates: new Map(),
    marks: [],
  };
}

// A trace may come from a file someone edited: every field is read defensively.
export const str = (x: unknown): string => (typeof x === "string" ? x : String(x));
export const num = (x: unknown, fallback = 0): number => (typeof x === "number" && Number.isFinite(x) ? x : fallback);

export function ensureNode(st: ModelState, id: unknown, t: number, version = "?"): NodeModel {
  const key = str(id);
  let n = st.nodes.get(key);
  if (n === undefined) {
    n = { id: key, from: t, to: undefined, version, swaps: [], violations: [] };
    st.nodes.set(key, n);
  }
  return n;
}

/** A node gets a lane when an event mentions it; the coordinator only when its lane is asked for (drawn separately). */
export function lane(st: ModelState, id: unknown, t: number): void {
  if (str(id) !== CONTROL_LANE) ensureNode(st, id, t);
}

export function addMessage(st: ModelState, id: string, from: string, to: string, epoch: number, origin: MessageModel["origin"]): MessageModel {
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
  st.messages.set(id, m);
  return m;
}

/** A message the trace uses without having created it (a trace cut short, or a broken one) gets an unknown origin. */
export function knownMessage(st: ModelState, id: string, from: string, to: string, t: number, epoch: number): MessageModel {
  return st.messages.get(id) ?? addMessage(st, id, from, to, epoch, { t, node: from, by: "unknown" });
}

export function arrive(m: MessageModel, at: At): void {
  if (m.arrived === undefined) m.arrived = at;
}

export function controlKey(from: string, to: string, signal: string, plane: boolean, update: number, pulse: number | undefined): string {
  return JSON.stringify([from, to, signal, plane, update, pulse ?? null]);
}
