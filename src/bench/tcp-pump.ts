/**
 * The TCP benchmark's node program: on a request "pump n" a node sends n
 * pings to its neighbour, which answers each with a pong; the request is
 * answered when every pong came back. Versions pump@1, pump@2, ... differ only
 * in name, so a chain of updates can be measured.
 */
import { defineBehavior, defineUpdate, type Behavior } from "../index.js";

export interface PumpState {
  readonly pongs: number;
  readonly want: number;
  readonly request: string | null;
}
export type PumpMessage = { readonly k: "ping" | "pong"; readonly i: number };
export type PumpRequest = { readonly kind: "pump"; readonly n: number };

export function pumpAt(version: number): Behavior<PumpState, PumpMessage, PumpRequest, number> {
  return defineBehavior<PumpState, PumpMessage, PumpRequest, number>({
    version: `pump@${version}`,
    init: () => ({ pongs: 0, want: 0, request: null }),
    receive(s, m, from, ctx) {
      if (m.k === "ping") {
        ctx.send(from, { k: "pong", i: m.i });
        return s;
      }
      const pongs = s.pongs + 1;
      if (pongs === s.want && s.request !== null) {
        ctx.respond(s.request, pongs);
        return { pongs: 0, want: 0, request: null };
      }
      return { ...s, pongs };
    },
    request(s, req, id, ctx) {
      const to = ctx.neighbors()[0];
      if (to === undefined || req.n <= 0) {
        ctx.respond(id, 0);
        return s;
      }
      for (let i = 0; i < req.n; i++) ctx.send(to, { k: "ping", i });
      return { pongs: 0, want: req.n, request: id };
    },
  });
}

export const behaviors = { "pump-1": pumpAt(1) };

/** The update pump@k -> pump@k+1 (state kept, messages unchanged). */
export function pumpUpdate(k: number) {
  return defineUpdate({ from: pumpAt(k), to: pumpAt(k + 1), state: (s: PumpState) => s });
}
