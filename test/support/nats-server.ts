import { natsServerMissing, startLocalNats, type LocalNatsServer } from "../../src/deploy/local-nats.js";

export type NatsServer = LocalNatsServer;

/** Why the NATS tests cannot run here, or undefined: the binary is missing (outside CI only; CI installs it). */
export function natsMissing(): string | undefined {
  const why = natsServerMissing();
  if (why !== undefined && process.env.CI === "true") throw new Error(why);
  return why;
}

/** nats-server with JetStream on a free loopback port, its store in a new temporary directory. */
export const startNatsServer = startLocalNats;
