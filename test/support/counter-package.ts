/**
 * A node package for request tests over TCP: a counter whose `add` is not idempotent (each execution adds one) and
 * may answer late (`delayMs`), so that a test can cut a connection while the request runs and count executions.
 */
import type { Behavior } from "../../src/core/behavior.js";

export interface CounterState {
  readonly count: number;
}
export type CounterRequest = { readonly kind: "add"; readonly delayMs?: number } | { readonly kind: "get" };

export const counter: Behavior<CounterState, never, CounterRequest, unknown> = {
  version: "counter@1",
  init: () => ({ count: 0 }),
  receive: (s) => s,
  request(s, req, id, ctx) {
    if (req.kind === "get") {
      ctx.respond(id, s.count);
      return s;
    }
    const count = s.count + 1;
    // The answer is the count this execution made: a retry given the recorded answer sees the same number.
    if (req.delayMs === undefined) ctx.respond(id, { count });
    else ctx.setTimer(req.delayMs, JSON.stringify([id, count]));
    return { count };
  },
  timer(s, tag, ctx) {
    const [id, count] = JSON.parse(tag) as [string, number];
    ctx.respond(id, { count });
    return s;
  },
};

export const behaviors = { "counter-v1": counter };
