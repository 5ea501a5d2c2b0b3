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
  /** Full chunks and the one being filled: fixed-size, so that growing never copies what is recorded. */
  private readonly chunks: Chunk[] = [];
  private chunk: Chunk = newChunk();
  /** Events in the chunk being filled. */
  private fill = 0;
  private readonly built: TraceEvent[] = [];

  /** Events recorded (built or not). */
  get length(): number {
    return this.chunks.length * CHUNK + this.fill;
  }

  push(ev: TraceEvent): void {
    const c = this.slot();
    const i = this.fill++;
    c.kinds[i] = OBJECT;
    c.refs[3 * i] = ev;
  }

  /** `env.from` sent `env` at `t` (its trace event: { kind: "send", t, node: from, to, msg: id, epoch }). */
  send(t: number, env: AppEnvelope): void {
    const c = this.slot();
    const i = this.fill++;
    c.kinds[i] = SEND;
    c.times[i] = t;
    c.epochs[i] = env.epoch;
    const r = 3 * i;
    c.refs[r] = env.from;
    c.refs[r + 1] = env.to;
    c.refs[r + 2] = env.id;
  }

  /** `env.to` executed `env` at `t` (its trace event: { kind: "deliver", t, node: to, from, msg: id, epoch }). */
  deliver(t: number, env: AppEnvelope): void {
    const c = this.slot();
    const i = this.fill++;
    c.kinds[i] = DELIVER;
    c.times[i] = t;
    c.epochs[i] = env.epoch;
    const r = 3 * i;
    c.refs[r] = env.to;
    c.refs[r + 1] = env.from;
    c.refs[r + 2] = env.id;
  }

  /** Every event recorded, in order, as objects (built from the columns on first ask, then kept). */
  events(): readonly TraceEvent[] {
    const built = this.built;
    const total = this.length;
    for (let n = built.length; n < total; n++) {
      const k = Math.floor(n / CHUNK);
      const c = k < this.chunks.length ? (this.chunks[k] as Chunk) : this.chunk;
      built.push(eventAt(c, n - k * CHUNK));
    }
    return built;
  }

  /** The chunk with room for one more event. */
  private slot(): Chunk {
    if (this.fill === CHUNK) {
      this.chunks.push(this.chunk);
      this.chunk = newChunk();
      this.fill = 0;
    }
    return this.chunk;
  }
}

/** Events a chunk holds. */
const CHUNK = 16_384;

interface Chunk {
  readonly kinds: Uint8Array;
  readonly times: Float64Array;
  readonly epochs: Float64Array;
  /** Three slots an event: (node, the other end, message id) for a send or a delivery; (event, -, -) for any other. */
  readonly refs: unknown[];
}

function newChunk(): Chunk {
  return { kinds: new Uint8Array(CHUNK), times: new Float64Array(CHUNK), epochs: new Float64Array(CHUNK), refs: new Array<unknown>(3 * CHUNK).fill(undefined) };
}

function eventAt(c: Chunk, i: number): TraceEvent {
  const kind = c.kinds[i];
  const first = c.refs[3 * i];
  if (kind === OBJECT) return first as TraceEvent;
  const t = c.times[i] as number;
  const node = first as NodeId;
  const other = c.refs[3 * i + 1] as NodeId;
  const msg = c.refs[3 * i + 2] as MessageId;
  const epoch = c.epochs[i] as number;
  return kind === SEND ? { kind: "send", t, node, to: other, msg, epoch } : { kind: "deliver", t, node, from: other, msg, epoch };
}

const OBJECT = 0;
const SEND = 1;
const DELIVER = 2;
