import { escapeHtml } from "./escape.js";
import type { At, MessageModel } from "./model-types.js";
import { attrs, dotPath, f, flightPath, type Frame, ms } from "./svg-frame.js";

export interface MessageCounts {
  delivered: number;
  transformed: number;
  dropped: number;
  pending: number;
}

/** Elements go to `out` in order; those named in a violation to `later`, drawn on top of the rest. */
export interface Sinks {
  readonly out: string[];
  readonly later: string[];
}

function messageFlags(m: MessageModel): string {
  const orphan = m.sendUndone || m.dropped?.reason === "orphan";
  return `${m.origin.by === "transform" ? " transformed" : ""}${m.executionUndone ? " undone" : ""}${orphan ? " orphan" : ""}${m.violations.length > 0 ? " violation" : ""}`;
}

function messageAttrs(m: MessageModel): Record<string, string | number | undefined> {
  return {
    "data-msg": m.id,
    "data-from": m.from,
    "data-to": m.to,
    "data-epoch": m.epoch,
    "data-sent": ms(m.origin.t),
    "data-via": m.origin.parent,
    "data-violation": m.violations.join(" "),
  };
}

/** One arrow per execution of the message. */
function drawDeliveries(fr: Frame, m: MessageModel, departed: At | undefined, sink: string[]): void {
  const flags = messageFlags(m);
  for (const d of m.deliveries) {
    const start: At = departed ?? { t: m.origin.t, node: m.origin.by === "unknown" ? m.from : m.origin.node };
    // A buffered message's arrow ends where it arrived; the span shows the wait.
    const end: At = m.buffered !== undefined && m.buffered.t <= d.t ? m.buffered : d;
    const local = start.node === end.node && start.t === end.t;
    sink.push(
      `<path class="msg ${m.epoch > 0 ? "new" : "old"}${flags}${local ? " local" : ""}"${attrs({
        ...messageAttrs(m),
        "data-delivered": ms(d.t),
        "data-arrived": end === d ? undefined : ms(end.t),
        "data-held": m.held ? "yes" : undefined,
      })} d="${local ? dotPath(fr, start) : flightPath(fr, start, end)}"/>`,
    );
  }
}

/** A flight that was never executed: replaced at its receiver, dropped, or still under way when the trace ends. */
function drawUndelivered(fr: Frame, m: MessageModel, departed: At, sink: string[], counts: MessageCounts): void {
  const flags = messageFlags(m);
  if (m.transformed !== undefined && m.arrived !== undefined) {
    sink.push(`<path class="msg-replaced${flags}"${attrs({ ...messageAttrs(m), "data-replaced": ms(m.transformed.t), "data-into": m.transformed.into.join(" ") })} d="${flightPath(fr, departed, m.arrived)}"/>`);
  } else if (m.dropped !== undefined) {
    counts.dropped++;
    const end = m.arrived ?? m.dropped;
    if (end.node !== departed.node || end.t !== departed.t) {
      sink.push(`<path class="msg-dropped${flags}"${attrs({ ...messageAttrs(m), "data-dropped": ms(m.dropped.t), "data-reason": m.dropped.reason })} d="${flightPath(fr, departed, end)}"/>`);
    }
  } else if (m.transformed === undefined) {
    counts.pending++;
    const end: At = { t: Math.max(fr.model.tEnd, departed.t), node: m.to };
    sink.push(`<path class="msg-pending${flags}"${attrs({ ...messageAttrs(m), "data-state": "not delivered when the trace ends" })} d="${flightPath(fr, departed, end)}"/>`);
  }
}

export function drawMessages(fr: Frame, sinks: Sinks): MessageCounts {
  const counts: MessageCounts = { delivered: 0, transformed: 0, dropped: 0, pending: 0 };
  for (const m of fr.model.messages) {
    const sink = m.violations.length > 0 ? sinks.later : sinks.out;
    // Where it entered the channel: its send, its release (held), or the transform that made it (at the sender).
    const departed = m.held ? m.released : { t: m.origin.t, node: m.origin.node };
    if (m.origin.by === "transform") counts.transformed++;
    counts.delivered += m.deliveries.length;
    drawDeliveries(fr, m, departed, sink);
    if (m.deliveries.length > 0) continue;
    if (departed === undefined) continue; // held and never released: the held span shows it
    drawUndelivered(fr, m, departed, sink, counts);
  }
  // dropped messages that were delivered first (orphans undone by a rollback) count as dropped too
  for (const m of fr.model.messages) if (m.deliveries.length > 0 && m.dropped !== undefined) counts.dropped++;
  return counts;
}

/** Control messages on data channels (and, if asked, the coordinator's); their signal names go to `labels`, drawn above the flights. */
export function drawControls(fr: Frame, out: string[], labels: string[]): number {
  let drawn = 0;
  for (const c of fr.model.controls) {
    if (!fr.laneIndex.has(c.from) || !fr.laneIndex.has(c.to)) continue;
    drawn++;
    const a: At = { t: c.sentAt, node: c.from };
    const b: At = { t: c.receivedAt ?? Math.max(fr.model.tEnd, c.sentAt), node: c.to };
    const pulse = c.signal === "pulse" || c.pulse !== undefined;
    const cls = `control${pulse ? " pulse" : ""}${c.plane ? " plane" : ""}${c.receivedAt === undefined ? " pending" : ""}`;
    const data = { "data-signal": c.signal, "data-from": c.from, "data-to": c.to, "data-update": c.update, "data-pulse": c.pulse, "data-sent": ms(c.sentAt), "data-received": c.receivedAt === undefined ? "" : ms(c.receivedAt) };
    out.push(`<path class="${cls}"${attrs(data)} d="${flightPath(fr, a, b)}"/>`);
    if (pulse) continue;
    // the signal's name a third of the way along, like the paper's "m"
    const lx = fr.x(a.t) + (fr.x(b.t) - fr.x(a.t)) / 3;
    const ly = fr.y(a.node) + (fr.y(b.node) - fr.y(a.node)) / 3;
    labels.push(`<text class="control-label${c.plane ? " plane" : ""}" x="${f(lx + 4)}" y="${f(ly - 3)}">${escapeHtml(c.signal)}</text>`);
  }
  return drawn;
}
