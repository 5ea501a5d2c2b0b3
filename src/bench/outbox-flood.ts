/**
 * The outbox benchmark's node program (and its e2e test's): a request "flood n" makes a node send n messages to each
 * of its neighbours and answers at once (it waits for nothing), so a frozen neighbour's messages pile up in the
 * sender's outbox; "count" answers how many messages a node received from each neighbour.
 */
import { defineBehavior } from "../index.js";

export interface FloodState {
  readonly received: Readonly<Record<string, number>>;
}
export type FloodMessage = { readonly i: number; readonly pad: string };
export type FloodRequest = { readonly kind: "flood"; readonly n: number; readonly pad?: number } | { readonly kind: "count" };

export const flood = defineBehavior<FloodState, FloodMessage, FloodRequest, unknown>({
  version: "flood@1",
  init: () => ({ received: {} }),
  receive(s, _m, from) {
    // Counted per sender: a test checks that every message sent to this node arrived, once.
    return { received: { ...s.received, [from]: (s.received[from] ?? 0) + 1 } };
  },
  request(s, req, id, ctx) {
    if (req.kind === "count") {
      ctx.respond(id, s.received);
      return s;
    }
    const pad = "x".repeat(req.pad ?? 0);
    for (const to of ctx.neighbors()) for (let i = 0; i < req.n; i++) ctx.send(to, { i, pad });
    ctx.respond(id, req.n);
    return s;
  },
});

export const behaviors = { "flood-1": flood };
