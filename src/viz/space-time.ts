/**
 * The space-time diagram of a trace, in the style of the paper's execution
 * trace graphs (figures 5-7): one horizontal line per node, time running to the
 * right, messages as arrows between the lines, a node's line thin while it runs
 * the old version and thick red once new.
 *
 * Everything that stands for something carries a class and data attributes, so
 * a test (or a person with the DOM inspector) can find it:
 * - `.node-line[data-node]`: a node's line; `.new-segment[data-node][data-epoch]`: the part after a swap;
 * - `.msg[data-msg]`: one per delivery of an application message (`.transformed`: a new-equivalent made
 *   by a transform, `.undone`: a rollback undid its execution, `.orphan`: its send was undone);
 * - `.msg-dropped`, `.msg-replaced`, `.msg-pending`: flights that ended otherwise (dropped, transformed
 *   at the receiver) or had not ended when the trace stops;
 * - `.drop-mark`, `.transform-mark`, `.held`, `.buffered`, `.rollback`, `.fault`, `.checkpoint`, `.config-mark`;
 * - `.control[data-signal]`: a control message on a data channel (`.pulse` for synchronizer envelopes,
 *   `.plane` for the coordinator's messages when its lane is drawn);
 * - `.violation[data-violation]` on whatever a checker violation names, `.violation-mark` on the time axis.
 */
import type { Violation } from "../check/checker.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { escapeHtml } from "./escape.js";
import { buildModel, CONTROL_LANE, DEFAULT_MAX_EVENTS, type At, type SpaceTimeModel } from "./model.js";

export interface SpaceTimeOptions {
  /** The checker's verdict on this trace: what they name is highlighted. */
  readonly violations?: readonly Violation[];
  /** Pixels per virtual ms (default 8), lowered when the diagram would be wider than `maxWidth`. */
  readonly pxPerMs?: number;
  /** The widest the diagram may get, in pixels (default 40,000; the page scrolls horizontally). */
  readonly maxWidth?: number;
  /** Draw only the first events of a longer trace (default 50,000); the page says so. */
  readonly maxEvents?: number;
  /** Give the update coordinator "@control" a lane and draw the control-plane messages (default: left out). */
  readonly controlPlane?: boolean;
}

export interface SpaceTimeHtmlOptions extends SpaceTimeOptions {
  readonly title?: string;
}

/** What the diagram shows, for a caller that reports it. */
export interface SpaceTimeStats {
  readonly nodes: number;
  /** `.msg` arrows: deliveries of application messages. */
  readonly messages: number;
  readonly transformed: number;
  readonly dropped: number;
  readonly pending: number;
  readonly heldMessages: number;
  readonly bufferedMessages: number;
  readonly controlMessages: number;
  readonly rollbacks: number;
  /** Violations given (all are listed; those in the drawn part are marked). */
  readonly violations: number;
  readonly eventsDrawn: number;
  readonly eventsTotal: number;
  readonly truncated: boolean;
  readonly tStart: number;
  readonly tEnd: number;
  readonly pxPerMs: number;
  readonly width: number;
  readonly height: number;
}

export interface SpaceTimeRendering {
  readonly svg: string;
  readonly stats: SpaceTimeStats;
  /** x of the first update's start (where the page opens), if any. */
  readonly focusX: number | undefined;
}

const DEFAULT_PX_PER_MS = 8;
const DEFAULT_MAX_WIDTH = 40_000;
const LEFT = 96;
const RIGHT = 48;
const TOP = 84;
const BOTTOM = 40;
const LANE_GAP = 72;

/** The name this module always had for the one escape (viz/escape.ts); kept for its callers. */
export { escapeHtml as escapeXml } from "./escape.js";

const f = (n: number): string => String(Math.round(n * 10) / 10);
const ms = (n: number): string => String(Math.round(n * 1000) / 1000);

/**
 * A trace from a TCP cluster carries wall-clock times (ms since 1970): its
 * axis and labels count from its first event instead, or every label would be
 * a thirteen-digit number. Simulated traces count from virtual time 0.
 */
const WALL_CLOCK_AFTER = 1e11;
const timeOrigin = (tStart: number): number => (tStart > WALL_CLOCK_AFTER ? tStart : 0);

function attrs(a: Record<string, string | number | undefined>): string {
  let out = "";
  for (const [k, v] of Object.entries(a)) if (v !== undefined && v !== "") out += ` ${k}="${escapeHtml(v)}"`;
  return out;
}

const SVG_STYLE = `
.st text{font:11px system-ui,-apple-system,"Segoe UI",sans-serif;fill:#333}
.st .grid{stroke:#eceff1;stroke-width:1}
.st .tick-label{fill:#78909c;font-size:10px}
.st .update-window{fill:#fff8e1;stroke:#ffe082;stroke-width:1}
.st .update-label{fill:#8d6e00;font-size:11px;font-weight:600}
.st .node-line{stroke:#9e9e9e;stroke-width:1.5}
.st .node-line.plane{stroke:#b39ddb;stroke-dasharray:6 4}
.st .new-segment{stroke:#d32f2f;stroke-width:5;stroke-linecap:butt}
.st .new-segment.e2{stroke:#8e0000}
.st .swap-tick{stroke:#d32f2f;stroke-width:2}
.st .swap-label{fill:#c62828;font-size:10px;font-weight:600}
.st .node-label{font-size:13px;font-weight:700;fill:#263238}
.st .node-label.violation{fill:#e65100}
.st .node-version{font-size:10px;fill:#78909c}
.st .label-bg{fill:#fff;fill-opacity:.92}
.st .msg,.st .msg-dropped,.st .msg-replaced,.st .msg-pending{fill:none;stroke-width:1}
.st .msg.old{stroke:#37474f;stroke-opacity:.55;marker-end:url(#st-ah-old)}
.st .msg.new{stroke:#c62828;stroke-opacity:.7;marker-end:url(#st-ah-new)}
.st .msg.transformed{stroke:#ad1457;stroke-opacity:.9;stroke-dasharray:4 2;marker-end:url(#st-ah-tr)}
.st .msg.local{fill:#ad1457;stroke:none;marker-end:none}
.st .msg.undone{stroke-opacity:.35;stroke-dasharray:2 2}
.st .msg-dropped{stroke:#616161;stroke-opacity:.6;stroke-dasharray:3 2}
.st .msg-replaced{stroke:#37474f;stroke-opacity:.55}
.st .msg-pending{stroke:#455a64;stroke-dasharray:1 3;marker-end:url(#st-ah-open)}
.st .drop-mark{stroke:#d50000;stroke-width:1.6;fill:none}
.st .drop-mark.orphan{stroke:#6d4c41}
.st .transform-mark{fill:#ad1457;stroke:#fff;stroke-width:.8}
.st .held{stroke:#ef6c00;stroke-width:6;stroke-opacity:.55}
.st .buffered{stroke:#00897b;stroke-width:6;stroke-opacity:.6;stroke-dasharray:3 2}
.st .span-label{font-size:10px;font-weight:600}
.st .span-label.held{fill:#e65100;stroke:none}
.st .span-label.buffered{fill:#00695c;stroke:none}
.st .control{fill:none;stroke:#1565c0;stroke-width:1.4;marker-end:url(#st-ah-ctl)}
.st .control.pulse{stroke:#64b5f6;stroke-width:1;stroke-opacity:.45;marker-end:none}
.st .control.plane{stroke:#7e57c2;stroke-dasharray:4 3;marker-end:url(#st-ah-plane)}
.st .control.pending{stroke-dasharray:1 3}
.st .control-label{fill:#0d47a1;font-size:11px;font-weight:700;paint-order:stroke;stroke:#fff;stroke-width:3px}
.st .control-label.plane{fill:#5e35b1}
.st .rollback{fill:none;stroke:#4e342e;stroke-width:1.5;marker-end:url(#st-ah-rb)}
.st .rollback-label{fill:#4e342e;font-size:10px;font-weight:700;paint-order:stroke;stroke:#fff;stroke-width:3px}
.st .fault{fill:#d50000}
.st .fault-label{fill:#fff;font-size:9px;font-weight:700}
.st .checkpoint{stroke:#8d6e63;stroke-width:1;stroke-opacity:.6}
.st .config-mark{stroke:#546e7a;stroke-width:1;stroke-dasharray:2 2}
.st .config-label{fill:#546e7a;font-size:10px}
.st .violation{stroke:#ff6d00 !important;stroke-opacity:1 !important;stroke-width:2.4 !important;stroke-dasharray:none !important;marker-end:url(#st-ah-viol) !important}
.st .violation-mark{fill:#ff6d00}
.st .msg.local.violation{fill:#ff6d00;stroke:none !important;marker-end:none !important}
.st .focus{stroke:#ff1744 !important;stroke-width:4 !important;stroke-opacity:1 !important}
.st .truncated{fill:#b71c1c;font-size:11px;font-weight:600}
`;

function marker(id: string, color: string, open = false): string {
  return (
    `<marker id="st-ah-${id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto">` +
    `<path d="M0,1L10,5L0,9${open ? "" : "z"}" fill="${open ? "none" : color}" stroke="${color}" stroke-width="1.2"/></marker>`
  );
}

function niceStep(pxPerMs: number): number {
  const minPx = 70;
  for (let p = 1e-3; p < 1e9; p *= 10) {
    for (const m of [1, 2, 5]) if (m * p * pxPerMs >= minPx) return m * p;
  }
  return 1e9;
}

/** The diagram and what it shows. */
export function renderSpaceTime(trace: readonly TraceEvent[], options: SpaceTimeOptions = {}): SpaceTimeRendering {
  const model = buildModel(trace, {
    maxEvents: options.maxEvents ?? DEFAULT_MAX_EVENTS,
    ...(options.violations !== undefined ? { violations: options.violations } : {}),
    ...(options.controlPlane !== undefined ? { controlPlane: options.controlPlane } : {}),
  });
  return draw(model, options);
}

/** A self-contained SVG (its own style and markers) of the trace. */
export function renderSpaceTimeSvg(trace: readonly TraceEvent[], options: SpaceTimeOptions = {}): string {
  return renderSpaceTime(trace, options).svg;
}

function draw(model: SpaceTimeModel, options: SpaceTimeOptions): SpaceTimeRendering {
  const duration = Math.max(model.tEnd - model.tStart, 1);
  const maxWidth = Math.max(options.maxWidth ?? DEFAULT_MAX_WIDTH, LEFT + RIGHT + 100);
  const px = Math.max(1e-4, Math.min(options.pxPerMs ?? DEFAULT_PX_PER_MS, (maxWidth - LEFT - RIGHT) / duration));
  const x = (t: number): number => LEFT + (t - model.tStart) * px;

  const laneIds = [...(model.controlPlane ? [CONTROL_LANE] : []), ...model.nodes.map((n) => n.id)];
  const laneIndex = new Map<string, number>(laneIds.map((id, i) => [id, i]));
  const y = (node: string): number => TOP + (laneIndex.get(node) ?? 0) * LANE_GAP;
  const width = Math.ceil(x(model.tStart + duration) + RIGHT);
  const height = TOP + Math.max(laneIds.length - 1, 0) * LANE_GAP + BOTTOM;
  const xEnd = x(model.tEnd);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="st" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"` +
      ` data-nodes="${model.nodes.length}" data-px-per-ms="${ms(px)}" data-t-start="${ms(model.tStart)}" data-t-end="${ms(model.tEnd)}">`,
  );
  out.push(`<style>${SVG_STYLE}</style>`);
  out.push(
    `<defs>${marker("old", "#37474f")}${marker("new", "#c62828")}${marker("tr", "#ad1457")}${marker("ctl", "#1565c0")}` +
      `${marker("plane", "#7e57c2")}${marker("viol", "#ff6d00")}${marker("rb", "#4e342e")}${marker("open", "#455a64", true)}</defs>`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);

  // time grid and axis
  const step = niceStep(px);
  const origin = timeOrigin(model.tStart);
  const shown = (t: number): string => ms(t - origin);
  const first = origin + Math.ceil((model.tStart - origin) / step) * step;
  const grid: string[] = [];
  const labels: string[] = [];
  for (let t = first; t <= model.tStart + duration + 1e-9; t += step) {
    const xt = f(x(t));
    grid.push(`M${xt} ${TOP - 42}V${height - BOTTOM + 12}`);
    labels.push(`<text class="tick-label" x="${xt}" y="${TOP - 46}" text-anchor="middle">${shown(t)}</text>`);
    labels.push(`<text class="tick-label" x="${xt}" y="${height - 12}" text-anchor="middle">${shown(t)}</text>`);
  }

  // update windows (G..H), behind everything
  for (const u of model.updates) {
    const x0 = x(u.t);
    const x1 = x(u.end?.t ?? model.tEnd);
    out.push(
      `<rect class="update-window"${attrs({ "data-update": u.id, "data-strategy": u.strategy, "data-root": u.root, "data-start": ms(u.t), "data-end": u.end ? ms(u.end.t) : "", "data-outcome": u.end?.outcome })}` +
        ` x="${f(x0)}" y="${TOP - 60}" width="${f(Math.max(x1 - x0, 1))}" height="${f(height - BOTTOM - TOP + 72)}"/>`,
    );
    const ended = u.end ? `${shown(u.end.t)} ms, ${u.end.outcome}` : "not ended";
    out.push(`<text class="update-label" x="${f(x0 + 4)}" y="${TOP - 66}">${escapeHtml(`update #${u.id}: ${u.strategy} from ${u.root}, ${shown(u.t)} → ${ended}`)}</text>`);
  }
  out.push(`<path class="grid" d="${grid.join("")}"/>`);
  out.push(...labels);

  // node lines: thin while old, thick red from each swap on
  if (model.controlPlane) {
    out.push(`<line class="node-line plane" data-node="${CONTROL_LANE}" x1="${f(x(model.tStart))}" y1="${y(CONTROL_LANE)}" x2="${f(xEnd)}" y2="${y(CONTROL_LANE)}"/>`);
  }
  for (const n of model.nodes) {
    const yn = y(n.id);
    const end = n.to ?? model.tEnd;
    out.push(
      `<line class="node-line${n.violations.length > 0 ? " violation" : ""}"${attrs({ "data-node": n.id, "data-version": n.version, "data-violation": n.violations.join(" ") })}` +
        ` x1="${f(x(n.from))}" y1="${yn}" x2="${f(x(end))}" y2="${yn}"/>`,
    );
    n.swaps.forEach((sw, i) => {
      const next = n.swaps[i + 1]?.t ?? end;
      out.push(
        `<line class="new-segment${sw.epoch >= 2 ? " e2" : ""}"${attrs({ "data-node": n.id, "data-epoch": sw.epoch, "data-version": sw.version, "data-update": sw.update, "data-swap": ms(sw.t) })}` +
          ` x1="${f(x(sw.t))}" y1="${yn}" x2="${f(Math.max(x(next), x(sw.t) + 1))}" y2="${yn}"/>`,
      );
      out.push(`<path class="swap-tick" d="M${f(x(sw.t))} ${yn - 8}V${yn + 8}"/>`);
      out.push(`<text class="swap-label" x="${f(x(sw.t) + 4)}" y="${yn - 7}">${escapeHtml(sw.version)}</text>`);
    });
    if (n.to !== undefined) out.push(`<path class="swap-tick" style="stroke:#424242" d="M${f(x(n.to))} ${yn - 8}V${yn + 8}"/>`);
  }

  // checkpoints (rollback), under the rest
  const cps = model.marks.filter((m) => m.kind === "checkpoint");
  if (cps.length > 0) {
    out.push(`<path class="checkpoint" d="${cps.map((m) => `M${f(x(m.t))} ${y(m.node) + 4}v5`).join("")}"/>`);
  }

  // held (at the sender, toward the destination) and buffered (at the receiver, from the sender) spans
  let heldMessages = 0;
  let bufferedMessages = 0;
  for (const sp of model.spans) {
    if (sp.kind === "held") heldMessages += sp.messages.length;
    else bufferedMessages += sp.messages.length;
    const yn = y(sp.node);
    const side = (laneIndex.get(sp.peer) ?? 0) < (laneIndex.get(sp.node) ?? 0) ? -1 : 1;
    const ys = yn + side * 7;
    const x0 = x(sp.from);
    const x1 = Math.max(x(sp.to), x0 + 2);
    out.push(
      `<path class="${sp.kind}"${attrs({
        "data-node": sp.node,
        [sp.kind === "held" ? "data-to" : "data-from"]: sp.peer,
        "data-count": sp.messages.length,
        "data-start": ms(sp.from),
        "data-end": sp.open ? "(still open)" : ms(sp.to),
        "data-msgs": sp.messages.slice(0, 12).join(" ") + (sp.messages.length > 12 ? " …" : ""),
      })} d="M${f(x0)} ${f(ys)}H${f(x1)}"/>`,
    );
    const text = `${sp.kind === "held" ? "held" : "buffered"} ${sp.messages.length}`;
    out.push(`<text class="span-label ${sp.kind}" x="${f(x0)}" y="${f(ys + side * 9 + 3)}">${escapeHtml(text)}</text>`);
  }

  // configuration during the run
  for (const m of model.marks) {
    if (m.kind !== "link" && m.kind !== "unlink") continue;
    const xm = f(x(m.t));
    const ya = y(m.node);
    const yb = y(m.peer ?? m.node);
    out.push(`<path class="config-mark"${attrs({ "data-kind": m.kind, "data-a": m.node, "data-b": m.peer, "data-t": ms(m.t) })} d="M${xm} ${Math.min(ya, yb)}V${Math.max(ya, yb)}"/>`);
    out.push(`<text class="config-label" x="${xm}" y="${(ya + yb) / 2}">${escapeHtml(m.kind)}</text>`);
  }

  // application messages
  const path = (a: At, b: At): string => {
    const x1 = x(a.t);
    const y1 = y(a.node);
    const x2 = x(b.t);
    const y2 = y(b.node);
    if (y1 !== y2) return `M${f(x1)} ${y1}L${f(x2)} ${y2}`;
    // along one line (a new-equivalent made at its receiver, a message to itself): a flat arc above it
    return `M${f(x1)} ${y1}Q${f((x1 + x2) / 2)} ${y1 - 12} ${f(x2)} ${y2}`;
  };
  const dot = (a: At): string => `M${f(x(a.t) - 2.5)} ${y(a.node)}a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0 -5 0`;

  let delivered = 0;
  let transformed = 0;
  let dropped = 0;
  let pending = 0;
  const later: string[] = [];
  for (const m of model.messages) {
    const viol = m.violations.length > 0;
    const sink = viol ? later : out;
    const common = {
      "data-msg": m.id,
      "data-from": m.from,
      "data-to": m.to,
      "data-epoch": m.epoch,
      "data-sent": ms(m.origin.t),
      "data-via": m.origin.parent,
      "data-violation": m.violations.join(" "),
    };
    const flags = `${m.origin.by === "transform" ? " transformed" : ""}${m.executionUndone ? " undone" : ""}${m.sendUndone || m.dropped?.reason === "orphan" ? " orphan" : ""}${viol ? " violation" : ""}`;
    // Where it entered the channel: its send, its release (held), or the transform that made it (at the sender).
    const departed = m.held ? m.released : { t: m.origin.t, node: m.origin.node };
    if (m.origin.by === "transform") transformed++;
    for (const d of m.deliveries) {
      delivered++;
      const start: At = departed ?? { t: m.origin.t, node: m.origin.by === "unknown" ? m.from : m.origin.node };
      // A buffered message's arrow ends where it arrived; the span shows the wait.
      const end: At = m.buffered !== undefined && m.buffered.t <= d.t ? m.buffered : d;
      const local = start.node === end.node && start.t === end.t;
      sink.push(
        `<path class="msg ${m.epoch > 0 ? "new" : "old"}${flags}${local ? " local" : ""}"${attrs({
          ...common,
          "data-delivered": ms(d.t),
          "data-arrived": end === d ? undefined : ms(end.t),
          "data-held": m.held ? "yes" : undefined,
        })} d="${local ? dot(start) : path(start, end)}"/>`,
      );
    }
    if (m.deliveries.length > 0) continue;
    if (departed === undefined) continue; // held and never released: the held span shows it
    if (m.transformed !== undefined && m.arrived !== undefined) {
      sink.push(`<path class="msg-replaced${flags}"${attrs({ ...common, "data-replaced": ms(m.transformed.t), "data-into": m.transformed.into.join(" ") })} d="${path(departed, m.arrived)}"/>`);
    } else if (m.dropped !== undefined) {
      dropped++;
      const end = m.arrived ?? m.dropped;
      if (end.node !== departed.node || end.t !== departed.t) {
        sink.push(`<path class="msg-dropped${flags}"${attrs({ ...common, "data-dropped": ms(m.dropped.t), "data-reason": m.dropped.reason })} d="${path(departed, end)}"/>`);
      }
    } else if (m.transformed === undefined) {
      pending++;
      const end: At = { t: Math.max(model.tEnd, departed.t), node: m.to };
      sink.push(`<path class="msg-pending${flags}"${attrs({ ...common, "data-state": "not delivered when the trace ends" })} d="${path(departed, end)}"/>`);
    }
  }
  // dropped messages that were delivered first (orphans undone by a rollback) count as dropped too
  for (const m of model.messages) if (m.deliveries.length > 0 && m.dropped !== undefined) dropped++;

  // control messages on data channels (and, if asked, the coordinator's)
  let controlMessages = 0;
  const controlLabels: string[] = [];
  for (const c of model.controls) {
    if (!laneIndex.has(c.from) || !laneIndex.has(c.to)) continue;
    controlMessages++;
    const a: At = { t: c.sentAt, node: c.from };
    const b: At = { t: c.receivedAt ?? Math.max(model.tEnd, c.sentAt), node: c.to };
    const pulse = c.signal === "pulse" || c.pulse !== undefined;
    const cls = `control${pulse ? " pulse" : ""}${c.plane ? " plane" : ""}${c.receivedAt === undefined ? " pending" : ""}`;
    out.push(
      `<path class="${cls}"${attrs({ "data-signal": c.signal, "data-from": c.from, "data-to": c.to, "data-update": c.update, "data-pulse": c.pulse, "data-sent": ms(c.sentAt), "data-received": c.receivedAt === undefined ? "" : ms(c.receivedAt) })} d="${path(a, b)}"/>`,
    );
    if (!pulse) {
      // the signal's name a third of the way along, like the paper's "m"
      const lx = x(a.t) + (x(b.t) - x(a.t)) / 3;
      const ly = y(a.node) + (y(b.node) - y(a.node)) / 3;
      controlLabels.push(`<text class="control-label${c.plane ? " plane" : ""}" x="${f(lx + 4)}" y="${f(ly - 3)}">${escapeHtml(c.signal)}</text>`);
    }
  }

  // marks on the lines: transforms, drops, faults
  const byId = new Map(model.messages.map((m) => [m.id, m]));
  for (const m of model.marks) {
    const xm = x(m.t);
    const ym = y(m.node);
    if (m.kind === "transform") {
      out.push(`<path class="transform-mark"${attrs({ "data-node": m.node, "data-msg": m.msg, "data-into": m.detail, "data-t": ms(m.t) })} d="M${f(xm)} ${ym - 4.5}l4.5 4.5l-4.5 4.5l-4.5 -4.5z"/>`);
    } else if (m.kind === "drop") {
      const msg = m.msg === undefined ? undefined : byId.get(m.msg);
      const viol = msg !== undefined && msg.violations.length > 0;
      (viol ? later : out).push(
        `<path class="drop-mark${m.detail === "orphan" ? " orphan" : ""}${viol ? " violation" : ""}"${attrs({ "data-node": m.node, "data-msg": m.msg, "data-reason": m.detail, "data-t": ms(m.t), "data-violation": msg?.violations.join(" ") })}` +
          ` d="M${f(xm - 4)} ${ym - 4}l8 8m0 -8l-8 8"/>`,
      );
    } else if (m.kind === "fault") {
      out.push(
        `<g class="fault"${attrs({ "data-node": m.node, "data-msg": m.msg, "data-error": m.detail, "data-t": ms(m.t) })}><circle cx="${f(xm)}" cy="${ym - 12}" r="6"/>` +
          `<text class="fault-label" x="${f(xm)}" y="${ym - 9}" text-anchor="middle">!</text></g>`,
      );
    }
  }

  // rollbacks: an arc back to the checkpoint the node returned to, with the number of undone events
  for (const r of model.rollbacks) {
    const x1 = x(r.t);
    const x0 = r.toTime !== undefined && x(r.toTime) < x1 - 6 ? x(r.toTime) : x1 - 14;
    const yr = y(r.node);
    const h = Math.min(28, 10 + (x1 - x0) / 6);
    out.push(
      `<path class="rollback"${attrs({ "data-node": r.node, "data-update": r.update, "data-undone": r.undone, "data-to-event": r.toEvent, "data-to-time": r.toTime === undefined ? "" : ms(r.toTime), "data-t": ms(r.t), "data-receives-undone": r.receives, "data-sends-undone": r.sends, "data-replayed": r.replayed })}` +
        ` d="M${f(x1)} ${yr - 3}C${f(x1)} ${f(yr - h)} ${f(x0)} ${f(yr - h)} ${f(x0)} ${yr - 4}"/>`,
    );
    // at the top of the arc, where nothing else is written
    out.push(`<text class="rollback-label" x="${f((x0 + x1) / 2)}" y="${f(yr - h * 0.75 - 3)}" text-anchor="middle">${escapeHtml(`↶ ${r.undone} undone`)}</text>`);
  }

  out.push(...controlLabels);
  out.push(...later);

  // violations on the time axis
  model.violations.forEach((v, i) => {
    if (v.at < model.tStart || v.at > model.tEnd) return;
    const xv = x(v.at);
    out.push(`<path class="violation-mark"${attrs({ "data-violation": i + 1, "data-invariant": v.invariant, "data-t": ms(v.at) })} d="M${f(xv - 5)} ${TOP - 40}h10l-5 8z"/>`);
  });

  if (model.eventsDrawn < model.eventsTotal) {
    out.push(`<text class="truncated" x="${f(xEnd - 4)}" y="${TOP - 66}" text-anchor="end">${escapeHtml(`trace cut here: first ${model.eventsDrawn} of ${model.eventsTotal} events drawn`)}</text>`);
    out.push(`<path class="config-mark" style="stroke:#b71c1c" d="M${f(xEnd)} ${TOP - 60}V${height - BOTTOM + 12}"/>`);
  }

  // node names at the left, in a group the page keeps in view while scrolling
  out.push(`<g id="st-labels" class="labels"><rect class="label-bg" x="0" y="0" width="${LEFT - 12}" height="${height}"/>`);
  for (const id of laneIds) {
    const n = model.nodes.find((x0) => x0.id === id);
    const viol = n !== undefined && n.violations.length > 0;
    out.push(`<text class="node-label${viol ? " violation" : ""}"${attrs({ "data-node": id })} x="10" y="${y(id) + 4}">${escapeHtml(id)}</text>`);
    if (n !== undefined && n.version !== "?") out.push(`<text class="node-version" x="10" y="${y(id) + 17}">${escapeHtml(n.version)}</text>`);
  }
  out.push(`</g></svg>`);

  const firstUpdate = model.updates[0];
  return {
    svg: out.join("\n"),
    focusX: firstUpdate === undefined ? undefined : x(firstUpdate.t),
    stats: {
      nodes: model.nodes.length,
      messages: delivered,
      transformed,
      dropped,
      pending,
      heldMessages,
      bufferedMessages,
      controlMessages,
      rollbacks: model.rollbacks.length,
      violations: model.violations.length,
      eventsDrawn: model.eventsDrawn,
      eventsTotal: model.eventsTotal,
      truncated: model.eventsDrawn < model.eventsTotal,
      tStart: model.tStart,
      tEnd: model.tEnd,
      pxPerMs: px,
      width,
      height,
    },
  };
}

const PAGE_STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#263238;background:#fafafa}
header{padding:14px 20px 6px}
h1{font-size:19px;margin:0 0 4px}
h2{font-size:15px;margin:18px 0 6px}
.summary{margin:0;color:#455a64}
.note{margin:6px 20px;color:#b71c1c;font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;padding:6px 20px 10px;font-size:12px;color:#37474f}
.legend span{display:inline-flex;align-items:center;gap:6px}
.scroll{overflow-x:auto;overflow-y:hidden;background:#fff;border-top:1px solid #cfd8dc;border-bottom:1px solid #cfd8dc}
.scroll svg{display:block}
section{padding:0 20px 24px}
ol.violations{margin:0;padding-left:2.6em;font-size:13px;max-height:22em;overflow-y:auto}
ol.violations li{cursor:pointer;padding:1px 0}
ol.violations li:hover{background:#fff3e0}
.inv{font-weight:700;color:#e65100}
.ok{color:#2e7d32;font-weight:600}
.tip{position:fixed;pointer-events:none;background:#263238;color:#fff;font-size:12px;padding:6px 8px;border-radius:4px;max-width:420px;white-space:pre-line;z-index:10}
`;

const PAGE_SCRIPT = `
(function () {
  var sc = document.getElementById("st-scroll");
  var labels = document.getElementById("st-labels");
  var tip = document.getElementById("st-tip");
  function keep() { if (labels) labels.setAttribute("transform", "translate(" + sc.scrollLeft + ",0)"); }
  sc.addEventListener("scroll", keep);
  var focus = Number(sc.getAttribute("data-focus"));
  if (focus > 0) sc.scrollLeft = Math.max(0, focus - 240);
  keep();
  var names = { "msg": "application message", "msg-dropped": "dropped message", "msg-replaced": "message replaced at its receiver",
    "msg-pending": "message not delivered", "node-line": "node", "new-segment": "new version", "control": "control message",
    "held": "held messages", "buffered": "buffered messages", "rollback": "rollback", "drop-mark": "drop", "transform-mark": "transform",
    "fault": "fault", "violation-mark": "violation", "update-window": "update", "config-mark": "configuration" };
  function describe(el) {
    var cls = (el.getAttribute("class") || "").split(/\\s+/);
    var lines = [(names[cls[0]] || cls[0]) + (cls.length > 1 ? " (" + cls.slice(1).join(", ") + ")" : "")];
    for (var i = 0; i < el.attributes.length; i++) {
      var a = el.attributes[i];
      if (a.name.indexOf("data-") === 0) lines.push(a.name.slice(5) + ": " + a.value);
    }
    var v = el.getAttribute("data-violation");
    if (v) v.split(" ").forEach(function (n) {
      var li = document.getElementById("st-v" + n);
      if (li) lines.push("#" + n + " " + li.textContent);
    });
    return lines.join("\\n");
  }
  sc.addEventListener("mousemove", function (e) {
    var el = e.target && e.target.closest ? e.target.closest("[data-msg],[data-node],[data-signal],[data-violation],[data-update],[data-kind]") : null;
    if (!el || el.id === "st-labels") { tip.hidden = true; return; }
    tip.textContent = describe(el);
    tip.hidden = false;
    tip.style.left = Math.min(e.clientX + 14, window.innerWidth - 430) + "px";
    tip.style.top = (e.clientY + 16) + "px";
  });
  sc.addEventListener("mouseleave", function () { tip.hidden = true; });
  var lit = [];
  function light(n, on) {
    lit.forEach(function (el) { el.classList.remove("focus"); });
    lit = on ? Array.prototype.slice.call(document.querySelectorAll('.st [data-violation~="' + n + '"]')) : [];
    lit.forEach(function (el) { el.classList.add("focus"); });
    return lit;
  }
  document.querySelectorAll("ol.violations li").forEach(function (li) {
    var n = li.getAttribute("data-violation");
    li.addEventListener("mouseenter", function () { light(n, true); });
    li.addEventListener("mouseleave", function () { light(n, false); });
    li.addEventListener("click", function () {
      var els = light(n, true);
      var target = els[0];
      if (!target) return;
      var box = target.getBoundingClientRect(), outer = sc.getBoundingClientRect();
      sc.scrollLeft += box.left - outer.left - sc.clientWidth / 2;
      sc.scrollIntoView({ behavior: "smooth", block: "nearest" });
    });
  });
})();
`;

function legendItem(sample: string, text: string): string {
  return `<span><svg width="34" height="14" aria-hidden="true">${sample}</svg>${escapeHtml(text)}</span>`;
}

const LEGEND = [
  legendItem(`<line x1="2" y1="7" x2="32" y2="7" stroke="#9e9e9e" stroke-width="1.5"/>`, "node, old version"),
  legendItem(`<line x1="2" y1="7" x2="32" y2="7" stroke="#d32f2f" stroke-width="5"/>`, "node, new version (from its swap)"),
  legendItem(`<line x1="2" y1="12" x2="30" y2="3" stroke="#37474f"/><path d="M30 3l-6 0.5 2.5 4z" fill="#37474f"/>`, "old message"),
  legendItem(`<line x1="2" y1="12" x2="30" y2="3" stroke="#c62828"/><path d="M30 3l-6 0.5 2.5 4z" fill="#c62828"/>`, "new message"),
  legendItem(`<path d="M8 2l5 5-5 5-5-5z" fill="#ad1457"/><line x1="13" y1="7" x2="32" y2="7" stroke="#ad1457" stroke-dasharray="4 2"/>`, "transformed into its new-equivalent (dashed)"),
  legendItem(`<path d="M4 3l8 8m0-8l-8 8" stroke="#d50000" stroke-width="1.6"/>`, "dropped (brown: orphan)"),
  legendItem(`<line x1="2" y1="7" x2="32" y2="7" stroke="#ef6c00" stroke-width="6" stroke-opacity=".55"/>`, "held by the sender"),
  legendItem(`<line x1="2" y1="7" x2="32" y2="7" stroke="#00897b" stroke-width="6" stroke-opacity=".6" stroke-dasharray="3 2"/>`, "buffered by the receiver"),
  legendItem(`<line x1="2" y1="12" x2="30" y2="3" stroke="#1565c0" stroke-width="1.4"/><text x="8" y="7" font-size="9" fill="#0d47a1" font-weight="700">m</text>`, "control message (pulses pale)"),
  legendItem(`<path d="M28 11C28 1 6 1 6 10" fill="none" stroke="#4e342e" stroke-width="1.5"/>`, "rollback to a checkpoint"),
  legendItem(`<line x1="2" y1="12" x2="30" y2="3" stroke="#ff6d00" stroke-width="2.4"/>`, "named in a violation"),
  legendItem(`<rect x="1" y="1" width="32" height="12" fill="#fff8e1" stroke="#ffe082"/>`, "update running"),
].join("");

/** A complete, self-contained HTML page (inline style, SVG and a little script; nothing fetched). */
export function renderSpaceTimePage(trace: readonly TraceEvent[], options: SpaceTimeHtmlOptions = {}): { html: string; stats: SpaceTimeStats } {
  const r = renderSpaceTime(trace, options);
  const st = r.stats;
  const strategies = [...new Set(trace.filter((e) => e.kind === "update-start").map((e) => String((e as { strategy: unknown }).strategy)))];
  const title = options.title ?? `liveswap space-time diagram${strategies.length > 0 ? `: ${strategies.join(", ")}` : ""}`;
  const violations = options.violations;
  const parts: string[] = [];
  parts.push(`${st.nodes} node${st.nodes === 1 ? "" : "s"}`);
  parts.push(`${st.messages} message deliveries drawn (${st.transformed} new-equivalents from transforms)`);
  if (st.dropped > 0) parts.push(`${st.dropped} dropped`);
  if (st.pending > 0) parts.push(`${st.pending} not delivered`);
  if (st.heldMessages > 0) parts.push(`${st.heldMessages} held`);
  if (st.bufferedMessages > 0) parts.push(`${st.bufferedMessages} buffered`);
  parts.push(`${st.controlMessages} control messages`);
  if (st.rollbacks > 0) parts.push(`${st.rollbacks} rollbacks`);
  parts.push(violations === undefined ? "violations not checked" : `${violations.length} violation${violations.length === 1 ? "" : "s"}`);
  const origin = timeOrigin(st.tStart);
  parts.push(
    origin === 0
      ? `${ms(st.tStart)}–${ms(st.tEnd)} virtual ms at ${ms(st.pxPerMs)} px/ms`
      : `wall-clock ms from ${new Date(origin).toISOString()}: 0–${ms(st.tEnd - origin)} at ${ms(st.pxPerMs)} px/ms`,
  );

  const html: string[] = [];
  html.push(`<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">`);
  html.push(`<title>${escapeHtml(title)}</title>\n<style>${PAGE_STYLE}</style>\n</head>\n<body>`);
  html.push(`<header><h1>${escapeHtml(title)}</h1><p class="summary">${escapeHtml(parts.join(" · "))}</p></header>`);
  html.push(`<div class="legend">${LEGEND}</div>`);
  if (st.truncated) {
    html.push(`<p class="note">${escapeHtml(`The trace has ${st.eventsTotal} events: only the first ${st.eventsDrawn} are drawn (up to ${ms(st.tEnd)} ms); the violations below are for the whole trace.`)}</p>`);
  }
  html.push(`<div id="st-scroll" class="scroll"${r.focusX === undefined ? "" : ` data-focus="${f(r.focusX)}"`}>\n${r.svg}\n</div>`);
  html.push(`<section>`);
  if (violations === undefined) {
    html.push(`<h2>Violations</h2><p>Not checked.</p>`);
  } else if (violations.length === 0) {
    html.push(`<h2>Violations</h2><p class="ok">None: correctness, awareness and termination hold for this trace.</p>`);
  } else {
    const shown = violations.slice(0, 2000);
    html.push(`<h2>Violations (${violations.length})</h2><ol class="violations">`);
    shown.forEach((v, i) => {
      const off = v.at < st.tStart || v.at > st.tEnd ? " (outside the drawn part)" : "";
      html.push(`<li id="st-v${i + 1}" data-violation="${i + 1}"><span class="inv">[${escapeHtml(v.invariant)}]</span> at ${escapeHtml(ms(v.at))} ms${off}: ${escapeHtml(v.message)}</li>`);
    });
    html.push(`</ol>`);
    if (shown.length < violations.length) html.push(`<p>${escapeHtml(`… and ${violations.length - shown.length} more.`)}</p>`);
  }
  html.push(`</section>`);
  html.push(`<div id="st-tip" class="tip" hidden></div>`);
  html.push(`<script>${PAGE_SCRIPT}</script>\n</body>\n</html>\n`);
  return { html: html.join("\n"), stats: st };
}

/** A complete, self-contained HTML page (inline style, SVG and a little script; nothing fetched). */
export function renderSpaceTimeHtml(trace: readonly TraceEvent[], options: SpaceTimeHtmlOptions = {}): string {
  return renderSpaceTimePage(trace, options).html;
}
