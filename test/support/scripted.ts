import type { PendingEvent, System } from "../../src/system.js";

/** Run the first enabled event that matches, or fail with the list of what was enabled. */
export function stepFirst(sys: System, what: string, pred: (p: PendingEvent) => boolean): PendingEvent {
  const pending = sys.pending();
  const ev = pending.find(pred);
  if (ev === undefined) {
    const listing = pending.map((p) => `${p.kind} ${p.from ?? ""}->${p.node} ${p.msg ?? p.signal ?? ""}`).join("; ");
    throw new Error(`no enabled event is ${what}; enabled: ${listing || "none"}`);
  }
  sys.step(ev.seq);
  return ev;
}

/** Run matching enabled events until none is left. */
export function stepAll(sys: System, pred: (p: PendingEvent) => boolean): number {
  let n = 0;
  for (;;) {
    const ev = sys.pending().find(pred);
    if (ev === undefined) return n;
    sys.step(ev.seq);
    n++;
  }
}

export const isControl =
  (signal: string, from?: string, to?: string) =>
  (p: PendingEvent): boolean =>
    p.kind === "deliver" && p.signal === signal && (from === undefined || p.from === from) && (to === undefined || p.node === to);

export const isMessage =
  (from?: string, to?: string) =>
  (p: PendingEvent): boolean =>
    p.kind === "deliver" && p.msg !== undefined && (from === undefined || p.from === from) && (to === undefined || p.node === to);

/** Control-plane traffic between the coordinator and the nodes (prepare, prepared, start, swapped...). */
export const isPlane = (p: PendingEvent): boolean => p.kind === "deliver" && p.signal !== undefined && (p.from === "@control" || p.node === "@control");
