import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/deploy/free-port.js";

/** Debian's nats-server (.ci/run installs it); LIVESWAP_NATS_SERVER names another binary. */
export const NATS_SERVER = process.env.LIVESWAP_NATS_SERVER ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "/usr/bin/nats-server");

/** Why the NATS tests cannot run here, or undefined: the binary is missing (outside CI only; CI installs it). */
export function natsMissing(): string | undefined {
  if (existsSync(NATS_SERVER)) return undefined;
  const why = `${NATS_SERVER} is missing: the NATS tests need nats-server 2.9 with JetStream (apt-get install nats-server; .ci/run installs it)`;
  if (process.env.CI === "true") throw new Error(why);
  return why;
}

export interface NatsServer {
  readonly url: string;
  /** Stop it (SIGTERM), keeping its JetStream directory. */
  stop(): Promise<void>;
  /** Start it again on the same port and directory (a restart mid-run). */
  start(): Promise<void>;
  /** Stop it and remove its directory. */
  close(): Promise<void>;
}

/** nats-server with JetStream on a free loopback port, its store in a new temporary directory. */
export async function startNatsServer(): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-nats-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], { stdio: "ignore" });
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
      c.kill("SIGTERM");
    });
  };
  await start();
  return { url: `nats://127.0.0.1:${port}`, stop, start, close: async () => (await stop(), rmSync(dir, { recursive: true, force: true })) };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port }, () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}
