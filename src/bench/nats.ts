/**
 * The NATS transport's figures beside the direct TCP mesh's (issue 20), measured in one run on this machine with a
 * nats-server of its own (JetStream, store in a temporary directory), printed by `npm run bench -- tcp` after the
 * raw-socket comparison. Four cluster configurations, each started fresh, plain (no TLS):
 *
 * - TCP mesh, and NATS: nodes without stores (over NATS every connection rides on NATS core);
 * - TCP mesh with stores, and NATS with stores: durable nodes (over NATS their data frames go through JetStream).
 *
 * Two figures each: pipelined messages/s between two nodes (n pings at once, a pong each: the `tcp` bench's pump,
 * best of the interleaved rounds), and the update's duration on the paper's experiment (the replicated database on a
 * line of 5 replicas, db@1 -> db@2 by the key-format update, conservative strategy, under a load of global reads and
 * local writes): from the update's request to the coordinator's report (requestedAt to completedAt, the nodes'
 * clocks), median over the rounds, a fresh cluster each.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ClusterClient } from "../deploy/cluster-client.js";
import { keysInit } from "../deploy/keys.js";
import { startLocalCluster, type LocalCluster, type LocalClusterSpec } from "../deploy/local-cluster.js";
import { natsServerMissing, startLocalNats, type LocalNatsServer } from "../deploy/local-nats.js";
import { pack } from "../deploy/update-package.js";
import { fixed, whole } from "./format.js";
import type { ProgressStep } from "./progress.js";

export type NatsConfig = "tcp" | "nats" | "tcpDurable" | "natsDurable";
const CONFIGS: readonly NatsConfig[] = ["tcp", "nats", "tcpDurable", "natsDurable"];
export const CONFIG_LABEL: Readonly<Record<NatsConfig, string>> = {
  tcp: "TCP mesh",
  nats: "NATS (core)",
  tcpDurable: "TCP mesh, stores",
  natsDurable: "NATS, stores (JetStream)",
};

export interface NatsFigures {
  readonly messages: number;
  readonly rounds: number;
  readonly replicas: number;
  /** Pipelined messages/s, best of the rounds. */
  readonly pipelined: Readonly<Record<NatsConfig, number>>;
  /** The update's duration (ms), median of the rounds. */
  readonly updateMs: Readonly<Record<NatsConfig, number>>;
}

export interface NatsBenchOptions {
  readonly messages?: number;
  readonly rounds?: number;
  readonly replicas?: number;
  readonly onStep?: ProgressStep;
}

const here = import.meta.dirname;
const fromSource = import.meta.url.endsWith(".ts");
const PUMP = resolve(here, fromSource ? "tcp-pump.ts" : "tcp-pump.js");
const DB = resolve(here, "..", "scenarios", "replicated-db", fromSource ? "package.ts" : "package.js");
const KEY_UPDATE = resolve(here, "..", "scenarios", "replicated-db", fromSource ? "key-update.ts" : "key-update.js");

/** Why the NATS figures cannot be measured here (no nats-server), or undefined. */
export const natsBenchMissing = natsServerMissing;

function spec(config: NatsConfig, nats: LocalNatsServer, name: string, base: Omit<LocalClusterSpec, "dir">, dir: string): LocalClusterSpec {
  const durable = config === "tcpDurable" || config === "natsDurable";
  const overNats = config === "nats" || config === "natsDurable";
  return { ...base, dir, trace: "traces", ...(durable ? { store: "store" } : {}), ...(overNats ? { transport: { kind: "nats", servers: [nats.url], name } } : {}) };
}

/** A fresh cluster of `config`, its client, and what stops both. */
async function open(config: NatsConfig, nats: LocalNatsServer, base: Omit<LocalClusterSpec, "dir">, n: number): Promise<{ readonly client: ClusterClient; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-nats-bench-"));
  let c: LocalCluster | undefined;
  try {
    c = await startLocalCluster(spec(config, nats, `b${process.pid}x${n}`, base, dir));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const cluster = c;
  const client = new ClusterClient(cluster.cluster);
  return {
    client,
    close: async () => {
      client.close();
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Pipelined pump rate (messages/s both ways) of one running pair. */
async function pumpRate(client: ClusterClient, n: number): Promise<number> {
  const t0 = performance.now();
  await client.request("a", { kind: "pump", n }, { timeoutMs: 180_000 });
  return (2 * n) / ((performance.now() - t0) / 1000);
}

/** One update of the paper's experiment under load, on a fresh line of replicas: its duration in ms. */
async function updateOnce(config: NatsConfig, nats: LocalNatsServer, replicas: number, update: { readonly pkg: string; readonly signingKey: string }, n: number): Promise<number> {
  const ids = Array.from({ length: replicas }, (_, i) => `r${i}`);
  const c = await open(config, nats, { nodes: ids.map((id) => ({ id, package: DB, behavior: "db-v1" })), links: ids.slice(1).map((id, i) => [ids[i] as string, id] as const), trust: { signingKey: update.signingKey } }, n);
  let stop = false;
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      await Promise.all([c.client.request("r0", { kind: "global-read", entry: i % 38 }), c.client.request(ids[i % replicas] as string, { kind: "write", entry: i % 38, value: `v${i}` })]);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 500));
    const report = await c.client.update(update.pkg, { strategy: "conservative", root: ids[replicas - 1] as string });
    return report.completedAt - report.requestedAt;
  } finally {
    stop = true;
    await load.catch(() => undefined);
    await c.close();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2;
}

export async function measureNats(opts: NatsBenchOptions = {}): Promise<NatsFigures> {
  const o = { messages: opts.messages ?? 20_000, rounds: opts.rounds ?? 3, replicas: opts.replicas ?? 5 };
  const nats = await startLocalNats();
  const keys = mkdtempSync(join(tmpdir(), "liveswap-nats-bench-keys-"));
  let step = 0;
  const tick = (): void => opts.onStep?.(++step, o.rounds * 2);
  let made = 0;
  try {
    keysInit(keys, []);
    const update = { pkg: JSON.stringify(await pack(KEY_UPDATE, { key: join(keys, "signing.key") })), signingKey: join(keys, "signing.pub") };
    const pipelined = Object.fromEntries(CONFIGS.map((k) => [k, 0])) as Record<NatsConfig, number>;
    const pairs = await Promise.all(CONFIGS.map(async (k) => [k, await open(k, nats, { nodes: ["a", "b"].map((id) => ({ id, package: PUMP, behavior: "pump-1" })), links: [["a", "b"]] }, ++made)] as const));
    try {
      for (const [, p] of pairs) await pumpRate(p.client, 1000); // warm-up: JIT, connections, the stream
      for (let r = 0; r < o.rounds; r++) {
        for (const [k, p] of pairs) pipelined[k] = Math.max(pipelined[k], await pumpRate(p.client, o.messages));
        tick();
      }
    } finally {
      for (const [, p] of pairs) await p.close();
    }
    const durations = new Map<NatsConfig, number[]>(CONFIGS.map((k) => [k, []]));
    for (let r = 0; r < o.rounds; r++) {
      for (const k of CONFIGS) durations.get(k)?.push(await updateOnce(k, nats, o.replicas, update, ++made));
      tick();
    }
    const updateMs = Object.fromEntries(CONFIGS.map((k) => [k, median(durations.get(k) ?? [])])) as Record<NatsConfig, number>;
    return { ...o, pipelined, updateMs };
  } finally {
    await nats.close();
    rmSync(keys, { recursive: true, force: true });
  }
}

/** The printed lines: each configuration's two figures, the NATS ones as a ratio of the TCP mesh's alike. */
export function natsLines(f: NatsFigures): string[] {
  const against: Readonly<Record<NatsConfig, NatsConfig>> = { tcp: "tcp", nats: "tcp", tcpDurable: "tcpDurable", natsDurable: "tcpDurable" };
  return [
    `  NATS beside the direct TCP mesh (plain, one nats-server with JetStream on this machine; pipelined: a <-> b, ${whole(f.messages)} pings at once, best of ${f.rounds}; update: the paper's experiment, ${f.replicas} replicas, conservative, under load, median of ${f.rounds}):`,
    ...CONFIGS.map((k) => {
      const base = against[k];
      const vs = k === base ? "" : ` (${fixed(f.pipelined[k] / Math.max(1, f.pipelined[base]), 2)} of ${CONFIG_LABEL[base]}; update ${fixed(f.updateMs[k] / Math.max(1, f.updateMs[base]), 2)}x)`;
      return `    ${CONFIG_LABEL[k]}: pipelined ${whole(f.pipelined[k])} msgs/s, update ${whole(f.updateMs[k])} ms${vs}`;
    }),
  ];
}

export function natsRecord(f: NatsFigures): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of CONFIGS) {
    out[`${k}PipelinedMsgsPerSec`] = f.pipelined[k];
    out[`${k}UpdateMs`] = f.updateMs[k];
  }
  return out;
}
