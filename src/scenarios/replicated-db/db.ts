/**
 * The paper's experiment (section 6): replicated databases. Reads execute
 * locally, writes flood through immediate neighbors, and a global read gathers
 * every replica's answer for one key back to the node that started it.
 *
 * Version 2 changes the search key format, in the database and in every query
 * message ("user:17" becomes "user/0017"). If an old node and a new node ever
 * execute each other's queries, the key does not match and a global read
 * answers null for that replica: the inconsistency the paper's update must
 * prevent.
 */
import { defineBehavior, type Context } from "../../core/behavior.js";
import type { NodeId, RequestId } from "../../core/ids.js";
import { defineUpdate } from "../../core/update.js";
import { deletePendingRead, emptyPendingReads, getPendingRead, setPendingRead, type PendingRead, type PendingReads } from "./pending-reads.js";

export type { PendingRead, PendingReads } from "./pending-reads.js";

/** Last-writer-wins stamp: a write replaces an entry only if its stamp is newer, so replicas converge and floods stop. */
export interface Stamp {
  readonly clock: number;
  readonly origin: NodeId;
}

export interface Entry {
  readonly value: string;
  readonly stamp: Stamp;
}

export interface DbState {
  readonly entries: Readonly<Record<string, Entry>>;
  readonly clock: number;
  readonly reads: number;
  /** By read id; a persistent map in plain data (pending-reads.ts), so that a message costs the same however many are pending. */
  readonly pending: PendingReads;
  /** Recently finished global reads, to answer late duplicates on graphs with cycles (bounded). */
  readonly finished: readonly string[];
  /** Writes for a key this replica does not have (a symptom of old and new nodes mixing). */
  readonly unknownWrites: number;
}

export type DbMessage =
  | { readonly type: "write"; readonly key: string; readonly value: string; readonly stamp: Stamp }
  | { readonly type: "read"; readonly id: string; readonly key: string }
  | { readonly type: "echo"; readonly id: string; readonly results: Readonly<Record<NodeId, string | null>> };

/** Clients name entries by number; each version turns the number into its own key format. */
export type DbRequest =
  | { readonly kind: "read"; readonly entry: number }
  | { readonly kind: "write"; readonly entry: number; readonly value: string }
  | { readonly kind: "global-read"; readonly entry: number }
  /** What the replica counted: writes for a key it did not have (dropped), global reads it started, its entries. */
  | { readonly kind: "stats" };

/** The answer to `stats`. */
export interface DbStats {
  readonly unknownWrites: number;
  readonly reads: number;
  readonly entries: number;
}

export type DbResponse = string | null | "ok" | Readonly<Record<NodeId, string | null>> | DbStats;

export const DEFAULT_ENTRIES = 38;
const FINISHED_MEMORY = 256;

export const keyV1 = (entry: number): string => `user:${entry}`;
export const keyV2 = (entry: number): string => `user/${String(entry).padStart(4, "0")}`;

/** "user:17" -> "user/0017"; anything else is not a v1 key and is left alone. */
export function convertKey(v1Key: string): string {
  const m = /^user:(\d+)$/.exec(v1Key);
  return m ? keyV2(Number(m[1])) : v1Key;
}

function newer(a: Stamp, b: Stamp): boolean {
  return a.clock > b.clock || (a.clock === b.clock && a.origin > b.origin);
}

/** The database program, parameterised by its key format: the two versions differ only there. */
export function databaseVersion(version: string, keyOf: (entry: number) => string, entries: number) {
  const initialEntries = (): Record<string, Entry> => {
    const out: Record<string, Entry> = {};
    for (let i = 0; i < entries; i++) out[keyOf(i)] = { value: `v${i}`, stamp: { clock: 0, origin: "" } };
    return out;
  };

  const lookup = (s: DbState, key: string): string | null => s.entries[key]?.value ?? null;

  const finishRead = (s: DbState, id: string, p: PendingRead, ctx: Context<DbMessage, DbResponse>): DbState => {
    if (p.parent === null) {
      if (p.request !== null) ctx.respond(p.request, p.results);
    } else {
      ctx.send(p.parent, { type: "echo", id, results: p.results });
    }
    return { ...s, pending: deletePendingRead(s.pending, id), finished: [...s.finished.slice(-(FINISHED_MEMORY - 1)), id] };
  };

  const startRead = (s: DbState, id: string, key: string, parent: NodeId | null, request: RequestId | null, ctx: Context<DbMessage, DbResponse>): DbState => {
    const others = ctx.neighbors().filter((n) => n !== parent);
    const pending: PendingRead = { parent, request, waiting: others, results: { [ctx.self]: lookup(s, key) } };
    for (const n of others) ctx.send(n, { type: "read", id, key });
    const next: DbState = { ...s, pending: setPendingRead(s.pending, id, pending) };
    return others.length === 0 ? finishRead(next, id, pending, ctx) : next;
  };

  const applyWrite = (s: DbState, key: string, value: string, stamp: Stamp, except: NodeId | null, ctx: Context<DbMessage, DbResponse>): DbState => {
    const clock = Math.max(s.clock, stamp.clock);
    const current = s.entries[key];
    if (current === undefined) return { ...s, clock, unknownWrites: s.unknownWrites + 1 };
    if (!newer(stamp, current.stamp)) return { ...s, clock };
    for (const n of ctx.neighbors()) if (n !== except) ctx.send(n, { type: "write", key, value, stamp });
    return { ...s, clock, entries: { ...s.entries, [key]: { value, stamp } } };
  };

  return defineBehavior<DbState, DbMessage, DbRequest, DbResponse>({
    version,
    init: () => ({ entries: initialEntries(), clock: 0, reads: 0, pending: emptyPendingReads(), finished: [], unknownWrites: 0 }),
    receive(s, msg, from, ctx) {
      switch (msg.type) {
        case "write":
          return applyWrite(s, msg.key, msg.value, msg.stamp, from, ctx);
        case "read":
          if (getPendingRead(s.pending, msg.id) !== undefined || s.finished.includes(msg.id)) {
            ctx.send(from, { type: "echo", id: msg.id, results: {} });
            return s;
          }
          return startRead(s, msg.id, msg.key, from, null, ctx);
        case "echo": {
          const p = getPendingRead(s.pending, msg.id);
          if (p === undefined) return s;
          const updated: PendingRead = { ...p, waiting: p.waiting.filter((n) => n !== from), results: { ...p.results, ...msg.results } };
          if (updated.waiting.length === 0) return finishRead(s, msg.id, updated, ctx);
          return { ...s, pending: setPendingRead(s.pending, msg.id, updated) };
        }
      }
    },
    request(s, req, id, ctx) {
      switch (req.kind) {
        case "read":
          ctx.respond(id, lookup(s, keyOf(req.entry)));
          return s;
        case "write": {
          const stamp: Stamp = { clock: s.clock + 1, origin: ctx.self };
          ctx.respond(id, "ok");
          return applyWrite(s, keyOf(req.entry), req.value, stamp, null, ctx);
        }
        case "global-read": {
          const reads = s.reads + 1;
          return startRead({ ...s, reads }, `${ctx.self}#${reads}`, keyOf(req.entry), null, id, ctx);
        }
        case "stats":
          ctx.respond(id, statsOf(s));
          return s;
      }
    },
  });
}

function statsOf(s: DbState): DbStats {
  return { unknownWrites: s.unknownWrites, reads: s.reads, entries: Object.keys(s.entries).length };
}

export function databaseV1(entries = DEFAULT_ENTRIES) {
  return databaseVersion("db@1", keyV1, entries);
}

export function databaseV2(entries = DEFAULT_ENTRIES) {
  return databaseVersion("db@2", keyV2, entries);
}

/** The update: every old key becomes its new key, in the database and in every query in flight. */
export function keyFormatUpdate(entries = DEFAULT_ENTRIES) {
  return defineUpdate<DbState, DbMessage, DbState, DbMessage>({
    from: databaseV1(entries),
    to: databaseV2(entries),
    state(old) {
      const converted: Record<string, Entry> = {};
      for (const [key, entry] of Object.entries(old.entries)) converted[convertKey(key)] = entry;
      return { ...old, entries: converted };
    },
    message(old) {
      switch (old.type) {
        case "write":
        case "read":
          return [{ ...old, key: convertKey(old.key) }];
        case "echo":
          return [old];
      }
    },
  });
}
