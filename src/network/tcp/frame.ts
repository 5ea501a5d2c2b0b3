import { LiveswapError } from "../../core/errors.js";

/**
 * Length-prefixed frames on a byte stream: a 4-byte big-endian length, then
 * that many bytes. TCP keeps the bytes in order; frames keep the boundaries.
 */
export const MAX_FRAME_BYTES = frameLimit();

/**
 * 64 MiB; for tests only, LIVESWAP_MAX_FRAME_BYTES sets a smaller limit in a process (a test shows a reply or a
 * trace larger than the limit without making 64 MiB of data). Both sides of a connection must agree, as they do
 * with the default: a frame over the receiver's limit closes the connection.
 */
function frameLimit(): number {
  const set = Number(process.env["LIVESWAP_MAX_FRAME_BYTES"]);
  return Number.isInteger(set) && set >= 1024 && set <= 64 * 1024 * 1024 ? set : 64 * 1024 * 1024;
}

/** A frame received with a length over the limit: the connection is closed. */
export class FrameTooLargeError extends LiveswapError {
  readonly code = "FRAME_TOO_LARGE";
  constructor(
    readonly bytes: number,
    readonly limit = MAX_FRAME_BYTES,
  ) {
    super(`a frame of ${bytes} bytes exceeds the ${limit}-byte limit; the peer is not speaking liveswap's protocol or sent a runaway message`);
  }
}

/**
 * A frame this process was about to send is over the limit: nothing is sent, and the one command or message that
 * made it fails (the connection and the process go on). `what` names it.
 */
export class FrameTooLargeToSendError extends LiveswapError {
  readonly code = "FRAME_TOO_LARGE_TO_SEND";
  constructor(
    readonly bytes: number,
    what = "a message",
  ) {
    super(`${what} would take a frame of ${bytes} bytes, over the ${MAX_FRAME_BYTES}-byte frame limit; nothing was sent (send less in one message, or page it)`);
  }
}

/** Throws FrameTooLargeToSendError (nothing written) for a payload over the limit. */
export function encodeFrame(payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_BYTES) throw new FrameTooLargeToSendError(payload.length);
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/**
 * Collects chunks as they come and yields whole frames. A chunk usually holds many frames: each is a view of it
 * (read past with an offset, nothing copied), and chunks are joined only for a frame that spans them.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Where the unread bytes of chunks[0] begin. */
  private offset = 0;
  private buffered = 0;
  /** The largest frame taken (a connection lowers it until the peer's hello: a length prefix is not allocated blindly). */
  maxFrameBytes = MAX_FRAME_BYTES;

  /** A frame begun and not complete: the bytes it has (its length prefix included) and needs; undefined between frames. */
  get partial(): { readonly have: number; readonly need: number } | undefined {
    if (this.buffered === 0) return undefined;
    if (this.buffered < 4) return { have: this.buffered, need: 4 };
    return { have: this.buffered, need: 4 + this.length() };
  }

  /** Add a chunk; returns the frames it completed, in order. Throws FrameTooLargeError on a bad length. */
  push(chunk: Buffer): Buffer[] {
    this.add(chunk);
    const out: Buffer[] = [];
    for (let f = this.next(); f !== undefined; f = this.next()) out.push(f);
    return out;
  }

  /** Add a chunk without taking frames out (next() does, one at a time). */
  add(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next whole frame, or undefined. One at a time, so that a limit raised by one frame (a hello taken) applies
   * to the frames after it in the same chunk. Throws FrameTooLargeError on a length over the limit.
   */
  next(): Buffer | undefined {
    if (this.buffered < 4) return undefined;
    const len = this.length();
    if (len > this.maxFrameBytes) throw new FrameTooLargeError(len, this.maxFrameBytes);
    if (this.buffered < 4 + len) return undefined;
    return this.take(4 + len).subarray(4);
  }

  /** The length prefix of the next frame (4 bytes are buffered). */
  private length(): number {
    if ((this.chunks[0] as Buffer).length - this.offset < 4) this.join();
    return (this.chunks[0] as Buffer).readUInt32BE(this.offset);
  }

  /** The unread bytes as one chunk (a frame or a length prefix spans chunks). */
  private join(): void {
    const first = (this.chunks[0] as Buffer).subarray(this.offset);
    this.chunks[0] = first;
    this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    this.offset = 0;
  }

  private take(n: number): Buffer {
    if ((this.chunks[0] as Buffer).length - this.offset < n) this.join();
    const first = this.chunks[0] as Buffer;
    const out = first.subarray(this.offset, this.offset + n);
    this.offset += n;
    this.buffered -= n;
    if (this.offset === first.length) {
      this.chunks.shift();
      this.offset = 0;
    }
    return out;
  }
}
