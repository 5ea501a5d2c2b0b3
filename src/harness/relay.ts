/**
 * Small behaviors for tests, the fuzzer and examples of the API: a relay that
 * forwards hop-limited tokens, in two versions whose messages differ in shape.
 */
import { defineBehavior } from "../core/behavior.js";
import { defineUpdate } from "../core/update.js";
import type { NodeId } from "../core/ids.js";

export interface RelayState {
  readonly received: number;
  readonly log: readonly string[];
}

export type RelayMessage = { readonly token: string; readonly hops: number };

/** A request asks the node to send a token with a hop budget to `to` (or to every neighbor). */
export type RelayRequest =
  | { readonly kind: "send"; readonly token: string; readonly hops: number; readonly to?: NodeId }
  /** Two messages in one event (hop budget 0), one to each listed neighbour (twice to the same one if listed twice). */
  | { readonly kind: "two"; readonly token: string; readonly to: readonly [NodeId, NodeId] }
  | { readonly kind: "count" }
  | { readonly kind: "timer"; readonly delay: number; readonly tag: string }
  | { readonly kind: "throw" };

/** v1: forwards a token to the next neighbor in sorted order after the sender while hops remain. */
export const relayV1 = defineBehavior<RelayState, RelayMessage, RelayRequest, number | string>({
  version: "relay@1",
  init: () => ({ received: 0, log: [] }),
  receive(s, msg, from, ctx) {
    if (msg.hops > 0) {
      const ns = ctx.neighbors();
      const next = ns[(ns.indexOf(from) + 1) % ns.length] as NodeId;
      ctx.send(next, { token: msg.token, hops: msg.hops - 1 });
    }
    return { received: s.received + 1, log: [...s.log, `${msg.token}<${from}`] };
  },
  request(s, req, id, ctx) {
    switch (req.kind) {
      case "send":
        for (const to of req.to !== undefined ? [req.to] : ctx.neighbors()) ctx.send(to, { token: req.token, hops: req.hops });
        ctx.respond(id, "sent");
        return s;
      case "two":
        req.to.forEach((to, k) => ctx.send(to, { token: `${req.token}${k}`, hops: 0 }));
        ctx.respond(id, "sent");
        return s;
      case "count":
        ctx.respond(id, s.received);
        return s;
      case "timer":
        ctx.setTimer(req.delay, req.tag);
        ctx.respond(id, "armed");
        return s;
      case "throw":
        throw new Error("asked to throw");
    }
  },
  timer(s, tag) {
    return { ...s, log: [...s.log, `timer:${tag}@1`] };
  },
});

export interface RelayStateV2 {
  readonly count: number;
  readonly history: readonly string[];
}
export type RelayMessageV2 = { readonly t: string; readonly ttl: number };

/** v2: the same protocol with renamed fields; it cannot read a v1 message (that is the point). */
export const relayV2 = defineBehavior<RelayStateV2, RelayMessageV2, RelayRequest, number | string>({
  version: "relay@2",
  init: () => ({ count: 0, history: [] }),
  receive(s, msg, from, ctx) {
    if (typeof msg.t !== "string") throw new TypeError(`relay@2 cannot read ${JSON.stringify(msg)}`);
    if (msg.ttl > 0) {
      const ns = ctx.neighbors();
      ctx.send(ns[(ns.indexOf(from) + 1) % ns.length] as NodeId, { t: msg.t, ttl: msg.ttl - 1 });
    }
    return { count: s.count + 1, history: [...s.history, `${msg.t}<${from}`] };
  },
  request(s, req, id, ctx) {
    switch (req.kind) {
      case "send":
        for (const to of req.to !== undefined ? [req.to] : ctx.neighbors()) ctx.send(to, { t: req.token, ttl: req.hops });
        ctx.respond(id, "sent");
        return s;
      case "two":
        req.to.forEach((to, k) => ctx.send(to, { t: `${req.token}${k}`, ttl: 0 }));
        ctx.respond(id, "sent");
        return s;
      case "count":
        ctx.respond(id, s.count);
        return s;
      case "timer":
        ctx.setTimer(req.delay, req.tag);
        ctx.respond(id, "armed");
        return s;
      case "throw":
        throw new Error("asked to throw");
    }
  },
  timer(s, tag) {
    return { ...s, history: [...s.history, `timer:${tag}@2`] };
  },
});

export const relayUpdate = defineUpdate<RelayState, RelayMessage, RelayStateV2, RelayMessageV2>({
  from: relayV1,
  to: relayV2,
  state: (old) => ({ count: old.received, history: old.log }),
  message: (old) => [{ t: old.token, ttl: old.hops }],
});
