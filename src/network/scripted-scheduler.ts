import { SchedulerError } from "../core/errors.js";
import type { SteerableScheduler } from "./scheduler.js";
import { describeEvent, laneOf, type SimEvent } from "./sim-event.js";

/** Decides which enabled event runs next when nobody steps by hand. */
export type Chooser = (enabled: readonly SimEvent[]) => SimEvent;

/** The default choice: the earliest in virtual time, as the time-ordered scheduler would. */
export const earliestFirst: Chooser = (enabled) => enabled[0] as SimEvent;

/**
 * Lets a test (or the explorer) choose every next event among the enabled ones:
 * the asynchronous model, where any delivery order that keeps each channel FIFO
 * may happen. Virtual time only moves forward: an event chosen early runs late.
 */
export class ScriptedScheduler implements SteerableScheduler {
  private pending: SimEvent[] = [];
  /** enabled(), kept until the next push or take. */
  private enabledCache: SimEvent[] | undefined;

  constructor(private readonly choose: Chooser = earliestFirst) {}

  get size(): number {
    return this.pending.length;
  }

  push(ev: SimEvent): void {
    this.pending.push(ev);
    this.enabledCache = undefined;
  }

  /** Every pending event, enabled or not, in the order they were scheduled. */
  all(): readonly SimEvent[] {
    return this.pending;
  }

  enabled(): readonly SimEvent[] {
    if (this.enabledCache !== undefined) return this.enabledCache;
    const seenLanes = new Set<string>();
    const out: SimEvent[] = [];
    for (const ev of this.pending) {
      const lane = laneOf(ev);
      if (lane !== undefined) {
        if (seenLanes.has(lane)) continue;
        seenLanes.add(lane);
      }
      out.push(ev);
    }
    this.enabledCache = out.sort((a, b) => a.time - b.time || a.seq - b.seq);
    return this.enabledCache;
  }

  peek(): SimEvent | undefined {
    const enabled = this.enabled();
    return enabled.length === 0 ? undefined : this.choose(enabled);
  }

  pop(): SimEvent | undefined {
    const ev = this.peek();
    if (ev === undefined) return undefined;
    return this.take(ev.seq);
  }

  take(seq: number): SimEvent {
    const enabled = this.enabled();
    const ev = enabled.find((e) => e.seq === seq);
    if (ev === undefined) {
      const pending = this.pending.find((e) => e.seq === seq);
      throw new SchedulerError(
        pending === undefined
          ? `no pending event #${seq}; enabled now: ${enabled.map(describeEvent).join("; ") || "none"}`
          : `event ${describeEvent(pending)} is not enabled: an earlier message on its channel must be delivered first (FIFO)`,
      );
    }
    this.pending.splice(this.pending.indexOf(ev), 1);
    this.enabledCache = undefined;
    return ev;
  }
}
