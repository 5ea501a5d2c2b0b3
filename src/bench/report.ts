/**
 * Reports of the disruption measurement (`measureDisruption`): a markdown
 * table, a markdown report with a paragraph per strategy, and a
 * self-contained HTML page (inline CSS and SVG charts of each strategy's
 * timeline, no scripts, no external resources).
 *
 * Virtual-time figures (exact, repeatable) and wall-clock figures (simulation
 * speed on this machine) are never mixed: the wall clock has its own table.
 * Nothing here reads the clock: the caller passes the date string.
 */
import type { LatencyStats, StrategyDisruption, TimelinePoint } from "./disruption.js";
import { DASH, escapeHtml, escapeMarkdown, fixed, markdownTable, seedList, short, wallMs, whole } from "./format.js";

/** What was run, as the caller describes it. */
export interface ReportMeta {
  readonly nodes: number;
  readonly entries: number;
  readonly seeds: readonly number[];
  /** Shown as given (never computed here). */
  readonly date: string;
  /** Defaults to "Update disruption". */
  readonly title?: string;
}

// ---------------------------------------------------------------- cells

/** "p50 / p99 / max" of one window, or a dash if no request was issued in it. */
export function latencyCell(l: LatencyStats): string {
  return l.count === 0 ? DASH : `${short(l.p50)} / ${short(l.p99)} / ${short(l.max)}`;
}

/** "86.0 (85..87)": H-G mean over the seeds, and its range. */
export function durationCell(d: StrategyDisruption["duration"]): string {
  if (!Number.isFinite(d.min)) return DASH; // no update finished
  return `${fixed(d.mean, 1)} (${short(d.min)}..${short(d.max)})`;
}

// ---------------------------------------------------------------- the table

interface Column {
  readonly head: string;
  /** Column group, for the HTML table's upper header row. */
  readonly group: string;
  readonly cell: (d: StrategyDisruption) => string;
  readonly left?: boolean;
  /** Cell class in HTML ("bad" when the figure is a problem). */
  readonly bad?: (d: StrategyDisruption) => boolean;
}

const COLUMNS: readonly Column[] = [
  { head: "strategy", group: "", cell: (d) => d.strategy, left: true },
  { head: "before", group: "throughput (req/s)", cell: (d) => whole(d.throughput.before) },
  { head: "during", group: "throughput (req/s)", cell: (d) => whole(d.throughput.during) },
  { head: "after", group: "throughput (req/s)", cell: (d) => whole(d.throughput.after) },
  { head: "during / before", group: "throughput (req/s)", cell: (d) => fixed(d.throughput.ratio, 2) },
  { head: "before", group: "latency p50 / p99 / max (ms)", cell: (d) => latencyCell(d.latency.before) },
  { head: "during", group: "latency p50 / p99 / max (ms)", cell: (d) => latencyCell(d.latency.during) },
  { head: "after", group: "latency p50 / p99 / max (ms)", cell: (d) => latencyCell(d.latency.after) },
  { head: "mean (min..max)", group: "update H-G (ms)", cell: (d) => durationCell(d.duration) },
  { head: "bound", group: "update H-G (ms)", cell: (d) => short(d.duration.bound) },
  { head: "nominal bound", group: "update H-G (ms)", cell: (d) => short(d.duration.nominalBound) },
  { head: "/ bound", group: "update H-G (ms)", cell: (d) => (Number.isFinite(d.duration.min) ? `${fixed(d.duration.ratioToBound, 2)}x` : DASH) },
  { head: "mean / worst", group: "blocked (ms per node)", cell: (d) => `${short(d.blocked.meanPerNode)} / ${short(d.blocked.maxPerNode)}` },
  { head: "control msgs", group: "cost (per update)", cell: (d) => short(d.controlMessages) },
  { head: "held", group: "cost (per update)", cell: (d) => short(d.heldMessages) },
  { head: "transformed", group: "cost (per update)", cell: (d) => short(d.transformedMessages) },
  { head: "rolled back", group: "cost (per update)", cell: (d) => short(d.rolledBackEvents) },
  { head: "null reads", group: "wrong (all runs)", cell: (d) => String(d.nullReads), bad: (d) => d.nullReads > 0 },
  { head: "violations", group: "wrong (all runs)", cell: (d) => String(d.violations), bad: (d) => d.violations > 0 },
];

/** Markdown header of a column: its group and its own name ("throughput (req/s) before"). */
function mdHead(c: Column): string {
  if (c.group === "") return c.head;
  if (c.group.startsWith("latency")) return `latency ${c.head} p50 / p99 / max (ms)`;
  if (c.group.startsWith("throughput")) return c.head === "during / before" ? "req/s during / before" : `req/s ${c.head}`;
  if (c.group.startsWith("update")) return c.head === "/ bound" ? "H-G / bound" : c.head === "bound" ? "bound (ms)" : c.head === "nominal bound" ? "nominal bound (ms)" : `H-G ms ${c.head}`;
  if (c.group.startsWith("blocked")) return `blocked ms per node ${c.head}`;
  return c.head;
}

const WALL_COLUMNS: readonly { readonly head: string; readonly cell: (d: StrategyDisruption) => string; readonly left?: boolean }[] = [
  { head: "strategy", cell: (d) => d.strategy, left: true },
  { head: "runs", cell: (d) => String(d.seeds.length) },
  { head: "wall ms per run", cell: (d) => wallMs(d.wallMsPerRun) },
];

/**
 * The figures as markdown: one row per strategy in virtual time, then a small
 * table apart for the wall clock.
 */
export function disruptionTable(results: readonly StrategyDisruption[]): string {
  const virtual = markdownTable(
    COLUMNS.map(mdHead),
    COLUMNS.map((c) => c.left === true),
    results.map((d) => COLUMNS.map((c) => c.cell(d))),
  );
  const wall = markdownTable(
    WALL_COLUMNS.map((c) => c.head),
    WALL_COLUMNS.map((c) => c.left === true),
    results.map((d) => WALL_COLUMNS.map((c) => c.cell(d))),
  );
  return [
    "Virtual time (ms, req/s per virtual second): means over the seeds; latency pooled over the seeds; null reads and violations summed over all runs.",
    "",
    virtual,
    "",
    "Wall clock (simulation speed on this machine, not disruption):",
    "",
    wall,
  ].join("\n");
}

// ---------------------------------------------------------------- the prose

/** One sentence-list per strategy, plain text (each renderer escapes it). */
export function strategySummary(d: StrategyDisruption): string {
  const parts: string[] = [];
  const runs = d.seeds.length;
  const t = d.throughput;
  parts.push(`throughput during the update ${fixed(t.ratio, 2)} of before (${whole(t.before)} → ${whole(t.during)} req/s, ${whole(t.after)} after)`);
  if (!Number.isFinite(d.duration.min)) {
    parts.push("no update finished, so there is no duration");
  } else {
    const spread = d.duration.min === d.duration.max ? "" : ` (${short(d.duration.min)}..${short(d.duration.max)})`;
    const r = d.duration.ratioToBound;
    const vsBound =
      d.duration.bound <= 0
        ? "no lower bound known"
        : r < 1
          ? `${fixed(r, 2)}x the lower bound of ${short(d.duration.bound)} ms (under it: the bound holds for updates that travel the links from the root)`
          : `${fixed(r, 2)}x the lower bound of ${short(d.duration.bound)} ms`;
    const delay = d.duration.channelDelay > 0 ? ` (messages took ${fixed(d.duration.channelDelay, 2)} ms a hop; ${short(d.duration.nominalBound)} ms on an idle network)` : "";
    parts.push(`the update took ${fixed(d.duration.mean, 1)} ms${spread}, ${vsBound}${delay}`);
  }
  parts.push(
    d.blocked.maxPerNode > 0
      ? `nodes stood blocked ${short(d.blocked.meanPerNode)} ms on average, ${short(d.blocked.maxPerNode)} ms at worst`
      : "no node stood blocked",
  );
  const l = d.latency;
  if (l.before.count + l.during.count + l.after.count > 0) {
    parts.push(`latency p50 ${short(l.before.p50)} / ${short(l.during.p50)} / ${short(l.after.p50)} ms and p99 ${short(l.before.p99)} / ${short(l.during.p99)} / ${short(l.after.p99)} ms before / during / after`);
  }
  const cost = [`${short(d.controlMessages)} control messages`];
  if (d.heldMessages > 0) cost.push(`${short(d.heldMessages)} messages held`);
  if (d.transformedMessages > 0) cost.push(`${short(d.transformedMessages)} transformed`);
  if (d.rolledBackEvents > 0) cost.push(`${short(d.rolledBackEvents)} events rolled back`);
  parts.push(`per update: ${cost.join(", ")}`);
  parts.push(
    d.violations === 0 && d.nullReads === 0
      ? "no null reads, no violations"
      : `WRONG: ${d.violations} violation${d.violations === 1 ? "" : "s"} of the invariants and ${d.nullReads} global read${d.nullReads === 1 ? "" : "s"} with null over ${runs} run${runs === 1 ? "" : "s"}`,
  );
  if (d.failedUpdates > 0) parts.push(`${d.failedUpdates} of ${runs} updates failed; the duration and cost figures are over the others`);
  return `${parts.join("; ")}.`;
}

/** The rollback extras, one plain-text line per strategy that kept rollback metadata. */
export function rollbackExtras(results: readonly StrategyDisruption[]): { readonly strategy: string; readonly text: string }[] {
  return results.flatMap((d) =>
    d.rollback === undefined
      ? []
      : [
          {
            strategy: d.strategy,
            text:
              `${short(d.rollback.metadataBytesPerMessage)} bytes of metadata (vector time and send matrix) per message sent while armed; ` +
              `at most ${short(d.rollback.peakCheckpoints)} checkpoints at one node; ` +
              `per update on average ${short(d.rolledBackEvents)} events rolled back, ${short(d.rollback.replayedEvents)} replayed, ${short(d.rollback.orphansDropped)} orphans dropped.`,
          },
        ],
  );
}

const WINDOWS_NOTE =
  "Windows, with L = H - G: before = [G - L, G), during = [G, H], after = (H, H + L]. G is the last instant every node is old, H the instant the last node turned new. " +
  "Throughput counts requests answered in the window per virtual second (mean over the seeds); latency is that of the requests issued in the window (pooled over the seeds). " +
  "The lower bound is the root's eccentricity times the mean delay application messages took before G, send to delivery (channels are FIFO, so under load a message, or a marker, waits behind the ones ahead of it: " +
  "this is longer than the network's configured mean delay, which gives the nominal bound). Blocked: virtual ms from a node's first hold, buffer or freeze to its swap.";

function titleOf(meta: ReportMeta): string {
  return meta.title ?? "Update disruption";
}

function ranLine(results: readonly StrategyDisruption[], meta: ReportMeta): string {
  return (
    `${meta.nodes} nodes × ${meta.entries} entries; seeds ${seedList(meta.seeds)} (${meta.seeds.length} run${meta.seeds.length === 1 ? "" : "s"} per strategy); ` +
    `strategies: ${results.map((d) => d.strategy).join(", ")}; date: ${meta.date}.`
  );
}

/** The full markdown report. */
export function disruptionMarkdown(results: readonly StrategyDisruption[], meta: ReportMeta): string {
  const out: string[] = [];
  out.push(`# ${escapeMarkdown(titleOf(meta))}`, "");
  out.push(escapeMarkdown(ranLine(results, meta)), "");
  out.push(WINDOWS_NOTE, ""); // constant text, markdown-safe as written
  out.push("## Figures", "", disruptionTable(results), "");
  out.push("## Per strategy", "");
  for (const d of results) out.push(`**${escapeMarkdown(d.strategy)}**: ${escapeMarkdown(strategySummary(d))}`, "");
  const extras = rollbackExtras(results);
  if (extras.length > 0) {
    out.push("## Rollback extras", "");
    for (const x of extras) out.push(`- **${escapeMarkdown(x.strategy)}**: ${escapeMarkdown(x.text)}`);
    out.push("");
  }
  return out.join("\n");
}

// ---------------------------------------------------------------- charts

/** About `count` round ticks from 0 to at least `max` (steps of 1, 2 or 5 x 10^k). */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag);
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    const v = Math.round(i * step * 1e6) / 1e6;
    ticks.push(v);
    if (v >= max) break;
  }
  return ticks;
}

interface ChartKind {
  readonly key: "throughput" | "latency";
  readonly title: string;
  readonly yLabel: string;
  readonly series: string;
  readonly color: string;
  readonly value: (p: TimelinePoint) => number | null;
}

const THROUGHPUT: ChartKind = {
  key: "throughput",
  title: "throughput",
  yLabel: "req/s",
  series: "answered req/s (10 ms bins)",
  color: "#1f77b4",
  value: (p) => p.throughput,
};

const LATENCY: ChartKind = {
  key: "latency",
  title: "median latency",
  yLabel: "ms",
  series: "median latency of answers in the bin",
  color: "#d9480f",
  value: (p) => p.p50,
};

const W = 570;
const H = 240;
const M = { left: 58, right: 18, top: 58, bottom: 42 };

/** One chart's plot area: virtual ms to x, the chart's value to y. */
interface Plot {
  readonly pw: number;
  readonly ph: number;
  readonly xMax: number;
  readonly yMax: number;
  readonly x: (t: number) => number;
  readonly y: (v: number) => number;
}

function plotOf(xTicks: readonly number[], yTicks: readonly number[]): Plot {
  const xMax = xTicks[xTicks.length - 1] as number;
  const yMax = yTicks[yTicks.length - 1] as number;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  return { pw, ph, xMax, yMax, x: (t) => M.left + (t / xMax) * pw, y: (v) => M.top + ph - (v / yMax) * ph };
}

function chartSvg(d: StrategyDisruption, kind: ChartKind, xTicks: readonly number[], yTicks: readonly number[]): string {
  const p = plotOf(xTicks, yTicks);
  const label = `${d.strategy}: ${kind.title} over virtual time`;
  return [
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(label)}" data-strategy="${escapeHtml(d.strategy)}" data-chart="${kind.key}">`,
    `<title>${escapeHtml(label)}</title>`,
    // update window shading, behind everything
    ...windowBands(d.timeline, p),
    ...axes(kind, p, xTicks, yTicks),
    ...series(d.timeline, kind, p),
    ...markers(d.timeline, p),
    ...legend(kind),
    "</svg>",
  ].join("\n");
}

/** The measurement windows: before [G - L, G), during [G, H], after (H, H + L]. */
function windowBands(tl: StrategyDisruption["timeline"], p: Plot): string[] {
  if (!Number.isFinite(tl.g) || !Number.isFinite(tl.h)) return [];
  const l = Math.max(tl.h - tl.g, 1);
  const band = (cls: string, from: number, to: number): string[] => {
    const a = Math.max(0, Math.min(p.xMax, from));
    const b = Math.max(0, Math.min(p.xMax, to));
    return b > a ? [`<rect class="${cls}" x="${short(p.x(a))}" y="${M.top}" width="${short(Math.max(0.5, p.x(b) - p.x(a)))}" height="${p.ph}"/>`] : [];
  };
  return [...band("side-window", tl.g - l, tl.g), ...band("side-window", tl.h, tl.h + l), ...band("window", tl.g, tl.h)];
}

/** Grid, ticks, axes and their labels. */
function axes(kind: ChartKind, p: Plot, xTicks: readonly number[], yTicks: readonly number[]): string[] {
  const o: string[] = [];
  for (const v of yTicks) {
    o.push(`<line class="grid" x1="${M.left}" x2="${M.left + p.pw}" y1="${short(p.y(v))}" y2="${short(p.y(v))}"/>`);
    o.push(`<text class="tick" x="${M.left - 6}" y="${short(p.y(v) + 4)}" text-anchor="end">${escapeHtml(short(v, 2))}</text>`);
  }
  for (const t of xTicks) {
    o.push(`<line class="tickmark" x1="${short(p.x(t))}" x2="${short(p.x(t))}" y1="${M.top + p.ph}" y2="${M.top + p.ph + 5}"/>`);
    o.push(`<text class="tick" x="${short(p.x(t))}" y="${M.top + p.ph + 17}" text-anchor="middle">${escapeHtml(short(t, 2))}</text>`);
  }
  o.push(`<line class="axis" x1="${M.left}" x2="${M.left + p.pw}" y1="${M.top + p.ph}" y2="${M.top + p.ph}"/>`);
  o.push(`<line class="axis" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + p.ph}"/>`);
  o.push(`<text class="axis-label" x="${M.left + p.pw / 2}" y="${H - 6}" text-anchor="middle">virtual time (ms)</text>`);
  o.push(`<text class="axis-label" transform="translate(14 ${M.top + p.ph / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(kind.yLabel)}</text>`);
  return o;
}

/** The series: a point at each bin's middle; bins without a value break the line, and a point alone is a dot. */
function series(tl: StrategyDisruption["timeline"], kind: ChartKind, p: Plot): string[] {
  const segments: string[][] = [];
  let current: string[] = [];
  for (const point of tl.points) {
    const v = kind.value(point);
    if (v === null || !Number.isFinite(v)) {
      if (current.length > 0) segments.push(current);
      current = [];
      continue;
    }
    current.push(`${short(p.x(point.t + tl.bin / 2))},${short(p.y(Math.min(v, p.yMax)))}`);
  }
  if (current.length > 0) segments.push(current);
  const path = segments
    .filter((s) => s.length > 1)
    .map((s) => `M${s.join("L")}`)
    .join("");
  const o = path !== "" ? [`<path class="series" d="${path}" stroke="${kind.color}"/>`] : [];
  for (const s of segments) {
    if (s.length !== 1) continue;
    const [cx, cy] = (s[0] as string).split(",");
    o.push(`<circle class="dot" cx="${cx}" cy="${cy}" r="2.2" fill="${kind.color}"/>`);
  }
  return o;
}

/** G and H: G labelled to the left of its line, H to the right, so close ones do not collide. */
function markers(tl: StrategyDisruption["timeline"], p: Plot): string[] {
  const marker = (which: "g" | "h", t: number): string[] => {
    const xm = short(p.x(t));
    const anchor = which === "g" ? "end" : "start";
    const dx = which === "g" ? -3 : 3;
    return [
      `<line class="marker ${which}" data-t="${escapeHtml(t)}" x1="${xm}" x2="${xm}" y1="${M.top - 4}" y2="${M.top + p.ph}"/>`,
      `<text class="marker-label ${which}" x="${short(p.x(t) + dx)}" y="${M.top - 6}" text-anchor="${anchor}">${escapeHtml(`${which.toUpperCase()} ${short(t)}`)}</text>`,
    ];
  };
  const hasG = Number.isFinite(tl.g);
  const hasH = Number.isFinite(tl.h);
  if (!hasG && !hasH) return [`<text class="tick" x="${M.left + p.pw / 2}" y="${M.top - 6}" text-anchor="middle">update failed: no G, no H</text>`];
  return [...(hasG ? marker("g", tl.g) : []), ...(hasH ? marker("h", tl.h) : [])];
}

/** Above the plot: the series and the markers, then the windows. */
function legend(kind: ChartKind): string[] {
  const ly = 15;
  const ly2 = 31;
  const lm = M.left + 290;
  return [
    `<line x1="${M.left}" x2="${M.left + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${kind.color}" stroke-width="2"/>`,
    `<text class="legend" x="${M.left + 23}" y="${ly}">${escapeHtml(kind.series)}</text>`,
    `<line class="marker" x1="${lm + 6}" x2="${lm + 6}" y1="${ly - 11}" y2="${ly + 3}"/>`,
    `<text class="legend" x="${lm + 12}" y="${ly}">G, H: update start, end</text>`,
    `<rect class="window" x="${M.left}" y="${ly2 - 10}" width="18" height="12"/>`,
    `<text class="legend" x="${M.left + 23}" y="${ly2}">during: G..H</text>`,
    `<rect class="side-window" x="${M.left + 110}" y="${ly2 - 10}" width="18" height="12"/>`,
    `<text class="legend" x="${M.left + 133}" y="${ly2}">before, after: windows as long as H - G</text>`,
  ];
}

// ---------------------------------------------------------------- the page

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:20px 24px;max-width:1200px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e3e6ea;padding-bottom:3px}
h3{font-size:15px;margin:18px 0 4px}
p.meta{color:#444;margin:4px 0}
p.note{color:#555;font-size:12.5px;max-width:1100px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
.scroll{overflow-x:auto}
th,td{border:1px solid #d5d9de;padding:3px 4px}
td{white-space:nowrap}
th{font-size:11.5px}
th{background:#f3f5f7;font-weight:600}
thead tr.groups th{background:#e8ecf0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.name{font-weight:600}
td.bad{color:#b00020;font-weight:600;background:#fff0f0}
p.summary{margin:6px 0;max-width:1100px}
p.summary.bad strong{color:#b00020}
.charts{display:flex;flex-wrap:wrap;gap:10px 18px}
figure{margin:0}
figcaption{font-size:12px;color:#555;margin-left:${M.left}px}
svg.chart{background:#fff;border:1px solid #e3e6ea}
svg.chart text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:#333}
svg.chart .tick{fill:#555}
svg.chart .axis-label{fill:#333;font-size:11.5px}
svg.chart .grid{stroke:#edf0f2;stroke-width:1}
svg.chart .axis,svg.chart .tickmark{stroke:#777;stroke-width:1}
svg.chart .series{fill:none;stroke-width:1.6;stroke-linejoin:round}
svg.chart .window{fill:#f5b041;fill-opacity:0.2}
svg.chart .side-window{fill:#8fa8c8;fill-opacity:0.14}
svg.chart .marker{stroke:#6b4f00;stroke-width:1.3;stroke-dasharray:4 3}
svg.chart .marker-label{fill:#6b4f00;font-weight:600}
`;

function htmlTable(results: readonly StrategyDisruption[]): string {
  const o: string[] = ["<table class=\"figures\">", "<thead>", "<tr class=\"groups\">"];
  // upper header row: column groups
  for (let i = 0; i < COLUMNS.length; ) {
    const g = (COLUMNS[i] as Column).group;
    let j = i;
    while (j + 1 < COLUMNS.length && (COLUMNS[j + 1] as Column).group === g) j++;
    o.push(g === "" ? `<th rowspan="2">${escapeHtml((COLUMNS[i] as Column).head)}</th>` : `<th colspan="${j - i + 1}">${escapeHtml(g)}</th>`);
    i = j + 1;
  }
  o.push("</tr>", "<tr>");
  for (const c of COLUMNS) if (c.group !== "") o.push(`<th>${escapeHtml(c.head)}</th>`);
  o.push("</tr>", "</thead>", "<tbody>");
  for (const d of results) {
    o.push(`<tr data-strategy="${escapeHtml(d.strategy)}">`);
    for (const c of COLUMNS) {
      const cls = [c.left === true ? "name" : "num", c.bad?.(d) === true ? "bad" : ""].filter((s) => s !== "").join(" ");
      o.push(`<td class="${cls}">${escapeHtml(c.cell(d))}</td>`);
    }
    o.push("</tr>");
  }
  o.push("</tbody>", "</table>");
  return o.join("\n");
}

function htmlWallTable(results: readonly StrategyDisruption[]): string {
  const o: string[] = ["<table class=\"wall\">", "<thead><tr>"];
  for (const c of WALL_COLUMNS) o.push(`<th>${escapeHtml(c.head)}</th>`);
  o.push("</tr></thead>", "<tbody>");
  for (const d of results) {
    o.push("<tr>");
    for (const c of WALL_COLUMNS) o.push(`<td class="${c.left === true ? "name" : "num"}">${escapeHtml(c.cell(d))}</td>`);
    o.push("</tr>");
  }
  o.push("</tbody>", "</table>");
  return o.join("\n");
}

/** The shared scales: the same x (virtual ms) and the same y per kind of chart for every strategy. */
function scales(results: readonly StrategyDisruption[]): { x: number[]; throughput: number[]; latency: number[] } {
  let xMax = 0;
  let tMax = 0;
  let lMax = 0;
  for (const d of results) {
    const tl = d.timeline;
    for (const p of tl.points) {
      xMax = Math.max(xMax, p.t + tl.bin);
      tMax = Math.max(tMax, p.throughput);
      if (p.p50 !== null) lMax = Math.max(lMax, p.p50);
    }
    if (Number.isFinite(tl.h)) xMax = Math.max(xMax, tl.h);
  }
  return { x: niceTicks(xMax, 8), throughput: niceTicks(tMax, 5), latency: niceTicks(lMax, 5) };
}

/** The full report as one self-contained HTML page (inline CSS and SVG; no script, no external resource). */
export function disruptionHtml(results: readonly StrategyDisruption[], meta: ReportMeta): string {
  const title = titleOf(meta);
  const sc = scales(results);
  const o: string[] = [];
  o.push("<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', `<title>${escapeHtml(title)}</title>`, `<style>${CSS}</style>`, "</head>", "<body>");
  o.push(`<h1>${escapeHtml(title)}</h1>`);
  o.push(`<p class="meta">${escapeHtml(ranLine(results, meta))}</p>`);
  o.push(`<p class="note">${escapeHtml(WINDOWS_NOTE)}</p>`);
  o.push("<h2>Figures (virtual time)</h2>");
  o.push(`<p class="note">${escapeHtml("ms and req/s of virtual time: means over the seeds; latency pooled over the seeds; null reads and violations summed over all runs.")}</p>`);
  o.push(`<div class="scroll">${htmlTable(results)}</div>`);
  o.push("<h2>Per strategy</h2>");
  for (const d of results) {
    const bad = d.violations > 0 || d.nullReads > 0;
    o.push(`<p class="summary${bad ? " bad" : ""}"><strong>${escapeHtml(d.strategy)}</strong>: ${escapeHtml(strategySummary(d))}</p>`);
  }
  const extras = rollbackExtras(results);
  if (extras.length > 0) {
    o.push("<h2>Rollback extras</h2>", "<ul>");
    for (const x of extras) o.push(`<li><strong>${escapeHtml(x.strategy)}</strong>: ${escapeHtml(x.text)}</li>`);
    o.push("</ul>");
  }
  o.push("<h2>Over virtual time</h2>");
  o.push(
    `<p class="note">${escapeHtml(
      "The first seed's run of each strategy, in 10 ms bins of virtual time: requests answered in the bin (per virtual second) and their median latency. Every chart of a kind has the same axes, so strategies compare at a glance.",
    )}</p>`,
  );
  for (const d of results) {
    o.push(`<section class="strategy" data-strategy="${escapeHtml(d.strategy)}">`);
    o.push(`<h3>${escapeHtml(d.strategy)}</h3>`);
    o.push('<div class="charts">');
    for (const [kind, y] of [
      [THROUGHPUT, sc.throughput],
      [LATENCY, sc.latency],
    ] as const) {
      o.push(`<figure>${chartSvg(d, kind, sc.x, y)}<figcaption>${escapeHtml(`${d.strategy}: ${kind.title} (seed ${d.seeds[0] ?? DASH})`)}</figcaption></figure>`);
    }
    o.push("</div>", "</section>");
  }
  o.push("<h2>Wall clock</h2>");
  o.push(`<p class="note">${escapeHtml("Wall-clock ms per run on this machine: simulation speed, not disruption (the first runs of a process may include JIT warm-up).")}</p>`);
  o.push(htmlWallTable(results));
  o.push("</body>", "</html>", "");
  return o.join("\n");
}
