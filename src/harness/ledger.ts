/**
 * A behavior that checks exactly-once, in-order delivery per channel at the
 * application level: every message a node sends to a neighbour carries the
 * next number of that channel, and the receiver records any number that is
 * not the one it expects (a loss, a duplicate, a reordering). Tests and the
 * fuzzer use it across crashes, partitions and updates: the runtime's own
 * numbering must make the application's never fail.
 */
import { defineBehavior } from "../core/behavior.js";
import { defineUpdate } from "../core/update.js";
import type { NodeId } from "../core/ids.js";

export interface LedgerState {
  /** Next number to send, per neighbour. */
  readonly sent: Readonly<Record<NodeId, number>>;
  /** Last number received, per neighbour. */
  readonly got: Readonly<Record<NodeId, number>>;
  /** Every number that was not the expected one: "from:expected:got". */
  readonly anomalies: readonly string[];
  /** Requests executed, by id: a request run twice shows here. */
  readonly ran: Readonly<Record<string, number>>;
}

export interface LedgerMessage {
  readonly n: number;
  /** Hops left: a message with hops forwards one more to the sender's next neighbour. */
  readonly hops: number;
}

export type LedgerRequest =
  | { readonly kind: "burst"; readonly count: number; readonly hops: number; readonly tag?: string }
  | { readonly kind: "tick"; readonly delay: number; readonly times: number }
  | { readonly kind: "read" };

function send(s: LedgerState, to: NodeId, hops: number, ctx: { send(to: NodeId, m: LedgerMessage): void }): LedgerState {
  const n = (s.sent[to] ?? 0) + 1;
  ctx.send(to, { n, hops });
  return { ...s, sent: { ...s.sent, [to]: n } };
}

function receiveLedger(s: LedgerState, msg: LedgerMessage, from: NodeId, ctx: { neighbors(): readonly NodeId[]; send(to: NodeId, m: LedgerMessage): void }): LedgerState {
  const expected = (s.got[from] ?? 0) + 1;
  const anomalies = msg.n === expected ? s.anomalies : [...s.anomalies, `${from}:${expected}:${msg.n}`];
  let next: LedgerState = { ...s, got: { ...s.got, [from]: Math.max(msg.n, s.got[from] ?? 0) }, anomalies };
  if (msg.hops > 0) {
    const ns = ctx.neighbors();
    const to = ns[(ns.indexOf(from) + 1) % ns.length];
    if (to !== undefined) next = send(next, to, msg.hops - 1, ctx);
  }
  return next;
}

/** The ledger's handlers: every version runs them (ledger-generations.ts makes any generation of them). */
export const ledgerHandlers = {
  init: (): LedgerState => ({ sent: {}, got: {}, anomalies: [], ran: {} }),
  receive: receiveLedger,
  request(s: LedgerState, req: LedgerRequest, id: string, ctx: { neighbors(): readonly NodeId[]; send(to: NodeId, m: LedgerMessage): void; respond(id: string, r: unknown): void; setTimer(ms: number, tag: string): void }): LedgerState {
    const ran = { ...s.ran, [id]: (s.ran[id] ?? 0) + 1 };
    let next: LedgerState = { ...s, ran };
    switch (req.kind) {
      case "burst":
        for (let i = 0; i < req.count; i++) for (const to of ctx.neighbors()) next = send(next, to, req.hops, ctx);
        ctx.respond(id, "sent");
        return next;
      case "tick":
        for (let i = 1; i <= req.times; i++) ctx.setTimer(req.delay * i, "tick");
        ctx.respond(id, "armed");
        return next;
      case "read":
        ctx.respond(id, { anomalies: s.anomalies, got: s.got });
        return next;
    }
  },
  timer(s: LedgerState, _tag: string, ctx: { neighbors(): readonly NodeId[]; send(to: NodeId, m: LedgerMessage): void }): LedgerState {
    let next = s;
    for (const to of ctx.neighbors()) next = send(next, to, 1, ctx);
    return next;
  },
};

export const ledgerV1 = defineBehavior<LedgerState, LedgerMessage, LedgerRequest, unknown>({ version: "ledger@1", ...ledgerHandlers });
export const ledgerV2 = defineBehavior<LedgerState, LedgerMessage, LedgerRequest, unknown>({ version: "ledger@2", ...ledgerHandlers });
export const ledgerV3 = defineBehavior<LedgerState, LedgerMessage, LedgerRequest, unknown>({ version: "ledger@3", ...ledgerHandlers });

/** The same numbering across versions: state and messages carry over unchanged. */
export const ledgerUpdate = defineUpdate({ from: ledgerV1, to: ledgerV2, state: (s) => s, message: (m) => [m] });
export const ledgerUpdate2 = defineUpdate({ from: ledgerV2, to: ledgerV3, state: (s) => s, message: (m) => [m] });
