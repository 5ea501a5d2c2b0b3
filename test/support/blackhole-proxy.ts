import net from "node:net";
import { parseAddress } from "../../src/network/tcp/sockets.js";

/**
 * A userspace TCP proxy that can black-hole a node: a partition without netem or iptables (which this kernel lacks).
 *
 * How to put it in front of a node, so that it cuts the node from everyone (its neighbours and the control plane):
 *   - in the cluster file, give the node `address:` (where everyone dials it: the proxy's port) and `listen:` (where
 *     the node binds: a private port), and start `startBlackholeProxy(listen, address)` before the node;
 *   - a node DIALS its neighbours with larger ids itself (the smaller id dials; the larger accepts), and those
 *     connections do not pass through its own proxy: give the node to cut the LARGEST id among its neighbours (in a
 *     line r0 - r2 - r1, cut r2), or put proxies in front of those neighbours too and black-hole them together;
 *   - `blackhole()` stops forwarding both ways and keeps every socket open: nothing is closed, nothing dropped;
 *     bytes wait in the kernel's buffers (the proxy stops reading), and a sender whose buffers fill sees its writes
 *     back up, as across a real partition. A connection made during the partition is accepted (the kernel does that)
 *     but not forwarded: the dialler hears nothing, and its hello times out. A side that closes during the
 *     partition is not seen closing by the other side until `heal()` (the proxy reads nothing, not even the FIN);
 *   - `heal()` forwards again, in order: what waited is delivered, closes propagate, waiting connections are
 *     dialled through; `close()` ends every connection and the listener.
 * test/support/proxied-cluster.ts starts a cluster this way; src/deploy/partition.e2e.test.ts uses it.
 */
export interface BlackholeProxy {
  /** Where the proxy listens (the node's `address:`). */
  readonly address: string;
  /** Where it forwards to (the node's `listen:`). */
  readonly target: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  readonly blackholed: boolean;
  blackhole(): void;
  heal(): void;
  close(): Promise<void>;
}

/** One accepted connection and its upstream: forwarded chunk by chunk, each side paused while the other drains. */
class Pair {
  upstream: net.Socket | undefined;
  private ended = false;

  constructor(
    readonly client: net.Socket,
    private readonly proxy: { readonly target: string; readonly blackholed: boolean },
  ) {
    client.on("error", () => this.destroy());
    client.on("close", () => this.destroy());
  }

  /** Dial the target and forward both ways (called at once, or at heal for a connection made during a partition). */
  connect(): void {
    if (this.ended || this.upstream !== undefined) return;
    const { host, port } = parseAddress(this.proxy.target);
    const up = net.connect({ host, port });
    this.upstream = up;
    up.setNoDelay(true);
    up.on("error", () => this.destroy());
    up.on("close", () => this.destroy());
    this.forward(this.client, up);
    this.forward(up, this.client);
    // A client accepted during a partition was paused explicitly: a 'data' listener alone does not resume it.
    if (this.proxy.blackholed) this.pause();
    else this.client.resume();
  }

  private forward(from: net.Socket, to: net.Socket): void {
    from.on("data", (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => {
          if (!this.proxy.blackholed) from.resume();
        });
      }
    });
    from.on("end", () => to.end());
  }

  pause(): void {
    this.client.pause();
    this.upstream?.pause();
  }

  resume(): void {
    if (this.upstream === undefined) return this.connect();
    // Each side resumes unless its destination is still full (its drain handler resumes it then).
    if (!this.upstream.writableNeedDrain) this.client.resume();
    if (!this.client.writableNeedDrain) this.upstream.resume();
  }

  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.client.destroy();
    this.upstream?.destroy();
  }
}

/** Listen on `address` (default: a free loopback port) and forward each connection to `target`. */
export async function startBlackholeProxy(target: string, address = "127.0.0.1:0"): Promise<BlackholeProxy> {
  const pairs = new Set<Pair>();
  let blackholed = false;
  let accepted = 0;
  const state = {
    target,
    get blackholed() {
      return blackholed;
    },
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
  const { host, port } = parseAddress(address, "blackhole proxy");
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
    get blackholed() {
      return blackholed;
    },
    blackhole() {
      blackholed = true;
      for (const p of pairs) p.pause();
    },
    heal() {
      blackholed = false;
      for (const p of [...pairs]) p.resume();
    },
    async close() {
      for (const p of pairs) p.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
