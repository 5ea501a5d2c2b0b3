import { startLinkProxy, type LinkProxy } from "../../src/chaos/link-proxy.js";

/**
 * A userspace TCP proxy that can black-hole a node: a partition without netem or iptables (which this kernel lacks).
 * It is liveswap chaos's link proxy (src/chaos/link-proxy.ts) with no delay.
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
export type BlackholeProxy = LinkProxy;

/** Listen on `address` (default: a free loopback port) and forward each connection to `target`. */
export function startBlackholeProxy(target: string, address = "127.0.0.1:0"): Promise<BlackholeProxy> {
  return startLinkProxy(target, { address });
}
