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
import { buildModel, DEFAULT_MAX_EVENTS } from "./model.js";
import { drawDiagram, type SpaceTimeRendering, type SpaceTimeStats } from "./svg-diagram.js";
import { f, ms, timeOrigin } from "./svg-frame.js";

export type { SpaceTimeRendering, SpaceTimeStats } from "./svg-diagram.js";

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
  /** Each node's version at the trace's end, for a window cut from a longer trace (ModelOptions.versionsAtEnd). */
  readonly versionsAtEnd?: Readonly<Record<string, string>>;
}

export interface SpaceTimeHtmlOptions extends SpaceTimeOptions {
  readonly title?: string;
}

const DEFAULT_PX_PER_MS = 8;
const DEFAULT_MAX_WIDTH = 40_000;

/** The name this module always had for the one escape (viz/escape.ts); kept for its callers. */
export { escapeHtml as escapeXml } from "./escape.js";

/** The diagram and what it shows. */
export function renderSpaceTime(trace: readonly TraceEvent[], options: SpaceTimeOptions = {}): SpaceTimeRendering {
  const model = buildModel(trace, {
    maxEvents: options.maxEvents ?? DEFAULT_MAX_EVENTS,
    ...(options.violations !== undefined ? { violations: options.violations } : {}),
    ...(options.controlPlane !== undefined ? { controlPlane: options.controlPlane } : {}),
    ...(options.versionsAtEnd !== undefined ? { versionsAtEnd: options.versionsAtEnd } : {}),
  });
  return drawDiagram(model, options.pxPerMs ?? DEFAULT_PX_PER_MS, options.maxWidth ?? DEFAULT_MAX_WIDTH);
}

/** A self-contained SVG (its own style and markers) of the trace. */
export function renderSpaceTimeSvg(trace: readonly TraceEvent[], options: SpaceTimeOptions = {}): string {
  return renderSpaceTime(trace, options).svg;
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
