import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { readStamped, stampedLine, type StampedEvent } from "../core/trace/stamped.js";
import { LiveswapError } from "../core/errors.js";
import { MAX_FRAME_BYTES } from "../network/tcp/frame.js";
import type { TraceReply } from "../network/tcp/protocol.js";
import { DEFAULT_TRACE_RETENTION, type TraceRetention } from "./cluster-file.js";

/**
 * What a node's trace no longer holds: the oldest segments, deleted by retention. A reader of the trace knows from it
 * that the trace starts later than the node's first life (and by how much); all zero when nothing was dropped.
 */
export interface TraceHorizon {
  readonly droppedSegments: number;
  readonly droppedEvents: number;
  readonly droppedBytes: number;
}

/** Where a commit's trace ends: a segment and the length of it the commit covers (a recovery cuts back to it). */
export interface TraceMark {
  readonly segment: number;
  readonly offset: number;
}

const NOTHING_DROPPED: TraceHorizon = { droppedSegments: 0, droppedEvents: 0, droppedBytes: 0 };
/** Events are written in batches: one write per this many bytes (or per turn of the event loop). */
const FLUSH_BYTES = 65536;

/** Where a node's segments live; one implementation on disk, one in memory (a cluster without `trace:`). */
interface Segments {
  /** Segment numbers held, oldest first. */
  list(): number[];
  size(segment: number): number;
  append(segment: number, text: string): void;
  /** The segment's whole text. */
  text(segment: number): string;
  remove(segment: number): void;
  /** What retention dropped so far, and the first segment number a new segment may take. */
  loadHorizon(): { horizon: TraceHorizon; next: number };
  saveHorizon(horizon: TraceHorizon, next: number): void;
  close(): void;
}

const SEGMENT = /^(\d{6,})\.ndjson$/;
const segmentName = (n: number): string => `${String(n).padStart(6, "0")}.ndjson`;

/** A node's segments on disk: `<trace>/<id>.trace/000001.ndjson`, ..., and `horizon.json` (what was dropped). */
class FileSegments implements Segments {
  private fd: { segment: number; fd: number } | undefined;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }
  list(): number[] {
    const out: number[] = [];
    for (const f of readdirSync(this.dir)) {
      const m = SEGMENT.exec(f);
      if (m !== null) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }
  size(segment: number): number {
    const p = join(this.dir, segmentName(segment));
    return existsSync(p) ? statSync(p).size : 0;
  }
  /** Synchronous: a durable node's trace must be in the file (the page cache) before the commit it explains. */
  append(segment: number, text: string): void {
    if (this.fd?.segment !== segment) {
      if (this.fd !== undefined) closeSync(this.fd.fd);
      this.fd = { segment, fd: openSync(join(this.dir, segmentName(segment)), "a") };
    }
    writeSync(this.fd.fd, text);
  }
  text(segment: number): string {
    return readFileSync(join(this.dir, segmentName(segment)), "utf8");
  }
  /** An open reader keeps its descriptor: on Linux the deleted file stays readable until it closes it. */
  open(segment: number): { fd: number; size: number } {
    const fd = openSync(join(this.dir, segmentName(segment)), "r");
    return { fd, size: fstatSync(fd).size };
  }
  remove(segment: number): void {
    if (this.fd?.segment === segment) {
      closeSync(this.fd.fd);
      this.fd = undefined;
    }
    rmSync(join(this.dir, segmentName(segment)), { force: true });
  }
  truncate(segment: number, offset: number): void {
    const p = join(this.dir, segmentName(segment));
    if (existsSync(p) && statSync(p).size > offset) truncateSync(p, offset);
  }
  loadHorizon(): { horizon: TraceHorizon; next: number } {
    const p = join(this.dir, "horizon.json");
    if (!existsSync(p)) return { horizon: NOTHING_DROPPED, next: 1 };
    try {
      const j = JSON.parse(readFileSync(p, "utf8")) as Partial<TraceHorizon & { next: number }>;
      const n = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : 0);
      return { horizon: { droppedSegments: n(j.droppedSegments), droppedEvents: n(j.droppedEvents), droppedBytes: n(j.droppedBytes) }, next: Math.max(1, n(j.next)) };
    } catch {
      // Not ours (edited by hand?): the segment numbers still say where to go on.
      return { horizon: NOTHING_DROPPED, next: 1 };
    }
  }
  /** Written aside, then renamed over: a crash leaves the old horizon or the new one, never half of one. */
  saveHorizon(horizon: TraceHorizon, next: number): void {
    const tmp = join(this.dir, "horizon.json.tmp");
    writeFileSync(tmp, `${JSON.stringify({ ...horizon, next })}\n`);
    renameSync(tmp, join(this.dir, "horizon.json"));
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd.fd);
    this.fd = undefined;
  }
}

/** A node's segments in memory (a cluster without a trace directory): the same bound, the same rotation. */
class MemorySegments implements Segments {
  private readonly segments = new Map<number, { parts: string[]; bytes: number }>();
  private saved = { horizon: NOTHING_DROPPED, next: 1 };
  list(): number[] {
    return [...this.segments.keys()].sort((a, b) => a - b);
  }
  size(segment: number): number {
    return this.segments.get(segment)?.bytes ?? 0;
  }
  append(segment: number, text: string): void {
    let s = this.segments.get(segment);
    if (s === undefined) this.segments.set(segment, (s = { parts: [], bytes: 0 }));
    s.parts.push(text);
    s.bytes += Buffer.byteLength(text);
  }
  text(segment: number): string {
    const s = this.segments.get(segment);
    if (s === undefined) return "";
    // Joined once: later reads and the retention count reuse it.
    const all = s.parts.join("");
    s.parts = [all];
    return all;
  }
  remove(segment: number): void {
    this.segments.delete(segment);
  }
  loadHorizon(): { horizon: TraceHorizon; next: number } {
    return this.saved;
  }
  saveHorizon(horizon: TraceHorizon, next: number): void {
    this.saved = { horizon, next };
  }
  close(): void {}
}

/** The events in an NDJSON text: its line count (every event is one line). */
function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * One node's trace: stamped events appended to rotated segments (files under the cluster's trace directory, else
 * memory), the oldest deleted once the segments hold more than `maxBytes` together, and counted in the horizon so a
 * reader knows where the trace starts. Every life of a node id (restarted, destroyed and created again) appends to
 * the same segments. A durable node writes its events synchronously before a commit (mark) and, recovering, cuts
 * away what the last commit does not cover (open with `cutTo`).
 */
export class NodeTrace {
  private buffer = "";
  private flushScheduled = false;
  private current: number;
  private currentBytes: number;
  private horizonNow: TraceHorizon;
  private next: number;
  /** Bytes of every segment held, the current one included. */
  private held: number;
  private readonly flushAt: number;

  private constructor(
    private readonly segments: Segments,
    private readonly source: string,
    private readonly retention: TraceRetention,
  ) {
    const { horizon, next } = segments.loadHorizon();
    this.horizonNow = horizon;
    const list = segments.list();
    this.current = list.at(-1) ?? next;
    this.next = Math.max(next, this.current + 1);
    this.currentBytes = segments.size(this.current);
    this.held = list.reduce((sum, s) => sum + segments.size(s), 0);
    this.flushAt = Math.min(FLUSH_BYTES, Math.floor(retention.segmentBytes / 4));
  }

  /**
   * `dir`: the cluster's trace directory (the segments go to `<dir>/<id>.trace/`), or undefined to keep them in
   * memory. `cutTo`: a recovering durable node's last committed bookmark (a store record's `mark`).
   */
  static open(o: { readonly dir: string | undefined; readonly id: string; readonly retention?: TraceRetention | undefined; readonly cutTo?: unknown }): NodeTrace {
    const retention = o.retention ?? DEFAULT_TRACE_RETENTION;
    if (o.dir === undefined) return new NodeTrace(new MemorySegments(), o.id, retention);
    const files = new FileSegments(segmentDir(o.dir, o.id));
    cutBack(files, o.dir, o.id, o.cutTo);
    return new NodeTrace(files, o.id, retention);
  }

  /** Buffered: one write per batch of events or per turn of the event loop, not one per event. */
  record(ev: TraceEvent, lc: number): void {
    this.buffer += stampedLine(ev, lc);
    if (this.buffer.length >= this.flushAt) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Write what is buffered: into a new segment if the current one would pass `segmentBytes`, after retention made
   * room for it, so the trace never holds more than `maxBytes`, not even between a write and a deletion.
   */
  flush(): void {
    this.flushScheduled = false;
    if (this.buffer === "") return;
    const text = this.buffer;
    this.buffer = "";
    const bytes = Buffer.byteLength(text);
    if (this.currentBytes > 0 && this.currentBytes + bytes > this.retention.segmentBytes) this.rotate();
    this.retain(bytes);
    this.segments.append(this.current, text);
    this.currentBytes += bytes;
    this.held += bytes;
  }

  /** Flush, and say where the trace ends now: the bookmark a durable node's commit carries (undefined in memory). */
  mark(): { readonly trace: TraceMark } | undefined {
    this.flush();
    if (!(this.segments instanceof FileSegments)) return undefined;
    return { trace: { segment: this.current, offset: this.currentBytes } };
  }

  horizon(): TraceHorizon {
    return this.horizonNow;
  }

  /** Bytes the trace holds now (on disk or in memory), what retention bounds. */
  heldBytes(): number {
    return this.held + Buffer.byteLength(this.buffer);
  }

  /**
   * The trace as NDJSON text in pieces of at most about `maxChars` characters, each ending at a line's end: what
   * `ctl trace` streams. A snapshot of the segments held when it starts (a segment deleted by retention meanwhile
   * is still read: its descriptor is open). The last piece may be shorter; no piece is empty.
   */
  *pieces(maxChars: number): Generator<string> {
    this.flush();
    const list = this.segments.list();
    if (this.segments instanceof FileSegments) {
      const files = this.segments;
      const open = list.map((s) => files.open(s));
      try {
        for (const f of open) yield* splitLines(readAll(f.fd, f.size), maxChars);
      } finally {
        for (const f of open) closeSync(f.fd);
      }
      return;
    }
    const texts = list.map((s) => this.segments.text(s));
    for (const t of texts) yield* splitLines(t, maxChars);
  }

  /**
   * The trace's last `maxBytes` bytes or fewer, whole lines only, in pieces as `pieces` gives them: what a
   * watcher of the last seconds needs (the console), read from the end of the newest segments only.
   */
  *tail(maxBytes: number, pieceChars: number): Generator<string> {
    this.flush();
    const list = this.segments.list();
    const parts: Buffer[] = [];
    let have = 0;
    let cut = false; // read from inside a segment: the first line may be partial
    for (let i = list.length - 1; i >= 0 && have < maxBytes; i--) {
      const s = list[i] as number;
      const want = maxBytes - have;
      let bytes: Buffer;
      if (this.segments instanceof FileSegments) {
        const f = this.segments.open(s);
        try {
          bytes = readBytes(f.fd, Math.max(0, f.size - want), f.size);
          cut = f.size > want;
        } finally {
          closeSync(f.fd);
        }
      } else {
        const all = Buffer.from(this.segments.text(s), "utf8");
        bytes = all.subarray(Math.max(0, all.length - want));
        cut = all.length > want;
      }
      parts.unshift(bytes);
      have += bytes.length;
    }
    let all = Buffer.concat(parts);
    // Counted in bytes, cut at a newline byte: never inside a line, nor inside a multi-byte character.
    if (cut) {
      const nl = all.indexOf(0x0a);
      all = nl < 0 ? Buffer.alloc(0) : all.subarray(nl + 1);
    }
    yield* splitLines(all.toString("utf8"), pieceChars);
  }

  /** The whole trace as events (tests, and a node's own reads). */
  events(): StampedEvent[] {
    return [...this.pieces(1 << 24)].flatMap((p) => readStamped(p, this.source));
  }

  close(): void {
    this.flush();
    this.segments.close();
  }

  private rotate(): void {
    this.current = this.next++;
    this.currentBytes = 0;
  }

  /** Delete the oldest segments (never the current one) until `incoming` more bytes fit in `maxBytes`; count them. */
  private retain(incoming: number): void {
    if (this.held + incoming <= this.retention.maxBytes) return;
    let { droppedSegments, droppedEvents, droppedBytes } = this.horizonNow;
    const doomed: number[] = [];
    let held = this.held;
    for (const s of this.segments.list()) {
      if (held + incoming <= this.retention.maxBytes || s === this.current) break;
      const text = this.segments.text(s);
      const bytes = Buffer.byteLength(text);
      doomed.push(s);
      held -= bytes;
      droppedSegments++;
      droppedEvents += countLines(text);
      droppedBytes += bytes;
    }
    // The horizon first, then the deletions: a crash between them may count a segment twice (it is dropped again
    // later), never drop one uncounted, which would make a reader take a cut trace for a whole one.
    this.horizonNow = { droppedSegments, droppedEvents, droppedBytes };
    this.segments.saveHorizon(this.horizonNow, this.next);
    for (const s of doomed) this.segments.remove(s);
    this.held = held;
  }
}

/** Where a node's segments are kept under the cluster's trace directory. */
export function segmentDir(traceDir: string, id: string): string {
  return join(traceDir, `${id}.trace`);
}

/**
 * A recovering durable node's trace is cut back to its last commit's bookmark: the lines of steps that did not
 * commit (written just before a commit that never happened) go, in the bookmark's segment and in every later one
 * (the trace may have rotated after the commit). A bookmark whose segment retention deleted keeps no later segment.
 * A number is the bookmark of a liveswap that wrote one file per node (`<id>.ndjson`): that file is cut as before.
 */
function cutBack(files: FileSegments, traceDir: string, id: string, mark: unknown): void {
  const at = typeof mark === "object" && mark !== null ? (mark as { trace?: unknown }).trace : undefined;
  if (typeof at === "number") {
    const legacy = join(traceDir, `${id}.ndjson`);
    if (existsSync(legacy) && statSync(legacy).size > at) truncateSync(legacy, at);
    return;
  }
  if (typeof at !== "object" || at === null) return;
  const { segment, offset } = at as Partial<TraceMark>;
  if (typeof segment !== "number" || typeof offset !== "number") return;
  for (const s of files.list()) if (s > segment) files.remove(s);
  files.truncate(segment, offset);
  // The next segment must still sort after the bookmark's, whatever the horizon file says.
  const { horizon, next } = files.loadHorizon();
  if (next <= segment) files.saveHorizon(horizon, segment + 1);
}

/** Every event of a node's segments on disk (a destroyed node's, read by the control plane), and its horizon. */
export function readSegments(traceDir: string, id: string): { readonly events: StampedEvent[]; readonly horizon: TraceHorizon } | undefined {
  const dir = segmentDir(traceDir, id);
  if (!existsSync(dir)) return undefined;
  const files = new FileSegments(dir);
  const events = files.list().flatMap((s) => readStamped(files.text(s), id));
  return { events, horizon: files.loadHorizon().horizon };
}

function readAll(fd: number, size: number): string {
  return readBytes(fd, 0, size).toString("utf8");
}

/** Bytes from..to of a file. */
function readBytes(fd: number, from: number, to: number): Buffer {
  const buf = Buffer.allocUnsafe(to - from);
  let at = 0;
  while (at < to - from) {
    const n = readSync(fd, buf, at, to - from - at, from + at);
    if (n === 0) break;
    at += n;
  }
  return buf.subarray(0, at);
}

/** Pieces of `text` of at most about `maxChars` characters, cut after a newline (a longer line is a piece alone). */
function* splitLines(text: string, maxChars: number): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + maxChars);
    if (end < text.length) {
      const nl = text.lastIndexOf("\n", end - 1);
      end = nl >= start ? nl + 1 : text.indexOf("\n", end) + 1 || text.length;
    }
    yield text.slice(start, end);
    start = end;
  }
}

/** A piece of a streamed trace: well below the frame limit, even after JSON escapes its quotes. */
export const TRACE_PIECE_CHARS = Math.min(1 << 20, Math.floor(MAX_FRAME_BYTES / 4));

/** A node's trace did not arrive whole (pieces missing, or not a trace): the message names the node. */
export class IncompleteTraceError extends LiveswapError {
  readonly code = "INCOMPLETE_TRACE";
  constructor(
    readonly node: string,
    detail: string,
  ) {
    super(`the trace of node "${node}" arrived incomplete (${detail}); run the command again`);
  }
}

/** A command's answer that came in pieces ("trace-chunk" frames) before its reply. */
export class StreamedReply {
  constructor(
    readonly value: unknown,
    readonly pieces: readonly string[],
  ) {}
}

/**
 * The events of a "trace" or "destroy" answer, its NDJSON pieces and its horizon, checked to have come whole. The
 * pieces stay apart: joined, a trace of a few hundred MiB would pass the longest string JavaScript can make.
 */
export function streamedTrace(node: string, answer: unknown): { readonly events: StampedEvent[]; readonly pieces: readonly string[]; readonly horizon: TraceHorizon } {
  const pieces = answer instanceof StreamedReply ? answer.pieces : [];
  const value = answer instanceof StreamedReply ? answer.value : answer;
  const reply = value as Partial<TraceReply> | null;
  if (reply === null || typeof reply !== "object" || typeof reply.chunks !== "number") throw new IncompleteTraceError(node, "its reply is not a trace reply (a node of another liveswap version?)");
  if (reply.chunks !== pieces.length) throw new IncompleteTraceError(node, `${pieces.length} of ${reply.chunks} pieces came`);
  const events = pieces.flatMap((p) => readStamped(p, node));
  return { events, pieces, horizon: reply.horizon ?? NOTHING_DROPPED };
}

/** Where a merged trace starts when retention dropped the oldest part of some nodes' traces. */
export interface TraceCut {
  /** The Lamport time the trace starts at: the latest first retained event among the nodes that dropped some. */
  readonly lc: number;
  /** Each node that dropped part of its trace: what it dropped, and the Lamport time of its first retained event. */
  readonly dropped: readonly (TraceHorizon & { readonly node: string; readonly firstLc: number })[];
  /** Events retained by some node but older than `lc`, left out (another node's part of that time is gone). */
  readonly skipped: number;
}

export interface ClusterTrace {
  readonly events: TraceEvent[];
  /** Absent when every node's trace is whole: the trace is the run's from its start. */
  readonly horizon?: TraceCut;
}

/**
 * The cluster's merged trace, from the horizon where every node's retained trace is complete.
 *
 * Why a horizon: each node's retained trace is a suffix of its whole trace (retention deletes its oldest segments,
 * nothing else). A merged trace of suffixes that start at different times would show, between them, a message
 * delivered by one node whose send another node dropped (a delivery without a send), or the reverse. Let H be the
 * largest Lamport time of a first retained event among the nodes that dropped anything: from H on, every node's
 * trace holds every event it recorded, so the events with lc >= H are exactly the whole run's merged trace from H
 * (merge order is Lamport order). Events before H are left out and counted (`skipped`); the trace then starts
 * mid-run, and what began before H (a message sent before it, an update started before it, a node's epoch set
 * before it) is judged by the checker's `horizon` mode, which counts what it cannot judge instead of calling it a
 * violation (see CheckOptions.horizon).
 *
 * `segments`: each node's retained trace with its horizon; `other`: events from sources retention never touches
 * (the control plane's file, destroyed nodes' files without a trace directory). Duplicates (same source and Lamport
 * time) are taken once.
 */
export function mergeAtHorizon(
  segments: readonly { readonly node: string; readonly events: readonly StampedEvent[]; readonly horizon: TraceHorizon }[],
  other: readonly StampedEvent[],
): ClusterTrace {
  const all: StampedEvent[] = [];
  const have = new Set<string>();
  for (const e of [...segments.flatMap((s) => s.events), ...other]) {
    const key = `${e.source}\n${e.lc}`;
    if (have.has(key)) continue;
    have.add(key);
    all.push(e);
  }
  const dropped = segments
    .filter((s) => s.horizon.droppedSegments > 0 && s.events.length > 0)
    .map((s) => ({ node: s.node, ...s.horizon, firstLc: s.events.reduce((m, e) => Math.min(m, e.lc), Number.POSITIVE_INFINITY) }));
  if (dropped.length === 0) return { events: mergeStamped(all) };
  const lc = Math.max(...dropped.map((d) => d.firstLc));
  const kept = all.filter((e) => e.lc >= lc);
  return { events: mergeStamped(kept), horizon: { lc, dropped, skipped: all.length - kept.length } };
}

/** Lamport order, ties by source then by each source's own order: a total order consistent with causality. */
export function mergeStamped(events: readonly StampedEvent[]): TraceEvent[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((x, y) => x.e.lc - y.e.lc || (x.e.source < y.e.source ? -1 : x.e.source > y.e.source ? 1 : x.i - y.i))
    .map((x) => {
      const { lc: _lc, ...ev } = x.e.ev as TraceEvent & { lc?: number };
      return ev as TraceEvent;
    });
}
