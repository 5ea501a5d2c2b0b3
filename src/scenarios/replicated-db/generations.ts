/**
 * The replicated database's generations for lifetime fuzzing: db@k names its
 * keys "user:17" when k is odd and "user/0017" when k is even, so every update
 * between generations of different parity converts every key, in the
 * replicas and in every query in flight; one that leaks a query across
 * reads null (a global read) or counts an unknown write. Updates between two
 * generations of one parity keep the keys (the checker still judges them).
 */
import type { Behavior } from "../../core/behavior.js";
import { defineUpdate, type Update } from "../../core/update.js";
import { databaseVersion, keyV1, keyV2, type DbMessage, type DbState, type Entry } from "./db.js";

const cache = new Map<string, Behavior<DbState, DbMessage>>();

const keyOfGeneration = (k: number): ((entry: number) => string) => (k % 2 === 1 ? keyV1 : keyV2);

/** The database of generation k with `entries` entries, the same object on every call. */
export function databaseAt(k: number, entries: number): Behavior<DbState, DbMessage> {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`db generation must be a whole number >= 1, got ${k}`);
  const id = `${entries}/${k}`;
  let b = cache.get(id);
  if (b === undefined) {
    b = databaseVersion(`db@${k}`, keyOfGeneration(k), entries);
    cache.set(id, b);
  }
  return b;
}

/** Any key of either format as generation k writes it; anything else is left alone (and will not match). */
export function keyForGeneration(key: string, k: number): string {
  const m = /^user[:/](\d+)$/.exec(key);
  return m ? keyOfGeneration(k)(Number(m[1])) : key;
}

/** db@k -> db@j, forward or back: every key in the replica and in every write or read in flight is rewritten. */
export function databaseUpdate(from: number, to: number, entries: number): Update {
  return defineUpdate<DbState, DbMessage, DbState, DbMessage>({
    from: databaseAt(from, entries),
    to: databaseAt(to, entries),
    state(old) {
      const converted: Record<string, Entry> = {};
      for (const [key, entry] of Object.entries(old.entries)) converted[keyForGeneration(key, to)] = entry;
      return { ...old, entries: converted };
    },
    message(old) {
      return old.type === "echo" ? [old] : [{ ...old, key: keyForGeneration(old.key, to) }];
    },
  });
}
