import type { NodeId, RequestId } from "./ids.js";

/** What a handler can see and ask for. Sends, responses and timers are effects the runtime performs after the handler returns. */
export interface Context<M = unknown, R = unknown> {
  readonly self: NodeId;
  /** Virtual ms on the simulated network, wall ms over TCP. */
  readonly now: number;
  /** Current links, sorted. */
  neighbors(): readonly NodeId[];
  /** To a linked neighbor; throws a NotNeighborError otherwise. */
  send(to: NodeId, msg: M): void;
  /** Answer an outside request, in this event or a later one. */
  respond(id: RequestId, result: R): void;
  /** Later calls behavior.timer(state, tag, ctx). */
  setTimer(delayMs: number, tag: string): void;
}

/** One version of a node's program. State is an immutable value: handlers return the next state. */
// The contract fixes `any` as the defaults so that a Behavior<S, M> is assignable to the
// untyped `Behavior` the System stores; library code itself never relies on it.
export interface Behavior<S = any, M = any, Q = any, R = any> {
  /** e.g. "db@1"; unique per behavior. */
  readonly version: string;
  init(ctx: Context<M, R>): S;
  receive(state: S, msg: M, from: NodeId, ctx: Context<M, R>): S;
  request?(state: S, req: Q, id: RequestId, ctx: Context<M, R>): S;
  timer?(state: S, tag: string, ctx: Context<M, R>): S;
}

export function defineBehavior<S, M, Q = unknown, R = unknown>(b: Behavior<S, M, Q, R>): Behavior<S, M, Q, R> {
  if (typeof b.version !== "string" || b.version.length === 0) {
    throw new TypeError("defineBehavior: `version` must be a non-empty string such as \"db@1\"");
  }
  if (typeof b.init !== "function" || typeof b.receive !== "function") {
    throw new TypeError(`defineBehavior(${b.version}): \`init\` and \`receive\` must be functions`);
  }
  return b;
}

/** Each behavior object's code, as text, computed once per object. */
const codeOf = new WeakMap<Behavior, string>();

/** A behavior's code: its handlers' source, the content its identity is judged by. */
export function behaviorCode(b: Behavior): string {
  let text = codeOf.get(b);
  if (text === undefined) {
    text = [b.init, b.receive, b.request, b.timer].map((f) => (typeof f === "function" ? f.toString() : "-")).join("\u0000");
    codeOf.set(b, text);
  }
  return text;
}

/**
 * One behavior, judged by its code: the same object, or one with the same handlers' source (a factory such as
 * `databaseV1(10)` makes a new object per call with the same code; a package loaded twice makes new objects of the
 * same code). Two objects whose handlers differ under one version are two behaviors. What a factory's arguments
 * change inside the same source cannot be seen: a limit.
 */
export function sameBehaviorCode(a: Behavior, b: Behavior): boolean {
  return a === b || behaviorCode(a) === behaviorCode(b);
}
