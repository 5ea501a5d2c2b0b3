/**
 * The TCP benchmark's node program: on a request "pump n" a node sends n
 * pings to its neighbour, which answers each with a pong; the request is
 * answered when every pong came back. With `window` w, at most w pings are
 * out at a time (a new one leaves as a pong comes back): window 1 is one
 * message in flight, a latency-bound round trip each; without it all n leave
 * at once (pipelined). Versions pump@1, pump@2, ... differ only in name, so a
 * chain of updates can be measured.
 */
import { defineBehavior, defineUpdate, type Behavior } from "../index.js";

export interface PumpState {
  readonly pongs: number;
  readonly want: number;
  readonly request: string | null;
  /** Pings sent for the request being served (absent in a state from before windows: all of them were sent). */
  readonly sent?: number;
}
export type PumpMessage = { readonly k: "ping" | "pong"; readonly i: number };
export type PumpRequest = { readonly kind: "pump"; readonly n: number; readonly window?: number };

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
      const sent = s.sent ?? s.want;
      if (sent < s.want) {
        ctx.send(from, { k: "ping", i: sent });
        return { ...s, pongs, sent: sent + 1 };
      }
      return { ...s, pongs };
    },
    request(s, req, id, ctx) {
      const to = ctx.neighbors()[0];
      if (to === undefined || req.n <= 0) {
        ctx.respond(id, 0);
        return s;
      }
      const first = Math.min(req.n, Math.max(1, req.window ?? req.n));
      for (let i = 0; i < first; i++) ctx.send(to, { k: "ping", i });
      return { pongs: 0, want: req.n, request: id, sent: first };
    },
  });
}

export const behaviors = { "pump-1": pumpAt(1) };

/** The update pump@k -> pump@k+1 (state kept, messages unchanged). */
export function pumpUpdate(k: number) {
  return defineUpdate({ from: pumpAt(k), to: pumpAt(k + 1), state: (s: PumpState) => s });
}
