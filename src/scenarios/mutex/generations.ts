/**
 * The mutex's generations for lifetime fuzzing: mutex@1 is Lamport, mutex@2
 * Ricart-Agrawala (the paper's update between them, `mutexUpdate`), and
 * mutex@3, mutex@4, ... are Ricart-Agrawala again with the generation in every
 * message, so an update between any two of them (forward or a back-out) has a
 * real message mapping and a mix-up is refused by the receiver.
 *
 * Why not back to Lamport: Ricart-Agrawala keeps no record of the requests a
 * node granted, nor of when their owners left the CS (it has no release), so
 * no state transfer can rebuild the Lamport queue a node would need; a
 * back-out to mutex@1 would be unsafe by construction, not a runtime bug.
 */
import type { Behavior } from "../../core/behavior.js";
import { defineUpdate, type Update } from "../../core/update.js";
import { makeRicartAgrawala, mutexUpdate, mutexV1, mutexV2, type RaMessage, type RaState } from "./mutex.js";

const cache = new Map<number, Behavior>([
  [1, mutexV1],
  [2, mutexV2],
]);

/** The behavior of generation k, the same object on every call. */
export function mutexAt(k: number): Behavior {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`mutex generation must be a whole number >= 1, got ${k}`);
  let b = cache.get(k);
  if (b === undefined) {
    b = makeRicartAgrawala(`mutex@${k}`, k);
    cache.set(k, b);
  }
  return b;
}

/** The generation tag of generation k's messages: mutex@2 has none (its messages are as they always were). */
const tagOf = (k: number): number | undefined => (k === 2 ? undefined : k);

/** Ricart-Agrawala k -> j: the same protocol, so the same state; a message gets j's tag (one of another generation becomes unreadable). */
function raToRa(from: number, to: number): Update {
  const retag = (m: RaMessage): RaMessage => {
    const { g, ...rest } = m;
    if (g !== tagOf(from)) return { ...rest, g: -1 };
    const t = tagOf(to);
    return (t === undefined ? rest : { ...rest, g: t }) as RaMessage;
  };
  return defineUpdate<RaState, RaMessage, RaState, RaMessage>({
    from: mutexAt(from) as Behavior<RaState, RaMessage>,
    to: mutexAt(to) as Behavior<RaState, RaMessage>,
    state: (old) => old,
    message: (m) => [retag(m)],
  });
}

export const canUpdateMutex = (from: number, to: number): boolean => from !== to && to >= 2 && (from >= 2 || to === 2);

/** The update k -> j (see canUpdateMutex for which exist). */
export function mutexUpdateBetween(from: number, to: number): Update {
  if (!canUpdateMutex(from, to)) throw new RangeError(`no mutex update from generation ${from} to ${to}`);
  return from === 1 ? mutexUpdate : raToRa(from, to);
}
