import { BinaryHeap } from "../../core/binary-heap.js";
import type { Scheduler } from "./scheduler.js";
import type { SimEvent } from "./sim-event.js";

/** The events due at one instant, in seq order (the network numbers events as it pushes them). */
interface Bucket {
  readonly time: number;
  /** Only its order matters to the heap of instants. */
  readonly seq: number;
  readonly events: SimEvent[];
  head: number;
}

/**
 * Events happen in virtual-time order, the delays drawn by the network from its
 * seeded RNG. FIFO per channel holds because the network never schedules a
 * delivery earlier than the previous one on the same channel, and seq breaks ties.
 *
 * A bucket per instant, and a heap of the instants: with delays drawn from a
 * small range of whole milliseconds, thousands of pending events share a few
 * instants, so a push or a pop costs a Map lookup instead of a walk down a
 * heap of every event. Within an instant the events run in the order they were
 * pushed, which is seq order; an event pushed with a smaller seq than the last
 * of its instant (never done by the network) is inserted in place.
 */
export class TimeOrderedScheduler implements Scheduler {
  private readonly instants = new BinaryHeap<Bucket>();
  private readonly buckets = new Map<number, Bucket>();
  private current: Bucket | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(ev: SimEvent): void {
    this.count++;
    let b = this.buckets.get(ev.time);
    if (b === undefined) {
      b = { time: ev.time, seq: ev.seq, events: [ev], head: 0 };
      this.buckets.set(ev.time, b);
      this.instants.push(b);
      if (this.current !== undefined && ev.time < this.current.time) this.current = undefined;
      return;
    }
    const events = b.events;
    const last = events[events.length - 1];
    if (last === undefined || last.seq < ev.seq) {
      events.push(ev);
      return;
    }
    let i = events.length;
    while (i > b.head && (events[i - 1] as SimEvent).seq > ev.seq) i--;
    events.splice(i, 0, ev);
  }

  peek(): SimEvent | undefined {
    const b = this.front();
    return b === undefined ? undefined : b.events[b.head];
  }

  pop(): SimEvent | undefined {
    const b = this.front();
    if (b === undefined) return undefined;
    const events = b.events;
    const ev = events[b.head] as SimEvent;
    // Let the event go now, not when its whole instant is done: a long-lived event costs the garbage collector.
    (events as (SimEvent | undefined)[])[b.head++] = undefined;
    this.count--;
    if (b.head === b.events.length) {
      this.instants.pop();
      this.buckets.delete(b.time);
      this.current = undefined;
    }
    return ev;
  }

  /** The earliest instant's bucket (cached until it empties or an earlier instant arrives). */
  private front(): Bucket | undefined {
    if (this.current === undefined) this.current = this.instants.peek();
    return this.current;
  }
}
