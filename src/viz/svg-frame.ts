import { escapeHtml } from "./escape.js";
import { type HeaderLayout, layoutHeader, ROW_PX, textWidth, type WantedLabel } from "./header-labels.js";
import { CONTROL_LANE, type At, type SpaceTimeModel } from "./model.js";

export const LEFT = 96;
export const RIGHT = 48;
/** The y of the first lane with one row of header labels; each more row moves the lanes down (Frame.top). */
export const TOP = 84;
export const BOTTOM = 40;
const LANE_GAP = 72;

/** Coordinates rounded to a tenth of a pixel, times to a microsecond: short output, the same bytes for the same trace. */
export const f = (n: number): string => String(Math.round(n * 10) / 10);
export const ms = (n: number): string => String(Math.round(n * 1000) / 1000);

/**
 * A trace from a TCP cluster carries wall-clock times (ms since 1970): its
 * axis and labels count from its first event instead, or every label would be
 * a thirteen-digit number. Simulated traces count from virtual time 0.
 */
const WALL_CLOCK_AFTER = 1e11;
export const timeOrigin = (tStart: number): number => (tStart > WALL_CLOCK_AFTER ? tStart : 0);

export function attrs(a: Record<string, string | number | undefined>): string {
  let out = "";
  for (const [k, v] of Object.entries(a)) if (v !== undefined && v !== "") out += ` ${k}="${escapeHtml(v)}"`;
  return out;
}

/** The diagram's geometry: where a time and a lane are on the page. */
export interface Frame {
  readonly model: SpaceTimeModel;
  /** Pixels per ms. */
  readonly px: number;
  readonly duration: number;
  /** Lanes top to bottom: the coordinator's first when drawn, then the nodes. */
  readonly laneIds: readonly string[];
  readonly laneIndex: ReadonlyMap<string, number>;
  readonly width: number;
  readonly height: number;
  readonly xEnd: number;
  /** The y of the first lane: TOP, plus a row per extra row of header labels. */
  readonly top: number;
  /** The labels above the lanes, placed. */
  readonly header: HeaderLayout;
  x(t: number): number;
  y(node: string): number;
  /** A time as the axis labels it. */
  shown(t: number): string;
}

export function frameOf(model: SpaceTimeModel, pxPerMs: number, maxWidthOption: number): Frame {
  const duration = Math.max(model.tEnd - model.tStart, 1);
  const maxWidth = Math.max(maxWidthOption, LEFT + RIGHT + 100);
  const px = Math.max(1e-4, Math.min(pxPerMs, (maxWidth - LEFT - RIGHT) / duration));
  const x = (t: number): number => LEFT + (t - model.tStart) * px;
  const laneIds = [...(model.controlPlane ? [CONTROL_LANE] : []), ...model.nodes.map((n) => n.id)];
  const laneIndex = new Map<string, number>(laneIds.map((id, i) => [id, i]));
  const origin = timeOrigin(model.tStart);
  const shown = (t: number): string => ms(t - origin);
  const baseWidth = Math.ceil(x(model.tStart + duration) + RIGHT);
  const header = layoutHeader(headerLabels(model, x, shown), LEFT, baseWidth - 4);
  const top = TOP + header.extraRows * ROW_PX;
  return {
    model,
    px,
    duration,
    laneIds,
    laneIndex,
    width: Math.max(baseWidth, Math.ceil(header.minRight + 4)),
    height: top + Math.max(laneIds.length - 1, 0) * LANE_GAP + BOTTOM,
    xEnd: x(model.tEnd),
    top,
    header,
    x,
    y: (node) => top + (laneIndex.get(node) ?? 0) * LANE_GAP,
    shown,
  };
}

/** Each update's label at the start of its window, and the note where a cut trace stops (ending there). */
function headerLabels(model: SpaceTimeModel, x: (t: number) => number, shown: (t: number) => string): WantedLabel[] {
  const wanted: WantedLabel[] = model.updates.map((u) => {
    const head = `update #${u.id}: ${u.strategy} from ${u.root},`;
    const when = `${shown(u.t)} → ${u.end ? `${shown(u.end.t)} ms, ${u.end.outcome}` : "not ended"}`;
    return { cls: "update-label", text: `${head} ${when}`, wrapped: [head, when], x: x(u.t) + 4 };
  });
  if (model.eventsDrawn < model.eventsTotal) {
    const text = `trace cut here: first ${model.eventsDrawn} of ${model.eventsTotal} events drawn`;
    wanted.push({ cls: "truncated", text, wrapped: ["trace cut here:", `first ${model.eventsDrawn} of ${model.eventsTotal} events drawn`], x: x(model.tEnd) - 4 - textWidth(text) });
  }
  return wanted;
}

/** A flight from a to b: straight between two lines, a flat arc along one (a new-equivalent made at its receiver, a message to itself). */
export function flightPath(fr: Frame, a: At, b: At): string {
  const x1 = fr.x(a.t);
  const y1 = fr.y(a.node);
  const x2 = fr.x(b.t);
  const y2 = fr.y(b.node);
  if (y1 !== y2) return `M${f(x1)} ${y1}L${f(x2)} ${y2}`;
  return `M${f(x1)} ${y1}Q${f((x1 + x2) / 2)} ${y1 - 12} ${f(x2)} ${y2}`;
}

/** A flight that starts and ends at one point: a dot. */
export function dotPath(fr: Frame, a: At): string {
  return `M${f(fr.x(a.t) - 2.5)} ${fr.y(a.node)}a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0 -5 0`;
}
