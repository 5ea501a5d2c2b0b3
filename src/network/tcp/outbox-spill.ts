import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InternalError, InvalidOptionError } from "../../core/errors.js";

/**
 * Bounded outboxes (DESIGN.md, "Faults and durability"): a channel keeps at most `memoryBytes` of frames in memory;
 * beyond that its frames spill, in order, to files on disk under a quota shared by every channel of the node, and
 * they are read back as the neighbour's acknowledgements free room. The node never stops reading its sockets: a
 * frozen neighbour costs the sender disk, not memory, and only new outside requests are refused (`busy`) when the
 * quota is near.
 */
export interface OutboxOptions {
  /** Frame bytes a channel keeps in memory (sent and unacknowledged, or waiting for the socket) before it spills. */
  readonly memoryBytes: number;
  /** Bytes of spill files the node's channels may hold together on disk. */
  readonly diskQuotaBytes: number;
}

/** 4 MiB of frames per neighbour in memory: enough to keep a loopback or LAN link busy while acks come back. */
export const DEFAULT_OUTBOX_MEMORY_BYTES = 4 * 1024 * 1024;
/** 1 GiB of spill files per node. */
export const DEFAULT_OUTBOX_DISK_QUOTA_BYTES = 1024 * 1024 * 1024;
/** New outside requests are refused once the spill files fill this fraction of the quota (room is left for the work already accepted). */
export const BUSY_FRACTION = 0.75;
/**
 * A channel's spill is a chain of segment files; a segment read to its end is deleted, so disk use follows the backlog
 * down. What counts against the quota is the files' size (read records included until their segment goes): segments
 * of 1/16 of the quota (64 KiB to 8 MiB) keep that slack small.
 */
function segmentBytes(quota: number): number {
  return Math.min(8 * 1024 * 1024, Math.max(64 * 1024, Math.floor(quota / 16)));
}
/** Appends are gathered and written this many bytes at a time; reads take this much at a time. */
const IO_CHUNK = 64 * 1024;
/** A record's header: the frame's length (u32) and its sequence number (f64). */
const HEADER = 12;

export function outboxOptions(o: Partial<OutboxOptions> | undefined): OutboxOptions {
  const out = { memoryBytes: o?.memoryBytes ?? DEFAULT_OUTBOX_MEMORY_BYTES, diskQuotaBytes: o?.diskQuotaBytes ?? DEFAULT_OUTBOX_DISK_QUOTA_BYTES };
  for (const k of ["memoryBytes", "diskQuotaBytes"] as const) {
    if (!Number.isInteger(out[k]) || out[k] < 0) throw new InvalidOptionError(`outbox.${k}`, `must be a whole number of bytes >= 0, got ${out[k]}`);
  }
  return out;
}

/** One frame of a channel's outbox: its sequence number and its bytes as they go on the wire. */
export interface OutFrame {
  readonly seq: number;
  readonly frame: Buffer;
}

/** Why the node refuses new outside requests: the neighbour whose outbox fills the quota most. */
export interface BusyState {
  readonly waitingOn: string;
  readonly spilledBytes: number;
  readonly quotaBytes: number;
}

/**
 * The node's spill area and its quota, shared by its channels. `dir`: the node's store directory's spill folder
 * (emptied at start: a durable node's outbox is rebuilt from its store's record, never from a spill), or, without a
 * store, a temporary directory made at the first spill. Everything is deleted at close.
 */
export class SpillBudget {
  readonly options: OutboxOptions;
  readonly segmentBytes: number;
  private used = 0;
  private dirMade: string | undefined;
  private readonly perPeer = new Map<string, number>();
  /** Channels that hold frames in memory beyond the quota (never lost, never refused: traffic already accepted). */
  private readonly overQuota = new Set<string>();
  private nextFile = 0;

  constructor(
    options: Partial<OutboxOptions> | undefined,
    private readonly dir: string | undefined,
    private readonly label: string,
    readonly log: (line: string) => void = () => undefined,
  ) {
    this.options = outboxOptions(options);
    this.segmentBytes = segmentBytes(this.options.diskQuotaBytes);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }

  /** Bytes of spill files on disk now. */
  get usedBytes(): number {
    return this.used;
  }

  spilledTo(peer: string): number {
    return this.perPeer.get(peer) ?? 0;
  }

  /** A new spill file's path (the directory made on first use). */
  newFile(peer: string): string {
    if (this.dirMade === undefined) {
      if (this.dir !== undefined) {
        mkdirSync(this.dir, { recursive: true });
        this.dirMade = this.dir;
      } else this.dirMade = mkdtempSync(join(tmpdir(), `liveswap-spill-${this.label.replace(/[^A-Za-z0-9_.-]/g, "_")}-`));
    }
    return join(this.dirMade, `${encodeURIComponent(peer)}.${this.nextFile++}.spill`);
  }

  /** Take `bytes` of the quota for `peer`'s channel; false if the quota has no room for them. */
  reserve(peer: string, bytes: number): boolean {
    if (this.used + bytes > this.options.diskQuotaBytes) return false;
    this.used += bytes;
    this.perPeer.set(peer, this.spilledTo(peer) + bytes);
    return true;
  }

  release(peer: string, bytes: number): void {
    this.used -= bytes;
    const left = this.spilledTo(peer) - bytes;
    if (left > 0) this.perPeer.set(peer, left);
    else this.perPeer.delete(peer);
  }

  /** `peer`'s channel keeps frames in memory beyond the quota (true), or no longer does (false). */
  setOverQuota(peer: string, over: boolean): void {
    if (over && !this.overQuota.has(peer)) {
      this.log(`outbox to "${peer}": the spill quota (${this.options.diskQuotaBytes} bytes) is full; frames already accepted are kept in memory until "${peer}" acknowledges`);
    }
    if (over) this.overQuota.add(peer);
    else this.overQuota.delete(peer);
  }

  /** Set when new outside requests must be refused: the spill is near its quota (BUSY_FRACTION), or past it. */
  busy(): BusyState | undefined {
    if (this.used < BUSY_FRACTION * this.options.diskQuotaBytes && this.overQuota.size === 0) return undefined;
    let waitingOn = [...this.overQuota][0] ?? "";
    let most = -1;
    for (const [peer, bytes] of this.perPeer) {
      if (bytes > most) {
        most = bytes;
        waitingOn = peer;
      }
    }
    return { waitingOn, spilledBytes: this.used, quotaBytes: this.options.diskQuotaBytes };
  }

  /** Delete the spill area (the node stops; its channels closed their files). */
  close(): void {
    if (this.dirMade !== undefined) rmSync(this.dirMade, { recursive: true, force: true });
    this.dirMade = undefined;
  }
}

interface Segment {
  readonly path: string;
  readonly fd: number;
  /** Bytes written to the file, and gathered appends not written yet. */
  written: number;
  pending: Buffer[];
  pendingBytes: number;
  /** The next record to read (file offset), and a chunk read ahead from the file. */
  readAt: number;
  chunk: Buffer;
  chunkAt: number;
}

/**
 * One channel's spilled frames, first in first out, in segment files of the node's spill area. Every byte on disk
 * counts against the budget's quota until its segment is read to the end (deleted) or the queue empties (its file
 * cut back to nothing).
 */
export class SpillQueue {
  private readonly segments: Segment[] = [];
  private count = 0;

  constructor(
    private readonly budget: SpillBudget,
    private readonly peer: string,
  ) {}

  get length(): number {
    return this.count;
  }

  /** Append a frame if the quota has room for it; false (nothing written) if not. */
  append(f: OutFrame): boolean {
    const size = HEADER + f.frame.length;
    if (!this.budget.reserve(this.peer, size)) return false;
    let seg = this.segments[this.segments.length - 1];
    if (seg === undefined || seg.written + seg.pendingBytes >= this.budget.segmentBytes) seg = this.openSegment();
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32BE(f.frame.length, 0);
    header.writeDoubleBE(f.seq, 4);
    seg.pending.push(header, f.frame);
    seg.pendingBytes += size;
    if (seg.pendingBytes >= IO_CHUNK) this.flush(seg);
    this.count++;
    return true;
  }

  /** The oldest frame, removed from the queue. */
  shift(): OutFrame | undefined {
    const seg = this.segments[0];
    if (seg === undefined || this.count === 0) return undefined;
    if (seg.readAt >= seg.written + seg.pendingBytes) {
      this.dropSegment();
      return this.shift();
    }
    const header = this.read(seg, HEADER);
    const len = header.readUInt32BE(0);
    const seq = header.readDoubleBE(4);
    const frame = Buffer.from(this.read(seg, len)); // a copy: the chunk it came from is reused
    this.count--;
    if (this.count === 0) this.reset();
    else if (seg.readAt >= seg.written + seg.pendingBytes && this.segments.length > 1) this.dropSegment();
    return { seq, frame };
  }

  /** The oldest frame's sequence number, left in the queue. */
  firstSeq(): number | undefined {
    const seg = this.segments[0];
    if (seg === undefined || this.count === 0) return undefined;
    if (seg.readAt >= seg.written + seg.pendingBytes) {
      this.dropSegment();
      return this.firstSeq();
    }
    const at = seg.readAt;
    const seq = this.read(seg, HEADER).readDoubleBE(4);
    seg.readAt = at;
    return seq;
  }

  /** Every frame still queued, in order, without removing them (for a report of what was lost). */
  peekAll(): OutFrame[] {
    const out: OutFrame[] = [];
    for (const seg of this.segments) {
      this.flush(seg);
      let at = seg.readAt;
      const header = Buffer.allocUnsafe(HEADER);
      while (at < seg.written) {
        readSync(seg.fd, header, 0, HEADER, at);
        const frame = Buffer.allocUnsafe(header.readUInt32BE(0));
        readSync(seg.fd, frame, 0, frame.length, at + HEADER);
        out.push({ seq: header.readDoubleBE(4), frame });
        at += HEADER + frame.length;
      }
    }
    return out;
  }

  /** Forget every frame and delete the files. */
  clear(): void {
    while (this.segments.length > 0) this.dropSegment();
    this.count = 0;
  }

  private openSegment(): Segment {
    const path = this.budget.newFile(this.peer);
    const seg: Segment = { path, fd: openSync(path, "w+"), written: 0, pending: [], pendingBytes: 0, readAt: 0, chunk: Buffer.alloc(0), chunkAt: 0 };
    this.segments.push(seg);
    return seg;
  }

  private flush(seg: Segment): void {
    if (seg.pendingBytes === 0) return;
    const bytes = seg.pending.length === 1 ? (seg.pending[0] as Buffer) : Buffer.concat(seg.pending, seg.pendingBytes);
    let off = 0;
    while (off < bytes.length) off += writeSync(seg.fd, bytes, off, bytes.length - off, seg.written + off);
    seg.written += seg.pendingBytes;
    seg.pending = [];
    seg.pendingBytes = 0;
  }

  /** `n` bytes at the segment's read position, through the read-ahead chunk. */
  private read(seg: Segment, n: number): Buffer {
    let at = seg.readAt - seg.chunkAt;
    if (at < 0 || at + n > seg.chunk.length) {
      if (seg.readAt + n > seg.written) this.flush(seg);
      const size = Math.min(Math.max(n, IO_CHUNK), seg.written - seg.readAt);
      const chunk = Buffer.allocUnsafe(size);
      for (let got = 0; got < size; ) {
        const r = readSync(seg.fd, chunk, got, size - got, seg.readAt + got);
        if (r === 0) throw new InternalError(`spill file ${seg.path} is shorter than what was written to it (was it changed by another program?)`);
        got += r;
      }
      seg.chunk = chunk;
      seg.chunkAt = seg.readAt;
      at = 0;
    }
    seg.readAt += n;
    return seg.chunk.subarray(at, at + n);
  }

  /** The queue is empty: keep one segment, cut back to nothing, its bytes given back to the quota. */
  private reset(): void {
    while (this.segments.length > 1) this.dropSegment();
    const seg = this.segments[0];
    if (seg === undefined) return;
    this.budget.release(this.peer, seg.written + seg.pendingBytes);
    ftruncateSync(seg.fd);
    seg.written = 0;
    seg.pending = [];
    seg.pendingBytes = 0;
    seg.readAt = 0;
    seg.chunk = Buffer.alloc(0);
    seg.chunkAt = 0;
  }

  private dropSegment(): void {
    const seg = this.segments.shift();
    if (seg === undefined) return;
    this.budget.release(this.peer, seg.written + seg.pendingBytes);
    closeSync(seg.fd);
    unlinkSync(seg.path);
  }
}
