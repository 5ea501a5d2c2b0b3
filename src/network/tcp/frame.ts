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
  constructor(readonly bytes: number) {
    super(`a frame of ${bytes} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit; the peer is not speaking liveswap's protocol or sent a runaway message`);
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

/** Collects chunks as they come and yields whole frames. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Add a chunk; returns the frames it completed, in order. Throws FrameTooLargeError on a bad length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const len = head.readUInt32BE(0);
      if (len > MAX_FRAME_BYTES) throw new FrameTooLargeError(len);
      if (this.buffered < 4 + len) break;
      const all = this.take(4 + len);
      out.push(all.subarray(4));
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    let first = this.chunks[0] as Buffer;
    if (first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    const rest = first.subarray(n);
    if (rest.length === 0) this.chunks.shift();
    else this.chunks[0] = rest;
    this.buffered -= n;
    return out;
  }
}
