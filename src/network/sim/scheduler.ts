import type { SimEvent } from "./sim-event.js";

/** Picks the next event among the pending ones. The network asks; tests and the explorer decide. */
export interface Scheduler {
  readonly size: number;
  push(ev: SimEvent): void;
  /** The event pop() would return, without removing it. */
  peek(): SimEvent | undefined;
  pop(): SimEvent | undefined;
}

/** A scheduler that lets a caller choose any enabled event (scripted tests, the explorer). */
export interface SteerableScheduler extends Scheduler {
  /** Events that may happen next: the oldest of each FIFO lane, and every timer and deadline. Sorted by (time, seq). */
  enabled(): readonly SimEvent[];
  /** Remove one enabled event, to run it now. */
  take(seq: number): SimEvent;
}

export function isSteerable(s: Scheduler): s is SteerableScheduler {
  return typeof (s as Partial<SteerableScheduler>).enabled === "function";
}
