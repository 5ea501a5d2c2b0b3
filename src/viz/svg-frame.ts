import { escapeHtml } from "./escape.js";
import { CONTROL_LANE, type At, type SpaceTimeModel } from "./model.js";

export const LEFT = 96;
export const RIGHT = 48;
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
  return {
    model,
    px,
    duration,
    laneIds,
    laneIndex,
    width: Math.ceil(x(model.tStart + duration) + RIGHT),
    height: TOP + Math.max(laneIds.length - 1, 0) * LANE_GAP + BOTTOM,
    xEnd: x(model.tEnd),
    x,
    y: (node) => TOP + (laneIndex.get(node) ?? 0) * LANE_GAP,
    shown: (t) => ms(t - origin),
  };
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
