/**
 * Connections between liveswap processes carried by NATS instead of TCP (issue 20): a node listens under its name, a
 * neighbour or the control plane dials that name, and each side gets a Duplex that behaves as a TCP socket does, so
 * everything that speaks over a socket (hellos, peer channels with their resends, control sessions, TLS) runs on it
 * unchanged. Addresses are `nats:<name>`.
 *
 * NATS core delivers each publisher's messages on a subject in order, but at most once: a server restart, a slow
 * consumer or a dropped client connection can lose some. A TCP connection either delivers every byte in order or
 * breaks, and what runs above relies on that (a peer channel resends what was not acknowledged after a reconnect). So
 * does this one: every chunk carries the connection's next sequence number, and a gap breaks the connection; a
 * disconnection from the server breaks every connection of this process, and the peers of a process that comes back
 * (a restart, a reconnection) hear of it and break theirs. Nothing is retransmitted here: that is the channel's job.
 *
 * Subjects (prefix `liveswap.<cluster>`): `open.<name>` (a dial: a request the listener answers once it listens on
 * the new connection), `v.<conn>.a` / `v.<conn>.b` (what the dialler / the listener receives), `up.<name>` (a listener
 * started or reconnected: connections to an earlier life of it are broken), `reset` (a process reconnected to NATS:
 * its connections are broken).
 */
import { randomUUID } from "node:crypto";
import { Duplex } from "node:stream";
import type { NatsConnection, Subscription } from "nats";
import { NatsTransportError } from "./errors.js";

/** A chunk of a connection at most this long goes in one NATS message (the server's default max_payload is 1 MiB). */
const MAX_CHUNK = 512 * 1024;
/** Past this many bytes published and not yet flushed to the server, a write waits for the flush (backpressure). */
const UNFLUSHED_BYTES = 256 * 1024;
const DATA = 0;
const FIN = 1;
const RESET = 2;
/** The reader consumed this many bytes: the writer may send as many more (flow control, below). */
const CREDIT = 3;
/**
 * Flow control: a writer sends at most this many bytes the reader has not yet consumed (its JavaScript took them).
 * NATS does not slow a publisher for a slow subscriber: it disconnects the subscriber (a "slow consumer"), which would
 * break every connection of that process. TCP's window does this on a socket; this credit does it here.
 */
const WINDOW_BYTES = 2 * 1024 * 1024;
/** The reader grants credit back once it consumed this many bytes (well under the window: the writer never waits idle). */
const GRANT_BYTES = 256 * 1024;
const NAME = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** The address a node listens at over NATS: `nats:<its id>`. */
export function natsAddress(name: string): string {
  return `nats:${name}`;
}

/** The name in a `nats:` address, or undefined for another address. */
export function natsName(address: string): string | undefined {
  return address.startsWith("nats:") ? address.slice(5) : undefined;
}

export class NatsSockets {
  /** This process's life on NATS: a new one after each reconnection (its connections of before are gone). */
  private life = randomUUID();
  private readonly sockets = new Set<NatsSocket>();
  /** Dials waiting for their listener's answer: given up when the connection to NATS drops. */
  private readonly dialling = new Set<(e: Error) => void>();
  private readonly listeners = new Map<string, Subscription>();
  private readonly control: Subscription[] = [];
  /** Every life of this process (its announcements come back to it too). */
  private readonly ownLives = new Set<string>();
  /** Told when another process announces itself under a name this one listens at (see serve). */
  private readonly conflicts: ((name: string) => void)[] = [];
  private readonly conflicted = new Set<string>();
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    readonly nc: NatsConnection,
    /** The cluster's name: the prefix of every subject (letters, digits, `-`, `_`). */
    private readonly cluster: string,
  ) {
    if (!NAME.test(cluster)) throw new NatsTransportError(`the NATS cluster name "${cluster}" cannot be part of a subject; use letters, digits, "-" and "_"`);
    this.control.push(
      nc.subscribe(this.subject("reset"), { callback: (_e, m) => this.breakAll((s) => s.remoteLife === text(m.data), "the other side reconnected to NATS (bytes in flight may be lost)") }),
      nc.subscribe(this.subject("up.*"), {
        callback: (_e, m) => {
          const name = m.subject.slice(this.subject("up.").length);
          if (this.listeners.has(name) && !this.ownLives.has(text(m.data))) this.conflict(name);
          this.breakAll((s) => s.remoteName === name && s.remoteLife !== "" && s.remoteLife !== text(m.data), `"${name}" started again, or reconnected to NATS`);
        },
      }),
    );
    this.ownLives.add(this.life);
    void this.watchStatus();
  }

  /**
   * Call `c` when another process listens under a name this one listens at: two processes of one node (one started
   * elsewhere while this one ran, or this one back from a partition while a replacement ran) must not both serve.
   */
  onConflict(c: (name: string) => void): void {
    this.conflicts.push(c);
  }

  /**
   * Another process listens under `name` too. Neither can tell which one is the node's rightful process (a replacement
   * started while this one was cut off, or this one the replacement): both stop. This one says itself again, once, so
   * the other hears it even if it missed this one's first announcement (it was cut off then).
   */
  private conflict(name: string): void {
    if (!this.conflicted.has(name)) {
      this.conflicted.add(name);
      this.nc.publish(this.subject(`up.${name}`), utf8.encode(this.life));
    }
    for (const c of this.conflicts) c(name);
  }

  private subject(rest: string): string {
    return `liveswap.${this.cluster}.${rest}`;
  }

  /** Dial `address` (`nats:<name>`): the listener there answers, or this fails as a refused TCP connect would. */
  async connect(address: string, timeoutMs: number): Promise<Duplex> {
    const name = this.nameIn(address);
    const conn = randomUUID().replaceAll("-", "");
    const socket = new NatsSocket(this, conn, "a", name);
    this.adopt(socket);
    // Broken while dialling (this process's connection to NATS dropped): the dial fails, nothing throws unheard.
    let broken: Error | undefined;
    const early = (e: Error): void => void (broken = e);
    socket.on("error", early);
    // A dial in flight when this process's connection to NATS drops is given up at once (its request may be lost, or
    // reach the listener before it subscribed again): the dialler tries again, instead of waiting out the timeout.
    let giveUp: (e: Error) => void = () => undefined;
    const givenUp = new Promise<never>((_, reject) => (giveUp = reject));
    givenUp.catch(() => undefined);
    this.dialling.add(giveUp);
    try {
      const request = this.nc.request(this.subject(`open.${name}`), utf8.encode(JSON.stringify({ conn, life: this.life })), { timeout: timeoutMs });
      const reply = await Promise.race([request, givenUp]);
      socket.remoteLife = text(reply.data);
      socket.off("error", early);
      if (socket.destroyed) throw broken ?? reset(`connection to ${address} reset while dialling`);
    } catch (e) {
      socket.destroy();
      const code = (e as { code?: unknown }).code;
      if (code === "503") throw Object.assign(new Error(`no process listens for node "${name}" on NATS`), { code: "ECONNREFUSED" });
      if (code === "TIMEOUT") throw Object.assign(new Error(`no answer from ${address} within ${timeoutMs} ms`), { code: "DIAL_TIMEOUT" });
      throw e;
    } finally {
      this.dialling.delete(giveUp);
    }
    return socket;
  }

  /** Listen at `address` (`nats:<name>`); every accepted connection goes to `onSocket`. */
  async serve(address: string, onSocket: (s: Duplex) => void): Promise<{ close(): Promise<void> }> {
    const name = this.nameIn(address);
    if (this.listeners.has(name)) throw new NatsTransportError(`this process already listens at ${address}`);
    // Another process answering for this name: two processes of one node must not both serve (TCP says so with
    // EADDRINUSE on one host; NATS spans hosts).
    if (await this.listening(address)) throw new NatsTransportError(`another process already listens for node "${name}" on NATS (cluster "${this.cluster}"); stop it first, or give this node another id`);
    const sub = this.nc.subscribe(this.subject(`open.${name}`), {
      callback: (_e, m) => {
        let req: { conn?: unknown; life?: unknown };
        try {
          req = JSON.parse(text(m.data)) as typeof req;
        } catch {
          return;
        }
        if (this.closed) return;
        if ((req as { probe?: unknown }).probe === true) return m.respond(utf8.encode(this.life)); // "is anyone here?"
        if (typeof req.conn !== "string" || !NAME.test(req.conn) || typeof req.life !== "string") return;
        const socket = new NatsSocket(this, req.conn, "b", undefined);
        socket.remoteLife = req.life;
        this.adopt(socket);
        // Subscribed (above) before the answer leaves: the dialler's first bytes find us listening.
        m.respond(utf8.encode(this.life));
        onSocket(socket);
      },
    });
    this.listeners.set(name, sub);
    this.nc.publish(this.subject(`up.${name}`), utf8.encode(this.life));
    // Listening once the server has our subscription (a flush is a round trip after it): a dial from now on finds us.
    await this.nc.flush();
    return {
      close: async () => {
        sub.unsubscribe();
        this.listeners.delete(name);
        await this.nc.flush().catch(() => undefined);
      },
    };
  }

  /** Does some process answer at `address` (within a second)? Nothing is opened. */
  async listening(address: string): Promise<boolean> {
    const name = this.nameIn(address);
    return await this.nc.request(this.subject(`open.${name}`), utf8.encode(JSON.stringify({ probe: true })), { timeout: 1_000 }).then(
      () => true,
      () => false,
    );
  }

  private nameIn(address: string): string {
    const name = natsName(address);
    if (name === undefined || !NAME.test(name)) throw new NatsTransportError(`"${address}" is not a NATS address; write nats:<node id> (letters, digits, "-" and "_")`);
    return name;
  }

  private adopt(socket: NatsSocket): void {
    this.sockets.add(socket);
    socket.subscription = this.nc.subscribe(this.subject(`v.${socket.conn}.${socket.side}`), { callback: (_e, m) => socket.arrived(m.data) });
    socket.once("close", () => {
      this.sockets.delete(socket);
      socket.subscription?.unsubscribe();
    });
  }

  /** Publish a frame of a connection; resolves at once, or (past UNFLUSHED_BYTES) once the server has what was sent. */
  send(socket: NatsSocket, kind: number, seq: number, payload?: Uint8Array): Promise<void> | undefined {
    const out = new Uint8Array(5 + (payload?.length ?? 0));
    out[0] = kind;
    new DataView(out.buffer).setUint32(1, seq);
    if (payload !== undefined) out.set(payload, 5);
    try {
      this.nc.publish(this.subject(`v.${socket.conn}.${socket.side === "a" ? "b" : "a"}`), out);
    } catch (e) {
      socket.destroy(e instanceof Error ? e : new Error(String(e)));
      return undefined;
    }
    this.unflushed += out.length;
    if (this.unflushed < UNFLUSHED_BYTES) return undefined;
    this.flushing ??= this.nc.flush().then(
      () => {
        this.unflushed = 0;
        this.flushing = undefined;
      },
      () => {
        this.flushing = undefined;
      },
    );
    return this.flushing;
  }

  /** Break the connections `which` picks (as a reset TCP connection breaks: each side's reader sees the error). */
  private giveUpDials(why: string): void {
    for (const giveUp of [...this.dialling]) giveUp(reset(`connection reset while dialling: ${why}`));
  }

  private breakAll(which: (s: NatsSocket) => boolean, why: string): void {
    for (const s of [...this.sockets]) if (which(s)) s.destroy(reset(`connection reset: ${why}`));
  }

  /** A disconnection from the server loses what was in flight: every connection breaks; after the reconnection the peers are told. */
  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      if (s.type === "disconnect") {
        this.breakAll(() => true, "this process lost its connection to NATS");
        this.giveUpDials("this process lost its connection to NATS");
      }
      if (s.type === "reconnect") {
        this.giveUpDials("this process reconnected to NATS");
        const before = this.life;
        this.life = randomUUID();
        this.ownLives.add(this.life);
        this.breakAll(() => true, "this process reconnected to NATS");
        this.nc.publish(this.subject("reset"), utf8.encode(before));
        for (const name of this.listeners.keys()) this.nc.publish(this.subject(`up.${name}`), utf8.encode(this.life));
      }
    }
  }

  /** Break every connection and stop listening (the NATS connection itself is its owner's to close). */
  close(): void {
    this.closed = true;
    for (const sub of [...this.listeners.values(), ...this.control]) sub.unsubscribe();
    this.listeners.clear();
    for (const s of [...this.sockets]) s.destroy();
  }
}

function text(b: Uint8Array): string {
  return fromUtf8.decode(b);
}

/** A broken connection's error, as a reset TCP socket's is (ECONNRESET: the dialler redials). */
function reset(message: string): Error {
  return Object.assign(new Error(message), { code: "ECONNRESET" });
}

/** One end of a connection over NATS: a Duplex as a net.Socket is one (half-closing ends the whole, as allowHalfOpen false does). */
export class NatsSocket extends Duplex {
  subscription: Subscription | undefined;
  /** The other end's process life (see NatsSockets.life): a reset or restart of that life breaks this connection. */
  remoteLife = "";
  private sent = 0;
  private expected = 1;
  private ended = false;
  /** Bytes this end may still send before the reader grants more. */
  private credit = WINDOW_BYTES;
  /** A write waiting for credit. */
  private blocked: (() => void) | undefined;
  /** Bytes consumed here and not yet granted back; `owed`: consumed only once the reader takes more (_read). */
  private consumed = 0;
  private owed = 0;
  /** For log lines, as net.Socket has them. */
  readonly remoteAddress: string;

  constructor(
    private readonly hub: NatsSockets,
    readonly conn: string,
    /** "a": the dialling end; "b": the listening end. */
    readonly side: "a" | "b",
    /** The listener's name (the dialling end knows whom it dialled). */
    readonly remoteName: string | undefined,
  ) {
    super({ allowHalfOpen: false });
    this.remoteAddress = remoteName !== undefined ? `nats:${remoteName}` : `nats connection ${conn.slice(0, 8)}`;
  }

  override _read(): void {
    // The reader wants more: what it was handed while it did not is consumed now (credit for the writer).
    this.consumed += this.owed;
    this.owed = 0;
    this.grant();
  }

  private grant(): void {
    // Credit is for the other direction: it is granted after this side ended its writes too (a half-close).
    if (this.consumed < GRANT_BYTES || this.destroyed) return;
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, this.consumed);
    this.consumed = 0;
    void this.hub.send(this, CREDIT, ++this.sent, b);
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Out of credit: the write (and the stream's writes behind it) waits for the reader to grant more.
    if (this.credit <= 0) {
      this.blocked = () => this._write(chunk, encoding, callback);
      return;
    }
    this.credit -= chunk.length;
    let wait: Promise<void> | undefined;
    for (let at = 0; at < chunk.length; at += MAX_CHUNK) wait = this.hub.send(this, DATA, ++this.sent, chunk.subarray(at, at + MAX_CHUNK)) ?? wait;
    if (wait === undefined) callback();
    else wait.then(() => callback(), (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.ended = true;
    void this.hub.send(this, FIN, ++this.sent);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.ended) {
      this.ended = true;
      void this.hub.send(this, RESET, ++this.sent);
    }
    callback(error);
  }

  /** A frame of the other end: the next in order, else the connection breaks (something was lost on the way). */
  arrived(data: Uint8Array): void {
    if (this.destroyed || data.length < 5) return;
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    const seq = view.getUint32(1);
    if (seq !== this.expected) {
      this.destroy(reset(`connection reset: frame #${this.expected} was lost on the way (NATS delivers at most once); the connection is dialled again`));
      return;
    }
    this.expected++;
    const kind = data[0];
    if (kind === DATA) {
      // A copy: the client's read buffer is not ours to keep. Taken at once (flowing), the bytes count as consumed;
      // else once the reader asks for more.
      if (this.push(Buffer.from(data.subarray(5)))) this.consumed += data.length - 5;
      else this.owed += data.length - 5;
      this.grant();
    } else if (kind === CREDIT && data.length >= 9) {
      this.credit += view.getUint32(5);
      const go = this.blocked;
      this.blocked = undefined;
      go?.();
    } else if (kind === FIN) this.push(null);
    else this.destroy(reset("connection reset by the other side"));
  }
}
