/**
 * The SVG of a space-time model, drawn in layers (later layers on top): what
 * each class and data attribute means is listed in space-time.ts.
 */
import { escapeHtml } from "./escape.js";
import { CONTROL_LANE, type SpaceTimeModel } from "./model.js";
import { drawControls, drawMessages, type MessageCounts, type Sinks } from "./draw-flights.js";
import { attrs, BOTTOM, f, type Frame, frameOf, LEFT, ms, timeOrigin } from "./svg-frame.js";

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

function svgHead(fr: Frame): string[] {
  const { model, width, height } = fr;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="st" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"` +
      ` data-nodes="${model.nodes.length}" data-px-per-ms="${ms(fr.px)}" data-t-start="${ms(model.tStart)}" data-t-end="${ms(model.tEnd)}">`,
    `<style>${SVG_STYLE}</style>`,
    `<defs>${marker("old", "#37474f")}${marker("new", "#c62828")}${marker("tr", "#ad1457")}${marker("ctl", "#1565c0")}` +
      `${marker("plane", "#7e57c2")}${marker("viol", "#ff6d00")}${marker("rb", "#4e342e")}${marker("open", "#455a64", true)}</defs>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  ];
}

/** Update windows (G..H), behind everything. */
function drawUpdateWindows(fr: Frame, out: string[]): void {
  for (const u of fr.model.updates) {
    const x0 = fr.x(u.t);
    const x1 = fr.x(u.end?.t ?? fr.model.tEnd);
    const data = { "data-update": u.id, "data-strategy": u.strategy, "data-root": u.root, "data-start": ms(u.t), "data-end": u.end ? ms(u.end.t) : "", "data-outcome": u.end?.outcome };
    out.push(`<rect class="update-window"${attrs(data)} x="${f(x0)}" y="${fr.top - 60}" width="${f(Math.max(x1 - x0, 1))}" height="${f(fr.height - BOTTOM - fr.top + 72)}"/>`);
  }
}

/** The labels above the lanes, where the frame placed them (header-labels.ts): a wrapped label is one text of several lines. */
function drawHeaderLabels(fr: Frame, out: string[]): void {
  for (const l of fr.header.labels) {
    const lines = l.lines.map((line, i) => `<tspan x="${f(l.x)}" y="${l.ys[i] ?? 0}">${escapeHtml(line)}</tspan>`).join("");
    out.push(`<text class="${l.cls}" x="${f(l.x)}" y="${l.ys[0] ?? 0}">${lines}</text>`);
  }
}

/** The time grid and its labels, above and below the lanes. */
function drawTimeGrid(fr: Frame, out: string[]): void {
  const { model, height } = fr;
  const step = niceStep(fr.px);
  const origin = timeOrigin(model.tStart);
  const first = origin + Math.ceil((model.tStart - origin) / step) * step;
  const grid: string[] = [];
  const labels: string[] = [];
  for (let t = first; t <= model.tStart + fr.duration + 1e-9; t += step) {
    const xt = f(fr.x(t));
    grid.push(`M${xt} ${fr.top - 42}V${height - BOTTOM + 12}`);
    labels.push(`<text class="tick-label" x="${xt}" y="${fr.top - 46}" text-anchor="middle">${fr.shown(t)}</text>`);
    labels.push(`<text class="tick-label" x="${xt}" y="${height - 12}" text-anchor="middle">${fr.shown(t)}</text>`);
  }
  out.push(`<path class="grid" d="${grid.join("")}"/>`);
  out.push(...labels);
}

/** Node lines: thin while old, thick red from each swap on. */
function drawNodeLines(fr: Frame, out: string[]): void {
  const { model, x, y } = fr;
  if (model.controlPlane) {
    out.push(`<line class="node-line plane" data-node="${CONTROL_LANE}" x1="${f(x(model.tStart))}" y1="${y(CONTROL_LANE)}" x2="${f(fr.xEnd)}" y2="${y(CONTROL_LANE)}"/>`);
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
}

/** Checkpoints (rollback), under the rest. */
function drawCheckpoints(fr: Frame, out: string[]): void {
  const cps = fr.model.marks.filter((m) => m.kind === "checkpoint");
  if (cps.length > 0) out.push(`<path class="checkpoint" d="${cps.map((m) => `M${f(fr.x(m.t))} ${fr.y(m.node) + 4}v5`).join("")}"/>`);
}

/** Held (at the sender, toward the destination) and buffered (at the receiver, from the sender) spans; returns the messages in each. */
function drawSpans(fr: Frame, out: string[]): { heldMessages: number; bufferedMessages: number } {
  let heldMessages = 0;
  let bufferedMessages = 0;
  for (const sp of fr.model.spans) {
    if (sp.kind === "held") heldMessages += sp.messages.length;
    else bufferedMessages += sp.messages.length;
    const side = (fr.laneIndex.get(sp.peer) ?? 0) < (fr.laneIndex.get(sp.node) ?? 0) ? -1 : 1;
    const ys = fr.y(sp.node) + side * 7;
    const x0 = fr.x(sp.from);
    const x1 = Math.max(fr.x(sp.to), x0 + 2);
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
  return { heldMessages, bufferedMessages };
}

/** Configuration during the run: links made and removed. */
function drawConfigMarks(fr: Frame, out: string[]): void {
  for (const m of fr.model.marks) {
    if (m.kind !== "link" && m.kind !== "unlink") continue;
    const xm = f(fr.x(m.t));
    const ya = fr.y(m.node);
    const yb = fr.y(m.peer ?? m.node);
    out.push(`<path class="config-mark"${attrs({ "data-kind": m.kind, "data-a": m.node, "data-b": m.peer, "data-t": ms(m.t) })} d="M${xm} ${Math.min(ya, yb)}V${Math.max(ya, yb)}"/>`);
    out.push(`<text class="config-label" x="${xm}" y="${(ya + yb) / 2}">${escapeHtml(m.kind)}</text>`);
  }
}

/** Marks on the lines: transforms, drops (on top when a violation names the message), faults. */
function drawEventMarks(fr: Frame, sinks: Sinks): void {
  const byId = new Map(fr.model.messages.map((m) => [m.id, m]));
  for (const m of fr.model.marks) {
    const xm = fr.x(m.t);
    const ym = fr.y(m.node);
    if (m.kind === "transform") {
      sinks.out.push(`<path class="transform-mark"${attrs({ "data-node": m.node, "data-msg": m.msg, "data-into": m.detail, "data-t": ms(m.t) })} d="M${f(xm)} ${ym - 4.5}l4.5 4.5l-4.5 4.5l-4.5 -4.5z"/>`);
    } else if (m.kind === "drop") {
      const msg = m.msg === undefined ? undefined : byId.get(m.msg);
      const viol = msg !== undefined && msg.violations.length > 0;
      (viol ? sinks.later : sinks.out).push(
        `<path class="drop-mark${m.detail === "orphan" ? " orphan" : ""}${viol ? " violation" : ""}"${attrs({ "data-node": m.node, "data-msg": m.msg, "data-reason": m.detail, "data-t": ms(m.t), "data-violation": msg?.violations.join(" ") })}` +
          ` d="M${f(xm - 4)} ${ym - 4}l8 8m0 -8l-8 8"/>`,
      );
    } else if (m.kind === "fault") {
      sinks.out.push(
        `<g class="fault"${attrs({ "data-node": m.node, "data-msg": m.msg, "data-error": m.detail, "data-t": ms(m.t) })}><circle cx="${f(xm)}" cy="${ym - 12}" r="6"/>` +
          `<text class="fault-label" x="${f(xm)}" y="${ym - 9}" text-anchor="middle">!</text></g>`,
      );
    }
  }
}

/** Rollbacks: an arc back to the checkpoint the node returned to, with the number of undone events. */
function drawRollbacks(fr: Frame, out: string[]): void {
  for (const r of fr.model.rollbacks) {
    const x1 = fr.x(r.t);
    const x0 = r.toTime !== undefined && fr.x(r.toTime) < x1 - 6 ? fr.x(r.toTime) : x1 - 14;
    const yr = fr.y(r.node);
    const h = Math.min(28, 10 + (x1 - x0) / 6);
    const data = {
      "data-node": r.node,
      "data-update": r.update,
      "data-undone": r.undone,
      "data-to-event": r.toEvent,
      "data-to-time": r.toTime === undefined ? "" : ms(r.toTime),
      "data-t": ms(r.t),
      "data-receives-undone": r.receives,
      "data-sends-undone": r.sends,
      "data-replayed": r.replayed,
    };
    out.push(`<path class="rollback"${attrs(data)} d="M${f(x1)} ${yr - 3}C${f(x1)} ${f(yr - h)} ${f(x0)} ${f(yr - h)} ${f(x0)} ${yr - 4}"/>`);
    // at the top of the arc, where nothing else is written
    out.push(`<text class="rollback-label" x="${f((x0 + x1) / 2)}" y="${f(yr - h * 0.75 - 3)}" text-anchor="middle">${escapeHtml(`↶ ${r.undone} undone`)}</text>`);
  }
}

/** Violations on the time axis, and where a cut trace stops. */
function drawAxisNotes(fr: Frame, out: string[]): void {
  const { model, x } = fr;
  model.violations.forEach((v, i) => {
    if (v.at < model.tStart || v.at > model.tEnd) return;
    const xv = x(v.at);
    out.push(`<path class="violation-mark"${attrs({ "data-violation": i + 1, "data-invariant": v.invariant, "data-t": ms(v.at) })} d="M${f(xv - 5)} ${fr.top - 40}h10l-5 8z"/>`);
  });
  if (model.eventsDrawn < model.eventsTotal) {
    out.push(`<path class="config-mark" style="stroke:#b71c1c" d="M${f(fr.xEnd)} ${fr.top - 60}V${fr.height - BOTTOM + 12}"/>`);
  }
}

/** Node names at the left, in a group the page keeps in view while scrolling. */
function drawLaneLabels(fr: Frame, out: string[]): void {
  out.push(`<g id="st-labels" class="labels"><rect class="label-bg" x="0" y="0" width="${LEFT - 12}" height="${fr.height}"/>`);
  for (const id of fr.laneIds) {
    const n = fr.model.nodes.find((x0) => x0.id === id);
    const viol = n !== undefined && n.violations.length > 0;
    out.push(`<text class="node-label${viol ? " violation" : ""}"${attrs({ "data-node": id })} x="10" y="${fr.y(id) + 4}">${escapeHtml(id)}</text>`);
    if (n !== undefined && n.version !== "?") out.push(`<text class="node-version" x="10" y="${fr.y(id) + 17}">${escapeHtml(n.version)}</text>`);
  }
  out.push(`</g></svg>`);
}

/** The SVG, layer by layer (later layers on top), and what it shows. */
export function drawDiagram(model: SpaceTimeModel, pxPerMs: number, maxWidth: number): SpaceTimeRendering {
  const fr = frameOf(model, pxPerMs, maxWidth);
  const out = svgHead(fr);
  drawUpdateWindows(fr, out);
  drawTimeGrid(fr, out);
  drawNodeLines(fr, out);
  drawCheckpoints(fr, out);
  const spans = drawSpans(fr, out);
  drawConfigMarks(fr, out);
  const sinks: Sinks = { out, later: [] };
  const counts = drawMessages(fr, sinks);
  const controlLabels: string[] = [];
  const controlMessages = drawControls(fr, out, controlLabels);
  drawEventMarks(fr, sinks);
  drawRollbacks(fr, out);
  out.push(...controlLabels);
  out.push(...sinks.later);
  drawAxisNotes(fr, out);
  drawHeaderLabels(fr, out);
  drawLaneLabels(fr, out);
  const firstUpdate = model.updates[0];
  return {
    svg: out.join("\n"),
    focusX: firstUpdate === undefined ? undefined : fr.x(firstUpdate.t),
    stats: statsOf(fr, counts, spans, controlMessages),
  };
}

function statsOf(fr: Frame, counts: MessageCounts, spans: { heldMessages: number; bufferedMessages: number }, controlMessages: number): SpaceTimeStats {
  const { model } = fr;
  return {
    nodes: model.nodes.length,
    messages: counts.delivered,
    transformed: counts.transformed,
    dropped: counts.dropped,
    pending: counts.pending,
    heldMessages: spans.heldMessages,
    bufferedMessages: spans.bufferedMessages,
    controlMessages,
    rollbacks: model.rollbacks.length,
    violations: model.violations.length,
    eventsDrawn: model.eventsDrawn,
    eventsTotal: model.eventsTotal,
    truncated: model.eventsDrawn < model.eventsTotal,
    tStart: model.tStart,
    tEnd: model.tEnd,
    pxPerMs: fr.px,
    width: fr.width,
    height: fr.height,
  };
}
