/**
 * The labels above the lanes (each update's "update #1: cut from r6, 300 → 345
 * ms, completed", the "trace cut here" note), placed so that none runs off the
 * drawing or over another: a label near the right edge moves left, one wider
 * than the drawing wraps at its comma, and labels that would overlap go on
 * rows of their own, the header growing by a row each time.
 *
 * SVG text has no layout, and the width of a text is only known in a browser,
 * so widths are estimated from the length: CHAR_PX is above what Chromium
 * measures for these labels (about 6.2 px per character at 11 px semibold;
 * the browser test checks the estimate against getComputedTextLength).
 */

/** Estimated px per character of an 11 px semibold label (an upper bound: a label must not be wider than its room). */
export const CHAR_PX = 6.9;
/** Between the baselines of two rows. */
export const ROW_PX = 14;
/** The baseline of the first row. */
export const FIRST_BASELINE = 18;
/** The least room between two labels on a row. */
const GAP_PX = 12;

export interface WantedLabel {
  readonly cls: string;
  /** The text on one line, and the lines it becomes if it must wrap. */
  readonly text: string;
  readonly wrapped: readonly string[];
  /** Where the label would start: its x if it fits there. */
  readonly x: number;
}

export interface PlacedLabel {
  readonly cls: string;
  readonly lines: readonly string[];
  readonly x: number;
  /** Estimated width of the widest line. */
  readonly width: number;
  /** Baseline of each line. */
  readonly ys: readonly number[];
}

export interface HeaderLayout {
  readonly labels: readonly PlacedLabel[];
  /** Rows used beyond the first: the lanes move down by this many ROW_PX. */
  readonly extraRows: number;
  /** The right edge the drawing needs so that every label fits (0 when the drawing's own width suffices). */
  readonly minRight: number;
}

export const textWidth = (s: string): number => s.length * CHAR_PX;

/** Lines and x of one label between `left` and `right`: as it is, moved left, or wrapped (then moved left). */
function fit(w: WantedLabel, left: number, right: number): { lines: readonly string[]; x: number; width: number } {
  const room = right - left;
  const one = textWidth(w.text);
  const lines = one <= room || w.wrapped.length < 2 ? [w.text] : w.wrapped;
  const width = Math.max(...lines.map(textWidth));
  return { lines, width, x: Math.max(left, Math.min(w.x, right - width)) };
}

/** Place the labels between x = left and x = right, each on the first row where it overlaps nothing. */
export function layoutHeader(wanted: readonly WantedLabel[], left: number, right: number): HeaderLayout {
  const rowEnds: number[] = []; // per row: the right end of its last label
  const labels: PlacedLabel[] = [];
  let minRight = 0;
  for (const w of [...wanted].sort((a, b) => a.x - b.x)) {
    const { lines, x, width } = fit(w, left, right);
    if (x + width > right) minRight = Math.max(minRight, x + width);
    const row = firstFreeRows(rowEnds, x, lines.length);
    for (let i = 0; i < lines.length; i++) rowEnds[row + i] = x + width;
    labels.push({ cls: w.cls, lines, x, width, ys: lines.map((_, i) => FIRST_BASELINE + (row + i) * ROW_PX) });
  }
  return { labels, extraRows: Math.max(0, rowEnds.length - 1), minRight };
}

/** The first row from which `n` rows are free at x (a wrapped label takes consecutive rows). */
function firstFreeRows(rowEnds: readonly number[], x: number, n: number): number {
  for (let row = 0; ; row++) {
    let free = true;
    for (let i = row; i < row + n; i++) if ((rowEnds[i] ?? -Infinity) + GAP_PX > x) free = false;
    if (free) return row;
  }
}
