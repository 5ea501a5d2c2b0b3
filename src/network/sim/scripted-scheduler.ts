import { SchedulerError } from "../../core/errors.js";
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
  /** Pending events of each FIFO lane, oldest first; a lane is dropped when it empties. */
  private readonly laneQueues = new Map<string, SimEvent[]>();
  /** Pending events that belong to no lane (timers, deadlines), in scheduling order. */
  private readonly free: SimEvent[] = [];
  private count = 0;
  /** enabled(), kept until the next push or take. */
  private enabledCache: SimEvent[] | undefined;

  constructor(private readonly choose: Chooser = earliestFirst) {}

  get size(): number {
    return this.count;
  }

  push(ev: SimEvent): void {
    const lane = laneOf(ev);
    if (lane === undefined) this.free.push(ev);
    else {
      const q = this.laneQueues.get(lane);
      if (q === undefined) this.laneQueues.set(lane, [ev]);
      else q.push(ev);
    }
    this.count++;
    this.enabledCache = undefined;
  }

  /** Every pending event by FIFO lane, oldest first (lanes in no particular order). */
  lanes(): ReadonlyMap<string, readonly SimEvent[]> {
    return this.laneQueues;
  }

  /** Pending events outside any lane (timers, deadlines). */
  unlaned(): readonly SimEvent[] {
    return this.free;
  }

  enabled(): readonly SimEvent[] {
    if (this.enabledCache !== undefined) return this.enabledCache;
    const out: SimEvent[] = [...this.free];
    for (const q of this.laneQueues.values()) out.push(q[0] as SimEvent);
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
    const ev = this.enabled().find((e) => e.seq === seq);
    if (ev === undefined) {
      let pending: SimEvent | undefined = this.free.find((e) => e.seq === seq);
      for (const q of this.laneQueues.values()) pending ??= q.find((e) => e.seq === seq);
      throw new SchedulerError(
        pending === undefined
          ? `no pending event #${seq}; enabled now: ${this.enabled().map(describeEvent).join("; ") || "none"}`
          : `event ${describeEvent(pending)} is not enabled: an earlier message on its channel must be delivered first (FIFO)`,
      );
    }
    const lane = laneOf(ev);
    if (lane === undefined) this.free.splice(this.free.indexOf(ev), 1);
    else {
      const q = this.laneQueues.get(lane) as SimEvent[];
      q.shift();
      if (q.length === 0) this.laneQueues.delete(lane);
    }
    this.count--;
    this.enabledCache = undefined;
    return ev;
  }
}
