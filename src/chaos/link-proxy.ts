/**
 * A userspace TCP proxy on one link: it delays what crosses it (a seeded delay per chunk, never reordering: a chunk
 * leaves no earlier than the one before it in its direction), and it can black-hole the link (a partition). It is
 * how liveswap chaos and the realtime bench give links delay and jitter on a kernel with no netem, and how chaos
 * cuts a link when network namespaces and tc are not available.
 *
 * Black hole: the proxy stops reading and stops delivering, both ways, and closes nothing. What was sent waits in
 * the proxy and the kernel's buffers; a sender whose buffers fill sees its writes back up, as across a real
 * partition. A connection made during the partition is accepted (the kernel does that) but not forwarded, so the
 * dialler hears nothing. A side that closes during the partition is not seen closing by the other until heal().
 * heal() delivers what waited, in order, then forwards again.
 */
import net from "node:net";
import { Rng } from "../core/rng.js";
import { parseAddress } from "../network/tcp/sockets.js";

/** A delay drawn uniformly in [minMs, maxMs] for each chunk (a write of the sender, as it arrives). */
export interface LinkDelay {
  readonly minMs: number;
  readonly maxMs: number;
}

export const NO_DELAY: LinkDelay = { minMs: 0, maxMs: 0 };

/** Bytes held in one direction beyond which the proxy stops reading that direction's sender (back-pressure). */
const HIGH_WATER = 1024 * 1024;

export interface LinkProxy {
  /** Where the proxy listens (what the dialling side is told to dial). */
  readonly address: string;
  /** Where it forwards to. */
  readonly target: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes forwarded so far, both ways. */
  readonly forwarded: number;
  readonly blackholed: boolean;
  readonly delay: LinkDelay;
  blackhole(): void;
  heal(): void;
  setDelay(delay: LinkDelay): void;
  close(): Promise<void>;
}

interface Held {
  readonly at: number;
  /** undefined: the sender's end (delivered in order after its last bytes). */
  readonly chunk: Buffer | undefined;
}

interface ProxyState {
  readonly target: string;
  readonly blackholed: boolean;
  nextDelay(): number;
  count(bytes: number): void;
}

/** One direction of one connection: chunks wait in order until their time, and while the link is black-holed. */
class Direction {
  private readonly queue: Held[] = [];
  private bytes = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly proxy: ProxyState,
  ) {
    from.on("data", (chunk: Buffer) => this.hold(chunk));
    from.on("end", () => this.hold(undefined));
  }

  private hold(chunk: Buffer | undefined): void {
    const at = Math.max(performance.now() + this.proxy.nextDelay(), this.lastAt);
    this.lastAt = at;
    this.queue.push({ at, chunk });
    this.bytes += chunk?.length ?? 0;
    if (this.bytes > HIGH_WATER) this.from.pause();
    this.flush();
  }

  /** Deliver every chunk whose time has come (none while black-holed or while the receiver is full). */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.proxy.blackholed || this.waitingDrain) return;
    const now = performance.now();
    for (;;) {
      const head = this.queue[0];
      if (head === undefined) break;
      if (head.at > now) {
        this.timer = setTimeout(() => this.flush(), Math.max(1, Math.ceil(head.at - now)));
        break;
      }
      this.queue.shift();
      if (head.chunk === undefined) {
        this.to.end();
        continue;
      }
      this.bytes -= head.chunk.length;
      this.proxy.count(head.chunk.length);
      if (!this.to.write(head.chunk)) {
        this.waitingDrain = true;
        this.to.once("drain", () => {
          this.waitingDrain = false;
          this.flush();
        });
        break;
      }
    }
    if (this.bytes <= HIGH_WATER && !this.proxy.blackholed) this.from.resume();
  }

  pause(): void {
    this.from.pause();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** One accepted connection and its upstream. */
class Pair {
  private upstream: net.Socket | undefined;
  private readonly directions: Direction[] = [];
  private ended = false;

  constructor(
    readonly client: net.Socket,
    private readonly proxy: ProxyState,
  ) {
    client.on("error", () => this.destroy());
    client.on("close", () => this.destroy());
  }

  /** Dial the target and forward both ways (at once, or at heal for a connection accepted during a partition). */
  connect(): void {
    if (this.ended || this.upstream !== undefined) return;
    const { host, port } = parseAddress(this.proxy.target);
    const up = net.connect({ host, port });
    this.upstream = up;
    up.setNoDelay(true);
    up.on("error", () => this.destroy());
    up.on("close", () => this.destroy());
    this.directions.push(new Direction(this.client, up, this.proxy), new Direction(up, this.client, this.proxy));
    // A client accepted during a partition was paused explicitly: a 'data' listener alone does not resume it.
    if (this.proxy.blackholed) this.pause();
    else for (const d of this.directions) d.flush();
  }

  pause(): void {
    this.client.pause();
    for (const d of this.directions) d.pause();
  }

  resume(): void {
    if (this.upstream === undefined) return this.connect();
    for (const d of this.directions) d.flush();
  }

  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    for (const d of this.directions) d.stop();
    this.client.destroy();
    this.upstream?.destroy();
  }
}

/**
 * Listen on `address` (default: a free loopback port) and forward each connection to `target`, delaying each chunk
 * by `delay` (drawn from `seed`). The draws are seeded, but what a chunk is depends on the kernel: a run is
 * repeatable in its distribution, not byte for byte.
 */
export async function startLinkProxy(target: string, opts: { readonly address?: string; readonly delay?: LinkDelay; readonly seed?: number } = {}): Promise<LinkProxy> {
  const pairs = new Set<Pair>();
  const rng = new Rng(opts.seed ?? 1);
  let delay = opts.delay ?? NO_DELAY;
  let blackholed = false;
  let accepted = 0;
  let forwarded = 0;
  const state: ProxyState = {
    target,
    get blackholed() {
      return blackholed;
    },
    nextDelay: () => (delay.maxMs <= 0 ? 0 : delay.minMs + rng.float() * (delay.maxMs - delay.minMs)),
    count: (bytes) => void (forwarded += bytes),
  };
  const server = net.createServer((client) => {
    accepted++;
    client.setNoDelay(true);
    const pair = new Pair(client, state);
    pairs.add(pair);
    client.once("close", () => pairs.delete(pair));
    if (blackholed) client.pause();
    else pair.connect();
  });
  const { host, port } = parseAddress(opts.address ?? "127.0.0.1:0", "link proxy");
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;
  return {
    address: `${host}:${bound.port}`,
    target,
    get accepted() {
      return accepted;
    },
    get forwarded() {
      return forwarded;
    },
    get blackholed() {
      return blackholed;
    },
    get delay() {
      return delay;
    },
    blackhole() {
      blackholed = true;
      for (const p of pairs) p.pause();
    },
    heal() {
      blackholed = false;
      for (const p of [...pairs]) p.resume();
    },
    setDelay(d) {
      if (!(d.minMs >= 0 && d.maxMs >= d.minMs)) throw new RangeError(`a link delay needs 0 <= minMs <= maxMs, got ${d.minMs}..${d.maxMs} ms`);
      delay = d;
    },
    async close() {
      for (const p of pairs) p.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
