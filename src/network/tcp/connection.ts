import type { Duplex } from "node:stream";
import { describeError } from "../../core/errors.js";
import type { Codec } from "./codec.js";
import { encodeFrame, FrameDecoder } from "./frame.js";
import type { WireMessage } from "./protocol.js";

/**
 * One socket (plain TCP or TLS) speaking frames of wire messages. A socket that
 * sends garbage is closed with the reason; the peer reconnects if it is ours.
 */
export class Connection {
  private readonly decoder = new FrameDecoder();
  closed = false;
  /** The peer's hello was accepted (a node we link to, or a control session). */
  helloed = false;

  constructor(
    readonly socket: Duplex,
    private readonly codec: Codec,
    onMessage: (msg: WireMessage, conn: Connection) => void,
    onClose: (conn: Connection, reason: string | undefined) => void,
  ) {
    let reason: string | undefined;
    socket.on("data", (chunk: Buffer) => {
      if (this.closed) return;
      let frames: Buffer[];
      try {
        frames = this.decoder.push(chunk);
      } catch (e) {
        reason = describeError(e);
        this.close();
        return;
      }
      for (const f of frames) {
        if (this.closed) return;
        let msg: WireMessage;
        try {
          msg = this.codec.decode(f) as WireMessage;
        } catch (e) {
          reason = `undecodable frame (${describeError(e)})`;
          this.close();
          return;
        }
        onMessage(msg, this);
      }
    });
    socket.on("error", (e: Error) => {
      reason ??= e.message;
    });
    socket.on("close", () => {
      this.closed = true;
      onClose(this, reason);
    });
  }

  /**
   * Throws (nothing written) if the message cannot be encoded or its frame is over the limit. Returns false when the
   * socket's buffer is full (wait for "drain" before sending much more) or the connection is closed.
   */
  send(msg: WireMessage): boolean {
    if (this.closed) return false;
    return this.socket.write(encodeFrame(this.codec.encode(msg)));
  }

  /** Until the socket's buffer drained (or the connection closed): a long stream of frames keeps its memory bounded. */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  /** Write pre-encoded frame bytes (retransmissions reuse the bytes of the first send). */
  write(frame: Buffer): void {
    if (!this.closed) this.socket.write(frame);
  }

  /**
   * Say why, then close: the frame is flushed first (end, not destroy), so the
   * other side can name the reason instead of seeing a bare close. Nothing
   * more is read from it.
   */
  refuse(msg: WireMessage): void {
    if (this.closed) return;
    this.send(msg);
    this.closed = true;
    this.helloed = false;
    this.socket.end();
    // A peer that never closes its side is cut off anyway.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }
}
