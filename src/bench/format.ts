/**
 * Every figure and table the benchmarks and the CLI print goes through here,
 * so that one number reads the same in a terminal table, a markdown report
 * and an HTML page. Nothing here reads the clock or the environment.
 */

/** What a figure that could not be measured (NaN, infinite) reads as. */
export const DASH = "–";

/** Rounded to `digits` decimals, trailing zeros dropped: 31.2857 -> "31.3", 85 -> "85", 8.04 -> "8". */
export function short(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return DASH;
  const p = 10 ** digits;
  const r = Math.round(x * p) / p;
  return String(r === 0 ? 0 : r);
}

/** Exactly `digits` decimals: ratios ("0.82"), means ("86.0"). */
export function fixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return DASH;
  const s = x.toFixed(digits);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** Whole numbers: throughput in req/s. */
export function whole(x: number): string {
  return short(x, 0);
}

/** Wall-clock ms: one decimal under 100, whole above. */
export function wallMs(x: number): string {
  return Math.abs(x) >= 100 ? whole(x) : short(x, 1);
}

/** A count with thousands separators: 2,001,000 (the same on every machine, whatever its locale). */
export function count(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : DASH;
}

/** "1..20", "1, 4, 7", "1..3, 9". */
export function seedList(seeds: readonly number[]): string {
  const s = [...new Set(seeds)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === (s[j] as number) + 1) j++;
    parts.push(j - i >= 2 ? `${s[i]}..${s[j]}` : s.slice(i, j + 1).join(", "));
    i = j + 1;
  }
  return parts.join(", ");
}

/** The project's one HTML escape (the viz's): reports and diagrams escape alike. */
export { escapeHtml } from "../viz/escape.js";

/** Text for markdown (table cells included): markdown and HTML punctuation backslash-escaped, one line. */
export function escapeMarkdown(x: unknown): string {
  return String(x)
    .replace(/[\r\n]+/g, " ")
    .replace(/[\\`*_[\]<>|&~]/g, (c) => `\\${c}`);
}

/** A markdown table; `left` marks the columns aligned left (the others are figures, aligned right). */
export function markdownTable(heads: readonly string[], left: readonly boolean[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
  return [line(heads.map(escapeMarkdown)), line(left.map((l) => (l ? "---" : "---:"))), ...rows.map((r) => line(r.map(escapeMarkdown)))].join("\n");
}

/** A plain-text table for a terminal: columns padded to their widest cell, numbers right-aligned. */
export function plainTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^[-–\d.,/ ]+$/.test(r[i] ?? "")));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
