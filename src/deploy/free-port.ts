/**
 * Loopback ports for nodes started on this machine (local clusters, tests, benchmarks).
 *
 * Why not `listen(0)`: the kernel hands out ports for `listen(0)` from its ephemeral range, the same range every
 * outbound connection on the machine draws its local port from. Between the moment we learn a free port and the moment
 * a node process binds it, any connection elsewhere (a parallel test's client, a proxy dialling a node) may take it,
 * and the node dies with EADDRINUSE. Ports below the ephemeral range are never given to outbound connections, so we
 * draw from there, check that the port binds, and never hand the same port out twice in one process.
 */
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";

/** Lowest port we draw (above the registered services most machines run). */
const LOWEST = 20_000;
/** Linux's default start of the ephemeral range, when /proc does not say. */
const DEFAULT_EPHEMERAL_START = 32_768;
const ATTEMPTS = 200;

/** Ports handed out by this process: a node may not have bound its port yet when the next one is drawn. */
const handedOut = new Set<number>();

/** The start of the kernel's ephemeral port range (Linux's /proc; the default elsewhere). */
export function ephemeralStart(): number {
  try {
    const lo = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(lo) && lo > 0 ? lo : DEFAULT_EPHEMERAL_START;
  } catch {
    return DEFAULT_EPHEMERAL_START;
  }
}

/** Where ports are drawn: [low, end), below the ephemeral range, or an error naming the setting that leaves no room. */
function drawRange(): { readonly low: number; readonly end: number } {
  const end = ephemeralStart();
  // A machine whose ephemeral range starts low still has the ports under it (above the privileged ones).
  const low = end > LOWEST + 1000 ? LOWEST : 1024;
  if (end - low < 1000) {
    throw new Error(
      `no room for local ports below the ephemeral range (net.ipv4.ip_local_port_range starts at ${end}): raise its start ` +
        `(sysctl -w net.ipv4.ip_local_port_range="32768 60999") so that nodes' ports and outbound connections do not collide`,
    );
  }
  return { low, end };
}

function tryListen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => resolve(server));
  });
}

/**
 * A free loopback port held until `release()`: while held, the OS gives it to no other socket of this machine (a
 * proxy that listens meanwhile cannot get the port a node is about to bind).
 */
export async function reservePort(): Promise<{ readonly port: number; release(): Promise<void> }> {
  const { low, end } = drawRange();
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = randomInt(low, end);
    if (handedOut.has(port)) continue;
    const server = await tryListen(port);
    if (server === undefined) continue;
    handedOut.add(port);
    return { port, release: () => new Promise<void>((r) => server.close(() => r())) };
  }
  throw new Error(`no free loopback port found in ${ATTEMPTS} tries between ${low} and ${end}: free some ports, or stop other local clusters`);
}

/** A free loopback port, released at once: bind it soon (see the note at the top on why it stays free meanwhile). */
export async function freePort(): Promise<number> {
  const { port, release } = await reservePort();
  await release();
  return port;
}
