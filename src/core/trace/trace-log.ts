import type { AppEnvelope } from "../envelope.js";
import { messageId, type MessageId, type NodeId } from "../ids.js";
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
 *
 * A message id as a node host makes it, "<sender>.<n>", is kept as its number
 * n (the sender is in the event already) and written out again when built:
 * keeping the string kept one young string a message alive, each store of it
 * into an old chunk a remembered-set entry, and its copying out of the young
 * generation cost tracing about a fifth of its time. Any other id (a
 * transformed message's "<id>~1", an id with a leading zero) is kept as is.
 */
export class TraceLog {
  /** Full chunks and the one being filled: fixed-size, so that growing never copies what is recorded. */
  private readonly chunks: Chunk[] = [];
  /** The first chunk is small (a system of a few events, as the explorer makes by the thousand, costs little). */
  private chunk: Chunk = newChunk(FIRST_CHUNK);
  /** Events in the chunk being filled, and in the full chunks. */
  private fill = 0;
  private full = 0;
  private readonly built: TraceEvent[] = [];
  /** Where events() stopped building: a chunk (an index into chunks, or chunks.length for the one being filled) and an event in it. */
  private builtChunk = 0;
  private builtAt = 0;

  /** Events recorded (built or not). */
  get length(): number {
    return this.full + this.fill;
  }

  push(ev: TraceEvent): void {
    const c = this.slot();
    const i = this.fill++;
    c.kinds[i] = OBJECT;
    c.refs[3 * i] = ev;
  }

  /** `env.from` sent `env` at `t` (its trace event: { kind: "send", t, node: from, to, msg: id, epoch }). */
  send(t: number, env: AppEnvelope): void {
    this.envelope(SEND, t, env.from, env.to, env);
  }

  /** `env.to` executed `env` at `t` (its trace event: { kind: "deliver", t, node: to, from, msg: id, epoch }). */
  deliver(t: number, env: AppEnvelope): void {
    this.envelope(DELIVER, t, env.to, env.from, env);
  }

  private envelope(kind: number, t: number, node: NodeId, other: NodeId, env: AppEnvelope): void {
    const c = this.slot();
    const i = this.fill++;
    c.kinds[i] = kind;
    c.times[i] = t;
    c.epochs[i] = env.epoch;
    const r = 3 * i;
    c.refs[r] = node;
    c.refs[r + 1] = other;
    const n = numberOf(env.id, env.from);
    if (n < 0) c.refs[r + 2] = env.id;
    else c.seqs[i] = n;
  }

  /** Every event recorded, in order, as objects (built from the columns on first ask, then kept). */
  events(): readonly TraceEvent[] {
    const built = this.built;
    for (;;) {
      const current = this.builtChunk === this.chunks.length;
      const c = current ? this.chunk : (this.chunks[this.builtChunk] as Chunk);
      const end = current ? this.fill : c.size;
      for (let i = this.builtAt; i < end; i++) built.push(eventAt(c, i));
      this.builtAt = end;
      if (current) return built;
      this.builtChunk++;
      this.builtAt = 0;
    }
  }

  /** The chunk with room for one more event. */
  private slot(): Chunk {
    if (this.fill === this.chunk.size) {
      this.chunks.push(this.chunk);
      this.full += this.fill;
      // Chunks double up to CHUNK: a long run allocates a few large ones, a short one a small one.
      this.chunk = newChunk(Math.min(CHUNK, 2 * this.chunk.size));
      this.fill = 0;
    }
    return this.chunk;
  }
}

/** Events the largest chunk holds, and the first. */
const CHUNK = 16_384;
const FIRST_CHUNK = 64;

interface Chunk {
  readonly size: number;
  readonly kinds: Uint8Array;
  readonly times: Float64Array;
  readonly epochs: Float64Array;
  /** A send's or delivery's message id as a number, where refs keeps no id (see the class's note). */
  readonly seqs: Float64Array;
  /** Three slots an event: (node, the other end, message id) for a send or a delivery; (event, -, -) for any other. */
  readonly refs: unknown[];
}

function newChunk(size: number): Chunk {
  return { size, kinds: new Uint8Array(size), times: new Float64Array(size), epochs: new Float64Array(size), seqs: new Float64Array(size), refs: new Array<unknown>(3 * size).fill(undefined) };
}

function eventAt(c: Chunk, i: number): TraceEvent {
  const kind = c.kinds[i];
  const first = c.refs[3 * i];
  if (kind === OBJECT) return first as TraceEvent;
  const t = c.times[i] as number;
  const node = first as NodeId;
  const other = c.refs[3 * i + 1] as NodeId;
  const kept = c.refs[3 * i + 2] as MessageId | undefined;
  const msg = kept ?? messageId(`${kind === SEND ? node : other}.${c.seqs[i] as number}`);
  const epoch = c.epochs[i] as number;
  return kind === SEND ? { kind: "send", t, node, to: other, msg, epoch } : { kind: "deliver", t, node, from: other, msg, epoch };
}

/**
 * n where `id` is exactly `${from}.${n}` as a host writes it (digits, no leading zero, a safe integer), else -1: the
 * id is then written back the same from (from, n).
 */
export function numberOf(id: string, from: string): number {
  const k = from.length;
  const end = id.length;
  // 15 digits at most: every such n is a safe integer, printed back digit for digit.
  if (end <= k + 1 || end > k + 16 || id.charCodeAt(k) !== 46 || !id.startsWith(from)) return -1;
  if (id.charCodeAt(k + 1) === 48 && end > k + 2) return -1;
  let n = 0;
  for (let j = k + 1; j < end; j++) {
    const d = id.charCodeAt(j) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

const OBJECT = 0;
const SEND = 1;
const DELIVER = 2;
