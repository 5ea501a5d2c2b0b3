import type { Duplex } from "node:stream";
import { describeError, LiveswapError, messageOf } from "../../core/errors.js";
import type { Codec } from "./codec.js";
import { encodeFrame, FrameDecoder } from "./frame.js";
import { HeartbeatClock, type HeartbeatOptions } from "./heartbeat.js";
import type { WireMessage } from "./protocol.js";
import { checkWireMessage } from "./wire-check.js";

/** The heartbeat frame's kind: handled by the connection itself, never seen by what sits above it. */
export const HEARTBEAT_KIND = "heartbeat";

/** Past this many bytes corked in one turn, they leave without waiting for the turn's end. */
const FLUSH_BYTES = 64 * 1024;

export interface ConnectionOptions {
  /** Write a heartbeat every interval and close the connection when the other side is silent too long (see heartbeat.ts). */
  readonly heartbeat?: HeartbeatOptions;
}

/**
 * One socket (plain TCP or TLS) speaking frames of wire messages. A socket that
 * sends garbage (a frame that does not decode, or is not a message of the
 * protocol: wire-check.ts) is closed with the reason, and so is one silent past
 * its heartbeat timeout; the peer reconnects if it is ours. `onClose` gets the
 * reason (undefined for an ordinary close).
 */
export class Connection {
  private readonly decoder = new FrameDecoder();
  private readonly heartbeat: HeartbeatClock | undefined;
  /**
   * The socket is corked from a turn's first frame until the turn of the event loop ends (process.nextTick: right
   * after the step that sent them, before the next input is read), and the frames leave in one system call (a
   * writev; on TLS one encryption of them all, in full records), not one each: a data chunk of a hundred frames from
   * the peer is answered with one write, not a hundred. A first frame used to go at once, for a lone reply's latency;
   * but that write wakes the peer in the middle of the step, and on a machine with fewer cores than busy processes
   * the woken peer took the core from the sender (a swap's step measured 2 to 3 ms of wall clock for 0.3 ms of CPU).
   * Deferred, the write costs the lone reply the rest of its step (microseconds), and steps are not cut in two. The
   * socket counts corked bytes in its writableLength, so flow control (and send's answer) see them as before. A long
   * turn (a request that sends thousands of messages) lets each FLUSH_BYTES go as they fill, so the peer starts on
   * them before the turn ends.
   */
  private turn: "idle" | "corked" = "idle";
  private corkedBytes = 0;
  private readonly endTurn = (): void => {
    const corked = this.turn === "corked";
    this.turn = "idle";
    this.corkedBytes = 0;
    if (corked) this.socket.uncork();
  };
  closed = false;
  /** The peer's hello was accepted (a node we link to, or a control session). */
  helloed = false;
  /** Why this side closed the connection (a bad frame, silence, a frame cut short), in words for a log line. */
  fault: string | undefined;

  constructor(
    readonly socket: Duplex,
    private readonly codec: Codec,
    onMessage: (msg: WireMessage, conn: Connection) => void,
    onClose: (conn: Connection, reason: string | undefined) => void,
    options: ConnectionOptions = {},
  ) {
    let reason: string | undefined;
    const fail = (why: string): void => {
      reason ??= why;
      this.fault ??= why;
      this.close();
    };
    if (options.heartbeat !== undefined) {
      const beat = encodeFrame(codec.encode({ kind: HEARTBEAT_KIND }));
      this.heartbeat = new HeartbeatClock(
        options.heartbeat,
        // Straight to the socket, whatever the data path holds back: a heartbeat is never queued behind flow control.
        () => this.write(beat),
        (silentMs) => {
          fail(`silent for ${Math.round(silentMs)} ms (no frame, not even a heartbeat; suspected after ${options.heartbeat?.suspectAfterMs} ms)`);
        },
      );
    }
    socket.on("data", (chunk: Buffer) => {
      if (this.closed) return;
      this.heartbeat?.heard();
      this.receive(chunk, onMessage, fail);
    });
    socket.on("error", (e: Error) => {
      reason ??= e.message;
    });
    socket.on("close", () => {
      const ours = this.closed; // this side closed it (refuse, close): what it left unread is not the peer's fault
      this.closed = true;
      this.heartbeat?.stop();
      // A frame begun and never finished: say so (the sender died mid-write, or sent a length it never filled).
      const partial = this.decoder.partial;
      if (!ours && reason === undefined && partial !== undefined && partial.have < partial.need) {
        const { have, need } = partial;
        reason = `closed in the middle of a frame (${have} of its ${need} bytes arrived)`;
        this.fault = reason;
      }
      onClose(this, reason);
    });
  }

  /** Decode, check and hand on every whole frame of a chunk; the first bad one closes the connection. */
  private receive(chunk: Buffer, onMessage: (msg: WireMessage, conn: Connection) => void, fail: (why: string) => void): void {
    this.decoder.add(chunk);
    while (!this.closed) {
      let f: Buffer | undefined;
      try {
        f = this.decoder.next();
      } catch (e) {
        fail(messageOf(e));
        return;
      }
      if (f === undefined) return;
      let value: unknown;
      try {
        value = this.codec.decode(f);
      } catch (e) {
        fail(e instanceof LiveswapError ? e.message : `undecodable frame (${describeError(e)})`);
        return;
      }
      if ((value as { kind?: unknown } | null)?.kind === HEARTBEAT_KIND) continue;
      let msg: WireMessage;
      try {
        msg = checkWireMessage(value);
      } catch (e) {
        fail(messageOf(e));
        return;
      }
      onMessage(msg, this);
    }
  }

  /** The largest frame this connection takes from now on (small until the hello is taken: a hello is tiny). */
  limitFrames(bytes: number): void {
    this.decoder.maxFrameBytes = bytes;
  }

  /** When the other side was last heard (performance.now() ms); undefined without heartbeats. */
  get heardAt(): number | undefined {
    return this.heartbeat?.heardAt;
  }

  /**
   * Throws (nothing written) if the message cannot be encoded or its frame is over the limit. Returns false when the
   * socket's buffer is full (wait for "drain" before sending much more) or the connection is closed.
   */
  send(msg: WireMessage): boolean {
    if (this.closed) return false;
    return this.put(encodeFrame(this.codec.encode(msg)));
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
    if (!this.closed) this.put(frame);
  }

  /** Into the socket, corked until the turn ends (see `turn`). */
  private put(frame: Buffer): boolean {
    if (this.turn === "idle") {
      this.turn = "corked";
      this.socket.cork();
      process.nextTick(this.endTurn);
    }
    const room = this.socket.write(frame);
    this.corkedBytes += frame.length;
    if (this.corkedBytes >= FLUSH_BYTES) {
      // Out now, and corked again for the rest of the turn (endTurn releases it).
      this.corkedBytes = 0;
      this.socket.uncork();
      this.socket.cork();
    }
    return room;
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
    this.heartbeat?.stop();
    this.socket.end();
    // A peer that never closes its side is cut off anyway.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.heartbeat?.stop();
    // What was written this turn goes to the socket before it is destroyed, as when each frame was written at once.
    this.endTurn();
    this.socket.destroy();
  }
}
