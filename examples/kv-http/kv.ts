// The nodes' program for the HTTP example: a key-value store replicated along the cluster's links.
// A node package (the cluster file's `package:`): it exports `behaviors`, and imports only types, so the node
// processes load it with nothing else.
import type { Behavior } from "liveswap";

/** A key's value, its version (each write adds one) and the node where that write was made (ties between writes). */
export interface Entry {
  readonly value: string;
  readonly version: number;
  readonly origin: string;
}
export type KvState = Readonly<Record<string, Entry>>;
export type KvRequest = { readonly kind: "put"; readonly key: string; readonly value: string } | { readonly kind: "get"; readonly key: string };
export type KvResponse = ({ readonly key: string } & Entry) | null;
/** A write travelling to the other replicas. */
export type KvMessage = { readonly kind: "put"; readonly key: string } & Entry;

/** Whether `e` replaces `old`: the higher version, then the higher origin, so every replica keeps the same one. */
const newer = (e: Entry, old: Entry | undefined): boolean => old === undefined || e.version > old.version || (e.version === old.version && e.origin > old.origin);

export const kv: Behavior<KvState, KvMessage, KvRequest, KvResponse> = {
  version: "kv@1",
  init: () => ({}),
  receive(s, msg, from, ctx) {
    const entry = { value: msg.value, version: msg.version, origin: msg.origin };
    if (!newer(entry, s[msg.key])) return s;
    // The links form a tree (a line here): passing it on to every other neighbour reaches every replica once.
    for (const n of ctx.neighbors()) if (n !== from) ctx.send(n, msg);
    return { ...s, [msg.key]: entry };
  },
  request(s, req, id, ctx) {
    const old = s[req.key];
    if (req.kind === "get") {
      ctx.respond(id, old === undefined ? null : { key: req.key, ...old });
      return s;
    }
    const entry = { value: req.value, version: (old?.version ?? 0) + 1, origin: ctx.self };
    for (const n of ctx.neighbors()) ctx.send(n, { kind: "put", key: req.key, ...entry });
    ctx.respond(id, { key: req.key, ...entry });
    return { ...s, [req.key]: entry };
  },
};

export const behaviors = { "kv-v1": kv };
