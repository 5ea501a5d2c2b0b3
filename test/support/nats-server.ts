import { afterAll, beforeAll } from "vitest";
import { natsServerMissing, startLocalNats, startLocalNatsCluster, type LocalNatsCluster, type LocalNatsServer } from "../../src/deploy/local-nats.js";

export type NatsServer = LocalNatsServer;

/** Why the NATS tests cannot run here, or undefined: the binary is missing (outside CI only; CI installs it). */
export function natsMissing(): string | undefined {
  const why = natsServerMissing();
  if (why !== undefined && process.env.CI === "true") throw new Error(why);
  return why;
}

/** nats-server with JetStream on a free loopback port, its store in a new temporary directory. */
export const startNatsServer = startLocalNats;

/**
 * A test file's NATS server: started before its tests when the binary is here (with nats-server options `args`),
 * closed after them. `missing` says why the file's tests skip; `server()` is the running server.
 */
export function natsServerForTests(args: readonly string[] = []): { readonly missing: string | undefined; server(): NatsServer } {
  const t = forTheFile("server", () => startNatsServer(args));
  return { missing: t.missing, server: t.running };
}

/** A test file's NATS cluster of `size` servers with clustered JetStream (as natsServerForTests, for a cluster). */
export function natsClusterForTests(size: number): { readonly missing: string | undefined; cluster(): LocalNatsCluster } {
  const t = forTheFile("cluster", () => startLocalNatsCluster(size));
  return { missing: t.missing, cluster: t.running };
}

/** Started before the file's tests (unless the binary is missing), closed after them. */
function forTheFile<T extends { close(): Promise<void> }>(what: string, start: () => Promise<T>): { readonly missing: string | undefined; running(): T } {
  const missing = natsMissing();
  let running: T | undefined;
  beforeAll(async () => {
    if (missing === undefined) running = await start();
  }, 60_000);
  afterAll(async () => {
    await running?.close();
  });
  return {
    missing,
    running: () => {
      if (running === undefined) throw new Error(`no NATS ${what} for this test: ${missing ?? "it has not started yet (use it inside a test)"}`);
      return running;
    },
  };
}
