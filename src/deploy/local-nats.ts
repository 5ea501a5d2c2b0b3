/**
 * A nats-server with JetStream of this machine's own, on a free loopback port, its store in a temporary directory:
 * for the benchmarks and the tests (a production cluster runs its NATS servers as a service of their own).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { freePort } from "./free-port.js";

/** Debian's nats-server (`apt-get install nats-server`); LIVESWAP_NATS_SERVER names another binary. */
export const NATS_SERVER = process.env.LIVESWAP_NATS_SERVER ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "/usr/bin/nats-server");

/** Why a local NATS server cannot be started here, or undefined. */
export function natsServerMissing(): string | undefined {
  return existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is missing: install nats-server 2.9 or later (apt-get install nats-server), or name it with LIVESWAP_NATS_SERVER`;
}

export interface LocalNatsServer {
  readonly url: string;
  /** Stop it (SIGTERM), keeping its JetStream directory. */
  stop(): Promise<void>;
  /** Start it again on the same port and directory (a restart mid-run). */
  start(): Promise<void>;
  /** Stop it and remove its directory. */
  close(): Promise<void>;
}

/** `args`: more of nats-server's options (`--auth TOKEN` for a server that wants a token). */
export async function startLocalNats(args: readonly string[] = []): Promise<LocalNatsServer> {
  const server = localNats(await freePort(), args);
  await server.start();
  return server;
}

export interface LocalNatsCluster {
  /** Every server's client URL (what a cluster file's `servers` lists). */
  readonly urls: readonly string[];
  /** The servers, each stopped and started again on its own (a server lost and back, the others serving on). */
  readonly servers: readonly LocalNatsServer[];
  /** Stop every server and remove their directories. */
  close(): Promise<void>;
}

/**
 * `size` servers routed to each other as one NATS cluster with clustered JetStream, as a deployment across hosts runs
 * them (here on loopback): resolves once JetStream takes a stream of `size` copies (its servers elected a leader).
 */
export async function startLocalNatsCluster(size: number): Promise<LocalNatsCluster> {
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  // Every server is given every route (its own included: nats-server ignores a route to itself).
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const servers = ports.map((port, i) => localNats(port, ["-n", `s${i + 1}`, "--cluster_name", "liveswap", "--cluster", `nats://127.0.0.1:${routePorts[i]}`, "--routes", routes]));
  const close = async (): Promise<void> => void (await Promise.all(servers.map((s) => s.close())));
  try {
    await Promise.all(servers.map((s) => s.start()));
    await clusteredJetStream(servers.map((s) => s.url), size);
  } catch (e) {
    await close();
    throw e;
  }
  return { urls: servers.map((s) => s.url), servers, close };
}

/** Wait until a stream of `replicas` copies can be made (the cluster's JetStream elected its leaders): 30 s at most. */
async function clusteredJetStream(servers: readonly string[], replicas: number): Promise<void> {
  const nc = await connect({ servers: [...servers] });
  try {
    let last: unknown;
    for (const end = Date.now() + 30_000; Date.now() < end; ) {
      try {
        // Asking for the manager asks JetStream too: it fails until the servers elected their leader.
        const jsm = await nc.jetstreamManager({ timeout: 2_000 });
        await jsm.streams.add({ name: "LIVESWAP_READY", subjects: ["liveswap-ready"], num_replicas: replicas });
        await jsm.streams.delete("LIVESWAP_READY");
        return;
      } catch (e) {
        last = e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`the NATS cluster's JetStream did not take a stream of ${replicas} copies within 30 s: ${String(last)}`);
  } finally {
    await nc.close();
  }
}

/** One server on `port`, not started yet, its JetStream directory made now. */
function localNats(port: number, args: readonly string[]): LocalNatsServer {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-nats-"));
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    // Through a shell that stops the server when its stdin closes: when this process dies, even by SIGKILL, its end
    // of the pipe closes and the server goes with it (no nats-server left behind by a killed test run).
    child = spawn("sh", ["-c", '"$0" "$@" & p=$!; cat >/dev/null; kill "$p"; wait "$p"', NATS_SERVER, "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir, ...args], { stdio: ["pipe", "ignore", "ignore"] });
    for (let i = 0; i < 100; i++) {
      if (await accepts(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nats-server did not listen on 127.0.0.1:${port} within 5 s`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (c === undefined || c.exitCode !== null) return;
    await new Promise<void>((r) => {
      c.once("exit", () => r());
      c.stdin?.end(); // the shell stops the server (SIGTERM) and waits for it
    });
  };
  return { url: `nats://127.0.0.1:${port}`, stop, start, close: async () => (await stop(), rmSync(dir, { recursive: true, force: true })) };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port }, () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}
