import { BinaryHeap } from "../core/binary-heap.js";
import type { Scheduler } from "./scheduler.js";
import type { SimEvent } from "./sim-event.js";

/**
 * Events happen in virtual-time order, the delays drawn by the network from its
 * seeded RNG. FIFO per channel holds because the network never schedules a
 * delivery earlier than the previous one on the same channel, and seq breaks ties.
 */
export class TimeOrderedScheduler implements Scheduler {
  private readonly heap = new BinaryHeap<SimEvent>();

  get size(): number {
    return this.heap.size;
  }

  push(ev: SimEvent): void {
    this.heap.push(ev);
  }

  peek(): SimEvent | undefined {
    return this.heap.peek();
  }

  pop(): SimEvent | undefined {
    return this.heap.pop();
  }
}
