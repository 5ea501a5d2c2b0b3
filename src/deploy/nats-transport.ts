/**
 * The cluster file's `transport: { kind: nats }` made into what the node daemon's network and the control plane's
 * client dial and listen through (network/nats/nats-sockets.ts). One NATS connection per process and cluster file,
 * shared by the daemon and the coordinator inside it, opened at first use and closed when its last user lets go.
 */
import { readFileSync } from "node:fs";
import type { Duplex } from "node:stream";
import { openNats } from "../network/nats/nats-connection.js";
import { JetStreamChannels } from "../network/nats/jetstream-channels.js";
import { NatsSockets } from "../network/nats/nats-sockets.js";
import type { StreamCarrier } from "../network/tcp/tcp-network.js";
import type { NodeId } from "../core/ids.js";
import type { SocketTransport } from "../network/tcp/sockets.js";
import type { NatsTransport } from "./cluster-file.js";
import { ClusterFileError } from "./cluster-file.js";
import { fileProblem } from "./errors.js";

interface Shared {
  readonly hub: Promise<NatsSockets>;
  users: number;
}

const shared = new Map<string, Shared>();

/** A user's hold on the process's NATS connection: dial and listen through it, then release it (once). */
export interface NatsHold extends SocketTransport {
  /** Does a process answer at `address` (`nats:<id>`)? (A probe: nothing is opened.) */
  listening(address: string): Promise<boolean>;
  /** `c` is told when another process listens under a name this process listens at (see NatsSockets.onConflict). */
  onConflict(c: (name: string) => void): void;
  /** Node `self`'s durable channels in the cluster's JetStream stream (for a node with a store); `log` hears its troubles. */
  stream(self: NodeId, log: (line: string) => void): StreamCarrier;
  release(): Promise<void>;
}

/** A hold on the NATS connection for `t` (opened at the first dial or listen, not now: a constructor may call this). */
export function holdNats(t: NatsTransport, who: string): NatsHold {
  const key = JSON.stringify(t);
  let entry = shared.get(key);
  if (entry === undefined) {
    const hub = (async () => new NatsSockets(await openNats({ servers: t.servers, name: `liveswap ${who}`, ...natsSecrets(t) }), t.name))();
    hub.catch(() => shared.delete(key)); // a failed open is tried again by the next user
    entry = { hub, users: 0 };
    shared.set(key, entry);
  }
  const mine = entry;
  mine.users++;
  let released = false;
  const streams: Promise<JetStreamChannels>[] = [];
  return {
    connect: async (address: string, timeoutMs: number): Promise<Duplex> => await (await mine.hub).connect(address, timeoutMs),
    serve: async (address, onSocket) => await (await mine.hub).serve(address, onSocket),
    listening: async (address) => await (await mine.hub).listening(address),
    onConflict: (c) => void mine.hub.then((h) => h.onConflict(c), () => undefined),
    stream: (self, log) => {
      const jet = (async () => await JetStreamChannels.on((await mine.hub).nc, t.name, self, log, t.replicas ?? 1))();
      jet.catch(() => undefined); // said by ready(), which the daemon awaits before it starts
      streams.push(jet);
      return streamOf(jet);
    },
    release: async () => {
      if (released) return;
      released = true;
      for (const jet of streams) await (await jet.catch(() => undefined))?.close();
      if (--mine.users > 0) return;
      if (shared.get(key) === mine) shared.delete(key);
      const hub = await mine.hub.catch(() => undefined);
      hub?.close();
      await hub?.nc.drain().catch(() => hub.nc.close());
    },
  };
}

function streamOf(jet: Promise<JetStreamChannels>): StreamCarrier {
  return {
    ready: async () => void (await jet),
    publish: async (to, link, seq, frames, instance, round, count) => await (await jet).publish(to, link, seq, frames, instance, round, count),
    listen: (from, link, after, instance, onFrame) => void jet.then((j) => j.listen(from, link, after, instance, onFrame)),
    ack: (from, link, seq) => void jet.then((j) => j.ack(from, link, seq)),
    forget: async (from, link) => await (await jet).forget(from, link),
    retract: async (to, link) => await (await jet).retract(to, link),
  };
}

/** The credentials, token and TLS files of `transport:`, read now, with an error naming the field and the file. */
function natsSecrets(t: NatsTransport): { credentials?: string; token?: string; tls?: { ca?: string; cert?: string; key?: string } } {
  const read = (field: string, path: string): string => {
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      throw new ClusterFileError(`field "transport.${field}": ${path} cannot be read: ${fileProblem(e)} (paths are relative to the cluster file)`, { cause: e });
    }
  };
  const tls = t.tls === undefined ? undefined : { ...(t.tls.ca !== undefined ? { ca: read("tls.ca", t.tls.ca) } : {}), ...(t.tls.cert !== undefined ? { cert: read("tls.cert", t.tls.cert) } : {}), ...(t.tls.key !== undefined ? { key: read("tls.key", t.tls.key) } : {}) };
  return {
    ...(t.credentials !== undefined ? { credentials: read("credentials", t.credentials) } : {}),
    ...(t.tokenFile !== undefined ? { token: read("tokenFile", t.tokenFile).trim() } : {}),
    ...(tls !== undefined ? { tls } : {}),
  };
}
