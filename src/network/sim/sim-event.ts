import type { Envelope } from "../../core/envelope.js";
import type { NodeId, RequestId } from "../../core/ids.js";

/** Something the simulated network will make happen at a virtual time. `seq` orders equal times by creation. */
export type SimEvent =
  | { readonly kind: "deliver"; readonly time: number; readonly seq: number; readonly env: Envelope }
  | { readonly kind: "timer"; readonly time: number; readonly seq: number; readonly node: NodeId; readonly tag: string; readonly incarnation: number; readonly timer: number }
  | { readonly kind: "request"; readonly time: number; readonly seq: number; readonly node: NodeId; readonly request: RequestId; readonly body: unknown }
  /** A runtime-internal deadline (a request's timeout): never application work. */
  | { readonly kind: "deadline"; readonly time: number; readonly seq: number; readonly label: string; readonly run: () => void };

const noop = (): void => undefined;

/**
 * Every event is built with the same fields in the same order, whatever its
 * kind, so that the event queue only ever sees one object shape (the heap's
 * comparisons stay monomorphic, which is most of its speed).
 */
export function makeEvent(
  kind: SimEvent["kind"],
  time: number,
  seq: number,
  env: Envelope | undefined,
  node: NodeId,
  tag: string,
  incarnation: number,
  request: RequestId,
  body: unknown,
  label: string,
  run: () => void,
  timer = 0,
): SimEvent {
  return { kind, time, seq, env, node, tag, incarnation, request, body, label, run, timer } as unknown as SimEvent;
}

export const deliverEvent = (time: number, seq: number, env: Envelope): SimEvent => makeEvent("deliver", time, seq, env, "", "", 0, "", undefined, "", noop);
export const timerEvent = (time: number, seq: number, node: NodeId, tag: string, incarnation: number, timer: number): SimEvent =>
  makeEvent("timer", time, seq, undefined, node, tag, incarnation, "", undefined, "", noop, timer);
export const requestEvent = (time: number, seq: number, node: NodeId, request: RequestId, body: unknown): SimEvent =>
  makeEvent("request", time, seq, undefined, node, "", 0, request, body, "", noop);
export const deadlineEvent = (time: number, seq: number, label: string, run: () => void): SimEvent =>
  makeEvent("deadline", time, seq, undefined, "", "", 0, "", undefined, label, run);

/** The FIFO lane an event belongs to: only the oldest pending event of a lane may happen next. */
export function laneOf(ev: SimEvent): string | undefined {
  switch (ev.kind) {
    case "deliver":
      return `${ev.env.from}>${ev.env.to}`;
    case "request":
      return `request>${ev.node}`;
    case "timer":
    case "deadline":
      return undefined;
  }
}

/** One line a person can read in a scripted test's failure message. */
export function describeEvent(ev: SimEvent): string {
  switch (ev.kind) {
    case "deliver":
      return ev.env.kind === "app"
        ? `#${ev.seq} deliver ${ev.env.id} ${ev.env.from}->${ev.env.to} @${ev.time}`
        : `#${ev.seq} control ${ev.env.msg.kind} ${ev.env.from}->${ev.env.to} @${ev.time}`;
    case "timer":
      return `#${ev.seq} timer ${ev.node}:${ev.tag} @${ev.time}`;
    case "request":
      return `#${ev.seq} request ${ev.request} at ${ev.node} @${ev.time}`;
    case "deadline":
      return `#${ev.seq} deadline ${ev.label} @${ev.time}`;
  }
}
