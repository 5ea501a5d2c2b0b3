import type { Envelope } from "../../core/envelope.js";
import { InvalidOptionError } from "../../core/errors.js";
import type { NodeId, RequestId } from "../../core/ids.js";
import { Rng } from "../../core/rng.js";
import type { Network } from "../../core/network.js";
import type { Scheduler } from "./scheduler.js";
import { deadlineEvent, deliverEvent, requestEvent, timerEvent, type SimEvent } from "./sim-event.js";

export interface DelayRange {
  readonly min: number;
  readonly max: number;
}

/**
 * Virtual time, seeded random delays, FIFO per channel. Each message's delay is
 * drawn in [min, max] (whole ms when both bounds are whole); a delivery never
 * overtakes an earlier one on the same channel. Which event runs next is the
 * scheduler's choice.
 */
export class SimulatedNetwork implements Network {
  private clock = 0;
  private seq = 0;
  private readonly rng: Rng;
  private readonly wholeDelays: boolean;
  /**
   * Last scheduled delivery time per channel. A link's two channels are slots
   * 2 x incarnation (+1 for the direction from the larger id): no lookup by name
   * per message. The control plane (link 0) is keyed by sender then receiver.
   */
  private readonly lastOnLink: number[] = [];
  private readonly lastOnPlane = new Map<NodeId, Map<NodeId, number>>();

  constructor(
    seed: number,
    private readonly delay: DelayRange,
    readonly scheduler: Scheduler,
  ) {
    if (!Number.isFinite(delay.min) || !Number.isFinite(delay.max) || delay.min < 0 || delay.max < delay.min) {
      throw new InvalidOptionError("delay", `expected 0 <= min <= max (finite ms), got ${JSON.stringify(delay)}`);
    }
    this.rng = new Rng(seed);
    this.wholeDelays = Number.isInteger(delay.min) && Number.isInteger(delay.max);
  }

  now(): number {
    return this.clock;
  }

  /** The number the next scheduled event gets: events scheduled from now on have it or a higher one. */
  get nextSeq(): number {
    return this.seq;
  }

  get pendingCount(): number {
    return this.scheduler.size;
  }

  /** One message's delay, drawn from the seed (a moving node's record travels this long). */
  drawDelay(): number {
    const { min, max } = this.delay;
    return this.wholeDelays ? this.rng.int(min, max) : min + this.rng.float() * (max - min);
  }

  transmit(env: Envelope): void {
    let time = this.clock + this.drawDelay();
    // A coordinator's envelopes name the link of its instance (its numbering), not one of the topology's links.
    const slot = linkSlot(env);
    if (slot !== undefined) {
      const last = this.lastOnLink[slot];
      if (last !== undefined && last > time) time = last;
      this.lastOnLink[slot] = time;
    } else {
      let out = this.lastOnPlane.get(env.from);
      if (out === undefined) {
        out = new Map();
        this.lastOnPlane.set(env.from, out);
      }
      const last = out.get(env.to);
      if (last !== undefined && last > time) time = last;
      out.set(env.to, time);
    }
    this.scheduler.push(deliverEvent(time, this.seq++, env));
  }

  startTimer(node: NodeId, incarnation: number, delayMs: number, tag: string, timer: number): void {
    this.scheduler.push(timerEvent(this.clock + delayMs, this.seq++, node, tag, incarnation, timer));
  }

  /** An outside client's request reaches its node now (after anything already due now). */
  injectRequest(node: NodeId, request: RequestId, body: unknown): void {
    this.scheduler.push(requestEvent(this.clock, this.seq++, node, request, body));
  }

  deadline(delayMs: number, label: string, run: () => void): void {
    this.scheduler.push(deadlineEvent(this.clock + delayMs, this.seq++, label, run));
  }

  /** Remove the next event and move the clock to it (never backwards). */
  next(): SimEvent | undefined {
    const ev = this.scheduler.pop();
    if (ev !== undefined && ev.time > this.clock) this.clock = ev.time;
    return ev;
  }

  /** Run a chosen event's clock effect (scripted stepping). */
  advanceTo(time: number): void {
    if (time > this.clock) this.clock = time;
  }

  nextTime(): number | undefined {
    return this.scheduler.peek()?.time;
  }
}

/**
 * The direction of a topology link an envelope travels, as an index (2 x link + direction), or undefined for an
 * envelope off the links (a coordinator's, whose link numbers its own instance, or link 0).
 */
export function linkSlot(env: Envelope): number | undefined {
  if (env.link <= 0 || (env.kind === "control" && env.plane)) return undefined;
  return 2 * env.link + (env.from < env.to ? 0 : 1);
}
