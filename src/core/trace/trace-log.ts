import type { AppEnvelope } from "../envelope.js";
import type { MessageId, NodeId } from "../ids.js";
import type { TraceEvent } from "./trace-event.js";

/**
 * The simulator's trace as it is recorded: columns, not objects. A send and a
 * delivery, the two events of every message and most of any trace, are kept
 * as columns (kind, time, epoch; node, other end, message id): recording one
 * allocates nothing, and keeps no envelope (nor its body) alive.
 * Every other event is kept as the object it is. `events()` builds the event
 * objects the first time they are asked for and keeps them: what a caller
 * sees is the same array, of the same objects, with the same keys in the same
 * order, as an array of objects pushed one by one would be.
 *
 * Why: a traced run used to allocate and keep one object per event, millions
 * of them, all surviving the young generation, and the garbage collector's
 * copying of them was most of the cost of tracing (issue 17).
 */
export class TraceLog {
  private kinds = new Uint8Array(1024);
  private times = new Float64Array(1024);
  private epochs = new Float64Array(1024);
  /** Three slots an event: (node, the other end, message id) for a send or a delivery; (event, -, -) for any other. */
  private readonly refs: unknown[] = [];
  private count = 0;
  private readonly built: TraceEvent[] = [];

  /** Events recorded (built or not). */
  get length(): number {
    return this.count;
  }

  push(ev: TraceEvent): void {
    const i = this.slot();
    this.kinds[i] = OBJECT;
    this.refs.push(ev, undefined, undefined);
  }

  /** `env.from` sent `env` at `t` (its trace event: { kind: "send", t, node: from, to, msg: id, epoch }). */
  send(t: number, env: AppEnvelope): void {
    const i = this.slot();
    this.kinds[i] = SEND;
    this.times[i] = t;
    this.epochs[i] = env.epoch;
    this.refs.push(env.from, env.to, env.id);
  }

  /** `env.to` executed `env` at `t` (its trace event: { kind: "deliver", t, node: to, from, msg: id, epoch }). */
  deliver(t: number, env: AppEnvelope): void {
    const i = this.slot();
    this.kinds[i] = DELIVER;
    this.times[i] = t;
    this.epochs[i] = env.epoch;
    this.refs.push(env.to, env.from, env.id);
  }

  /** Every event recorded, in order, as objects (built from the columns on first ask, then kept). */
  events(): readonly TraceEvent[] {
    const { refs, built, kinds, times, epochs } = this;
    for (let i = built.length; i < this.count; i++) {
      const kind = kinds[i];
      const node = refs[3 * i] as NodeId;
      if (kind === OBJECT) {
        built.push(node as unknown as TraceEvent);
        continue;
      }
      const t = times[i] as number;
      const other = refs[3 * i + 1] as NodeId;
      const msg = refs[3 * i + 2] as MessageId;
      const epoch = epochs[i] as number;
      built.push(kind === SEND ? { kind: "send", t, node, to: other, msg, epoch } : { kind: "deliver", t, node, from: other, msg, epoch });
    }
    return built;
  }

  /** The index of the next event, the columns grown when full. */
  private slot(): number {
    const i = this.count++;
    if (i === this.kinds.length) this.grow();
    return i;
  }

  private grow(): void {
    const n = this.kinds.length * 2;
    const kinds = new Uint8Array(n);
    kinds.set(this.kinds);
    this.kinds = kinds;
    const times = new Float64Array(n);
    times.set(this.times);
    this.times = times;
    const epochs = new Float64Array(n);
    epochs.set(this.epochs);
    this.epochs = epochs;
  }
}

const OBJECT = 0;
const SEND = 1;
const DELIVER = 2;
