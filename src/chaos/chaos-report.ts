/**
 * A chaos run's report: markdown (the verdict, the updates, the faults), the same as one HTML page with a timeline
 * (completed global reads per half second, the updates shaded, the faults as bars beneath), and a JSON summary.
 */
import { escapeHtml } from "../viz/escape.js";
import type { ChaosRun } from "./chaos-run.js";
import { answeredGlobalRead } from "./db-load.js";

const n = (x: number): string => x.toLocaleString("en-US");
const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? "-" : n(Math.round(x)));
const rate = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "-");

/** The verdict as rows: what was checked, and what was found. */
export function verdictRows(run: ChaosRun): readonly (readonly [string, string])[] {
  const v = run.verdict;
  const g = v.requests.byKind["global-read"] ?? { issued: 0, answered: 0, nulls: 0, refused: 0, unanswered: 0 };
  const unanswered = Object.values(v.requests.byKind).reduce((s, t) => s + t.unanswered, 0);
  const issued = Object.values(v.requests.byKind).reduce((s, t) => s + t.issued, 0);
  const nullsAfter = v.updates.reduce((s, u) => s + u.nullsAfter, 0);
  return [
    ["merged trace through the checker", `${n(v.checker.events)} events, ${n(v.checker.violations.length)} violation(s)`],
    ["per-channel FIFO (from the trace)", `${n(v.fifo.channels)} channels, ${n(v.fifo.deliveries)} executions, ${n(v.fifo.outOfOrder.length)} out of order`],
    ["exactly-once (from the trace)", `${n(v.exactlyOnce.sent)} messages sent, ${n(v.exactlyOnce.duplicates.length)} executed twice in one life`],
    ["acknowledged writes on every replica", `${n(v.writes.acknowledged)} entries acknowledged, ${n(v.writes.missing.length)} missing (${n(v.writes.indeterminate)} indeterminate)`],
    ["replicas identical at the end", v.replicas.identical ? "yes" : `no: ${v.replicas.divergent.length + v.replicas.unreachable.length} difference(s)`],
    ["null global reads", `${n(g.nulls)} of ${n(g.answered)} answered (${n(nullsAfter)} issued after an update completed)`],
    ["writes dropped by a replica", n(v.writes.dropped)],
    ["unanswered requests", `${n(unanswered)} of ${n(issued)}`],
    ["updates completed", `${v.updates.filter((u) => u.completed).length} of ${v.updates.length}`],
    ["nodes moved to another host (ctl move)", `${n(v.moves.made)} move(s), ${n(v.moves.failed)} failed, ${n(v.moves.misplaced.length)} node(s) not at exactly their last location`],
  ];
}

function updateRows(run: ChaosRun): string[][] {
  return run.verdict.updates.map((u) => {
    const planned = run.updates[u.index]?.planned;
    const faults = run.faults.filter((f) => f.update === u.index).map((f) => f.text);
    return [
      String(u.index + 1),
      planned !== undefined ? `db@${planned.from} -> db@${planned.from + 1}` : "?",
      u.strategy,
      u.root,
      String(u.attempts),
      u.completed ? "yes" : "NO",
      ms(u.requestedAt !== undefined ? u.requestedAt - u.submittedAt : undefined),
      ms(u.startedAt !== undefined && u.requestedAt !== undefined ? u.startedAt - u.requestedAt : undefined),
      ms(u.finishedAt !== undefined && u.startedAt !== undefined ? u.finishedAt - u.startedAt : undefined),
      ms(u.durationMs),
      rate(u.throughputBefore),
      rate(u.throughputDuring),
      u.throughputBefore > 0 ? (u.throughputDuring / u.throughputBefore).toFixed(2) : "-",
      `${ms(u.readLatencyMs.p50)} / ${ms(u.readLatencyMs.max)}`,
      String(u.nullsAfter),
      faults.join("; ") || "none",
    ];
  });
}

const UPDATE_HEADER = ["#", "update", "strategy", "root", "submissions", "completed", "ctl start -> root took it ms", "took -> G ms", "G -> H ms", "took -> completion ms", "reads/s before", "reads/s during", "during / before", "read latency p50 / max ms", "nulls after", "faults that hit it"];

function faultRows(run: ChaosRun): string[][] {
  return run.faults.map((f) => [((f.at - run.startedAt) / 1000).toFixed(1), String(f.update + 1), f.text, ms(f.until !== undefined ? f.until - f.at : undefined), f.error ?? ""]);
}

const FAULT_HEADER = ["t (s)", "update", "fault", "lasted ms", "error"];

function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string): string => c.replace(/\|/g, "\\|");
  return [`| ${header.map(esc).join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`)].join("\n");
}

function title(run: ChaosRun): string {
  return `liveswap chaos, seed ${run.options.seed}: ${run.verdict.ok ? "PASS" : "FAIL"}`;
}

function setting(run: ChaosRun): string {
  const net = run.network === "netns" ? "every node in its own network namespace (veth + bridge; links cut with tc)" : `loopback with a proxy on every link (${run.networkWhy ?? ""})`;
  return `${run.nodes.length} nodes in a line (${run.nodes.join(" - ")}), ${run.updates.length} update(s), ${((run.endedAt - run.startedAt) / 1000).toFixed(0)} s; network: ${net}; links 1-10 ms.`;
}

export function chaosMarkdown(run: ChaosRun): string {
  const v = run.verdict;
  return [
    `# ${title(run)}`,
    "",
    setting(run),
    "",
    "## Verdict",
    "",
    mdTable(["check", "result"], verdictRows(run)),
    "",
    ...(v.findings.length > 0 ? ["## Findings", "", ...v.findings.map((f) => `- ${f}`), ""] : []),
    "## Updates",
    "",
    mdTable(UPDATE_HEADER, updateRows(run)),
    "",
    "## Faults",
    "",
    run.faults.length > 0 ? mdTable(FAULT_HEADER, faultRows(run)) : "none",
    "",
    `Rerun: \`liveswap chaos --seed ${run.options.seed} --nodes ${run.nodes.length} --updates ${run.updates.length}${run.options.moves !== undefined ? ` --moves ${run.options.moves}` : ""}${run.options.strategy !== undefined ? ` --strategy ${run.options.strategy}` : ""}\``,
    "",
  ].join("\n");
}

/** The JSON summary: everything but the load's individual requests. */
export function chaosJson(run: ChaosRun): object {
  const { load, ...rest } = run;
  return { ...rest, load: { requests: load.ops.length, acknowledged: load.acked.size, indeterminate: load.indeterminate, skipped: load.skipped } };
}

function htmlTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

/** Completed global reads per bucket, the updates as bands, the faults as bars in lanes under the chart. */
function timeline(run: ChaosRun): string {
  const W = 960;
  const left = 50;
  const chartH = 160;
  const lane = 16;
  const span = Math.max(1, run.endedAt - run.startedAt);
  const x = (t: number): number => left + ((t - run.startedAt) / span) * (W - left - 10);
  const bucket = 500;
  const counts = new Array<number>(Math.ceil(span / bucket) + 1).fill(0);
  for (const op of run.load.ops)
    if (answeredGlobalRead(op)) {
      const i = Math.floor(((op.doneAt as number) - run.startedAt) / bucket);
      if (i >= 0 && i < counts.length) counts[i] = (counts[i] as number) + 1;
    }
  const top = Math.max(1, ...counts.map((c) => (c * 1000) / bucket));
  const y = (r: number): number => 20 + chartH - (r / top) * chartH;
  const line = counts.map((c, i) => `${i === 0 ? "M" : "L"}${x(run.startedAt + i * bucket + bucket / 2).toFixed(1)},${y((c * 1000) / bucket).toFixed(1)}`).join("");
  const bands = run.verdict.updates.map((u) => {
    const end = u.completedAt ?? run.updates[u.index]?.endedAt ?? u.submittedAt;
    return `<rect class="update" x="${x(u.submittedAt).toFixed(1)}" y="20" width="${Math.max(2, x(end) - x(u.submittedAt)).toFixed(1)}" height="${chartH}"><title>update ${u.index + 1} (${escapeHtml(u.strategy)})</title></rect><text x="${(x(u.submittedAt) + 2).toFixed(1)}" y="14">${u.index + 1}: ${escapeHtml(u.strategy)}</text>`;
  });
  const bars = run.faults.map((f, i) => {
    const yy = 20 + chartH + 24 + i * lane;
    return `<rect class="fault ${f.fault.kind}" x="${x(f.at).toFixed(1)}" y="${yy}" width="${Math.max(3, x(f.until ?? f.at) - x(f.at)).toFixed(1)}" height="${lane - 4}"><title>${escapeHtml(f.text)}</title></rect><text x="${(x(f.until ?? f.at) + 4).toFixed(1)}" y="${yy + 10}">${escapeHtml(f.text)}</text>`;
  });
  const H = 20 + chartH + 30 + run.faults.length * lane + 10;
  return [
    `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="completed global reads per second, updates and faults over time">`,
    ...bands,
    `<path class="series" d="${line}"/>`,
    `<text x="4" y="${y(top) + 4}">${top.toFixed(0)}/s</text><text x="4" y="${y(0)}">0</text>`,
    `<text x="${left}" y="${20 + chartH + 14}">0 s</text><text x="${W - 60}" y="${20 + chartH + 14}">${(span / 1000).toFixed(0)} s</text>`,
    ...bars,
    "</svg>",
  ].join("");
}

const CSS = `body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #d5d9de;padding:3px 8px;text-align:left}th{background:#f3f5f7}
.pass{color:#1e7b34}.fail{color:#b3261e}svg.timeline{background:#fff;border:1px solid #e3e6ea}svg text{font:11px system-ui,sans-serif;fill:#333}
.series{fill:none;stroke:#2b6cb0;stroke-width:1.5}.update{fill:#f5b041;fill-opacity:.25}.fault{fill:#b3261e;fill-opacity:.6}.fault.delay{fill:#8e6bbf}.fault.cut,.fault.isolate{fill:#d9822b}.fault.kill-ctl{fill:#555}`;

export function chaosHtml(run: ChaosRun): string {
  const v = run.verdict;
  return [
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title(run))}</title><style>${CSS}</style></head><body>`,
    `<h1 class="${v.ok ? "pass" : "fail"}">${escapeHtml(title(run))}</h1><p>${escapeHtml(setting(run))}</p>`,
    "<h2>Verdict</h2>",
    htmlTable(["check", "result"], verdictRows(run)),
    v.findings.length > 0 ? `<h2>Findings</h2><ul>${v.findings.map((f) => `<li>${escapeHtml(f)}</li>`).join("")}</ul>` : "",
    "<h2>Timeline</h2><p>Completed global reads per second (half-second buckets); updates shaded from submission to completion; faults beneath.</p>",
    timeline(run),
    "<h2>Updates</h2>",
    htmlTable(UPDATE_HEADER, updateRows(run)),
    "<h2>Faults</h2>",
    htmlTable(FAULT_HEADER, faultRows(run)),
    "</body></html>",
  ].join("\n");
}
