/**
 * The relay of relay.ts in any generation and in two families side by side,
 * for lifetime fuzzing: "relay-a@k" and "relay-b@k" run the same protocol
 * (a token hops to the next neighbour after its sender while its budget
 * lasts) and read each other's messages, so an update of the system is two
 * updates at once, one per family. Every message carries its generation; a
 * node counts (never executes) a message of another generation, so a mix-up
 * is visible in the final states, not only to the checker.
 */
import { defineBehavior, type Behavior } from "../core/behavior.js";
import type { NodeId } from "../core/ids.js";
import { defineUpdate, type Update } from "../core/update.js";

export const RELAY_FAMILIES = ["a", "b"] as const;

export interface RelayGenState {
  readonly gen: number;
  readonly received: number;
  /** Messages of another generation that reached this node (each one a mix-up), at most a few kept. */
  readonly mixups: readonly string[];
}

export type RelayGenMessage = { readonly g: number; readonly token: string; readonly hops: number };

export type RelayGenRequest = { readonly kind: "send"; readonly token: string; readonly hops: number } | { readonly kind: "count" };

const MIXUPS_KEPT = 5;

function relayGeneration(family: string, k: number): Behavior<RelayGenState, RelayGenMessage, RelayGenRequest, number | string> {
  return defineBehavior<RelayGenState, RelayGenMessage, RelayGenRequest, number | string>({
    version: `relay-${family}@${k}`,
    init: () => ({ gen: k, received: 0, mixups: [] }),
    receive(s, msg, from, ctx) {
      if (msg?.g !== k || s.gen !== k) {
        const what = `relay-${family}@${k} (state of generation ${s.gen}) got ${JSON.stringify(msg)} from "${from}"`;
        return { ...s, mixups: [...s.mixups, what].slice(0, MIXUPS_KEPT) };
      }
      const ns = ctx.neighbors();
      if (msg.hops > 0 && ns.length > 0) ctx.send(ns[(ns.indexOf(from) + 1) % ns.length] as NodeId, { g: k, token: msg.token, hops: msg.hops - 1 });
      return { ...s, received: s.received + 1 };
    },
    request(s, req, id, ctx) {
      if (req.kind === "count") {
        ctx.respond(id, s.received);
        return s;
      }
      for (const to of ctx.neighbors()) ctx.send(to, { g: k, token: req.token, hops: req.hops });
      ctx.respond(id, "sent");
      return s;
    },
  });
}

const cache = new Map<string, Behavior>();

/** Family f's relay of generation k, the same object on every call. */
export function relayAt(family: string, k: number): Behavior {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`relay generation must be a whole number >= 1, got ${k}`);
  const id = `${family}@${k}`;
  let b = cache.get(id);
  if (b === undefined) {
    b = relayGeneration(family, k);
    cache.set(id, b);
  }
  return b;
}

/** Family f's update k -> j (any j != k): the state and every message in flight take generation j; one of another generation is kept unreadable. */
export function relayGenerationUpdate(family: string, from: number, to: number): Update {
  return defineUpdate<RelayGenState, RelayGenMessage, RelayGenState, RelayGenMessage>({
    from: relayAt(family, from) as Behavior<RelayGenState, RelayGenMessage>,
    to: relayAt(family, to) as Behavior<RelayGenState, RelayGenMessage>,
    state(old) {
      if (old.gen !== from) throw new Error(`relay-${family}@${from} -> @${to}: the state is of generation ${old.gen}`);
      return { ...old, gen: to };
    },
    message: (m) => [{ ...m, g: m.g === from ? to : -1 }],
  });
}
