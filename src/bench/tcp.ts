/**
 * TCP figures (wall clock, this machine), over plain TCP and over mutual TLS (the cluster's certificates), each
 * against a raw socket measured in the same run: a bare client and a bare echo server (raw-client.ts,
 * raw-echo-server.ts) dialling and listening through the same sockets.ts as a node (same certificates, same TLS
 * defaults, no-delay), writing the same frames (frame.ts) of the same data messages with the cluster's codec, one
 * socket write per frame. So each ratio is liveswap's own cost: the node runtime (host, trace, channel outbox, acks,
 * flow control) over the same bytes on the same kind of socket.
 *
 * - pipelined: node a sends n pings at once, b answers each with a pong; messages per second, both directions
 *   counted (2n messages from the request to its answer). Targets: >= 0.85 of raw on plain TCP, >= 0.8 on mutual TLS.
 * - latency-bound: one ping in flight (the next leaves when the pong is back); round trips per second. Reported
 *   beside the raw socket's, no target.
 *
 * Then the NATS transport beside the direct mesh (nats.ts): pipelined msgs/s and the update's duration on the paper's
 * experiment, with and without stores, when this machine has nats-server.
 *
 * (The wall-clock pause of a node's swap, once measured here, is its own benchmark: swap-pause.ts.)
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ClusterClient } from "../deploy/cluster-client.js";
import { keysInit } from "../deploy/keys.js";
import { startLocalCluster, type LocalCluster } from "../deploy/local-cluster.js";
import type { Codec } from "../network/tcp/codec.js";
import type { TlsMaterial } from "../network/tcp/sockets.js";
import { fixed, whole } from "./format.js";
import type { ProgressStep } from "./progress.js";
import { targetFigure, type BenchmarkOutput } from "./benchmark.js";
import { rawMaterial, rawRun, startRawServer, type RawServer, type RawTls } from "./raw-client.js";
import { codecNamed } from "./raw-codec.js";
import { measureNats, natsBenchMissing, natsLines, natsRecord } from "./nats.js";

export type Transport = "plain" | "mtls";
/** Pipelined msgs/s over raw msgs/s, at least. */
export const PIPELINED_TARGET: Readonly<Record<Transport, number>> = { plain: 0.85, mtls: 0.8 };

/** One figure of liveswap's beside the raw socket's, measured in the same run (best of the rounds each). */
export interface Pair {
  readonly liveswap: number;
  readonly raw: number;
  readonly ratio: number;
}

export interface TransportFigures {
  /** Messages per second, n pings sent at once and n pongs (2n messages). */
  readonly pipelined: Pair;
  /** Round trips per second, one ping in flight. */
  readonly latency: Pair;
}

export interface TcpFigures {
  readonly codec: string;
  readonly messages: number;
  readonly roundTrips: number;
  readonly rounds: number;
  readonly plain: TransportFigures;
  readonly mtls: TransportFigures;
}

export interface TcpOptions {
  /** Pings of a pipelined run (default 20,000: 40,000 messages). */
  readonly messages?: number;
  /** Round trips of a latency-bound run (default 2,000). */
  readonly roundTrips?: number;
  /** Runs of each figure, interleaved; the best is kept (default 5). */
  readonly rounds?: number;
  readonly onStep?: ProgressStep;
}

const here = import.meta.dirname;
const PUMP = resolve(here, import.meta.url.endsWith(".ts") ? "tcp-pump.ts" : "tcp-pump.js");

/** One side of the comparison on one transport: a liveswap cluster and where its raw twin listens. */
interface Side {
  readonly transport: Transport;
  readonly client: ClusterClient;
  readonly rawPort: number;
  readonly material: TlsMaterial | undefined;
}

async function liveswapRun(client: ClusterClient, n: number, window?: number): Promise<number> {
  const t0 = performance.now();
  await client.request("a", { kind: "pump", n, ...(window !== undefined ? { window } : {}) }, { timeoutMs: 120_000 });
  return (performance.now() - t0) / 1000;
}

function pair(liveswap: number, raw: number): Pair {
  return { liveswap, raw, ratio: raw === 0 ? 0 : liveswap / raw };
}

/** Every figure of both transports, A and B interleaved round after round so both see the same machine. */
async function measureRates(sides: readonly Side[], codec: Codec, o: Required<Omit<TcpOptions, "onStep">>, tick: () => void): Promise<Record<Transport, TransportFigures>> {
  const best = new Map<string, number>();
  const keep = (key: string, rate: number): void => {
    best.set(key, Math.max(best.get(key) ?? 0, rate));
  };
  // A warm-up of each (JIT, connections, TLS sessions), not counted.
  for (const s of sides) {
    await liveswapRun(s.client, 1000);
    await rawRun(s.rawPort, s.material, codec, 1000, 1000);
  }
  for (let r = 0; r < o.rounds; r++) {
    for (const s of sides) {
      keep(`${s.transport}.pipelined.liveswap`, (2 * o.messages) / (await liveswapRun(s.client, o.messages)));
      keep(`${s.transport}.pipelined.raw`, (2 * o.messages) / (await rawRun(s.rawPort, s.material, codec, o.messages, o.messages)));
      keep(`${s.transport}.latency.liveswap`, o.roundTrips / (await liveswapRun(s.client, o.roundTrips, 1)));
      keep(`${s.transport}.latency.raw`, o.roundTrips / (await rawRun(s.rawPort, s.material, codec, o.roundTrips, 1)));
      tick();
    }
  }
  const fig = (t: Transport, what: "pipelined" | "latency"): Pair => pair(best.get(`${t}.${what}.liveswap`) ?? 0, best.get(`${t}.${what}.raw`) ?? 0);
  return {
    plain: { pipelined: fig("plain", "pipelined"), latency: fig("plain", "latency") },
    mtls: { pipelined: fig("mtls", "pipelined"), latency: fig("mtls", "latency") },
  };
}

/** The plain cluster and the mutual-TLS one (a - b each), pushed onto `into` as each starts. */
async function startClusters(dir: string, keys: string, into: LocalCluster[]): Promise<void> {
  for (const t of ["plain", "mtls"] as const) mkdirSync(join(dir, t));
  // Traces to files, as a production cluster keeps them.
  into.push(
    await startLocalCluster({
      dir: join(dir, "plain"),
      nodes: ["a", "b"].map((id) => ({ id, package: PUMP, behavior: "pump-1" })),
      links: [["a", "b"]],
      trace: "traces",
    }),
  );
  into.push(
    await startLocalCluster({
      dir: join(dir, "mtls"),
      nodes: ["a", "b"].map((id) => ({ id, package: PUMP, behavior: "pump-1", cert: join(keys, `${id}.crt`), key: join(keys, `${id}.key`) })),
      links: [["a", "b"]],
      tls: { ca: join(keys, "ca.crt"), control: { cert: join(keys, "control.crt"), key: join(keys, "control.key") } },
      trace: "traces",
    }),
  );
}

export async function measureTcp(opts: TcpOptions = {}): Promise<TcpFigures> {
  const o = { messages: opts.messages ?? 20_000, roundTrips: opts.roundTrips ?? 2_000, rounds: opts.rounds ?? 5 };
  let step = 0;
  const tick = (): void => opts.onStep?.(++step, o.rounds * 2);
  const root = mkdtempSync(join(tmpdir(), "liveswap-tcp-bench-"));
  const keys = join(root, "keys");
  keysInit(keys, ["a", "b"]);
  const rawTls: RawTls = { ca: join(keys, "ca.crt"), server: { cert: join(keys, "b.crt"), key: join(keys, "b.key") }, client: { cert: join(keys, "a.crt"), key: join(keys, "a.key") } };
  const clusters: LocalCluster[] = [];
  let raw: RawServer | undefined;
  const clients: ClusterClient[] = [];
  try {
    await startClusters(root, keys, clusters);
    // The raw baseline speaks the codec the nodes speak (the cluster file's, whichever is the default).
    const codec = codecNamed((clusters[0] as LocalCluster).cluster.codec);
    raw = await startRawServer(codec.name, rawTls);
    for (const c of clusters) clients.push(new ClusterClient(c.cluster));
    const [plainClient, mtlsClient] = clients as [ClusterClient, ClusterClient];
    const sides: Side[] = [
      { transport: "plain", client: plainClient, rawPort: raw.plainPort, material: undefined },
      { transport: "mtls", client: mtlsClient, rawPort: raw.tlsPort ?? 0, material: rawMaterial(rawTls) },
    ];
    return { codec: codec.name, ...o, ...(await measureRates(sides, codec, o, tick)) };
  } finally {
    for (const c of clients) c.close();
    raw?.stop();
    await Promise.all(clusters.map((c) => c.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}

const LABEL: Readonly<Record<Transport, string>> = { plain: "plain TCP", mtls: "mutual TLS" };

function figureLines(t: Transport, f: TransportFigures): string[] {
  const p = f.pipelined;
  const l = f.latency;
  const target = PIPELINED_TARGET[t];
  return [
    `  ${LABEL[t]}, pipelined (n pings at once, a pong for each; messages/s both ways): liveswap ${whole(p.liveswap)}/s, raw socket ${whole(p.raw)}/s, ratio ${fixed(p.ratio, 2)} (target >= ${target}: ${p.ratio >= target ? "met" : "NOT met"})`,
    `  ${LABEL[t]}, latency-bound (one message in flight; round trips/s): liveswap ${whole(l.liveswap)}/s, raw socket ${whole(l.raw)}/s, ratio ${fixed(l.ratio, 2)} (reported, no target)`,
  ];
}

function record(r: TcpFigures): Record<string, number | boolean | string> {
  const out: Record<string, number | boolean | string> = { codec: r.codec, messages: r.messages, roundTrips: r.roundTrips };
  for (const t of ["plain", "mtls"] as const) {
    const f = r[t];
    Object.assign(out, {
      [`${t}PipelinedLiveswapMsgsPerSec`]: f.pipelined.liveswap,
      [`${t}PipelinedRawMsgsPerSec`]: f.pipelined.raw,
      [`${t}PipelinedRatio`]: f.pipelined.ratio,
      [`${t}PipelinedTarget`]: PIPELINED_TARGET[t],
      [`${t}PipelinedMet`]: f.pipelined.ratio >= PIPELINED_TARGET[t],
      [`${t}LatencyLiveswapRoundTripsPerSec`]: f.latency.liveswap,
      [`${t}LatencyRawRoundTripsPerSec`]: f.latency.raw,
      [`${t}LatencyRatio`]: f.latency.ratio,
    });
  }
  return out;
}

/** The runner's entry: the default measurement, its figures (one JSON record) and printable lines. */
export async function tcpBenchmark(progress?: ProgressStep): Promise<BenchmarkOutput> {
  const r = await measureTcp(progress ? { onStep: progress } : {});
  // The NATS transport beside the mesh (nats.ts), when this machine has a nats-server to start.
  const missing = natsBenchMissing();
  const nats = missing === undefined ? await measureNats(progress ? { onStep: progress } : {}) : undefined;
  return {
    records: [{ ...record(r), ...(nats !== undefined ? natsRecord(nats) : {}) }],
    lines: [
      `  node a <-> node b (two processes) against a raw socket with the same framing, codec (${r.codec}) and TLS settings, best of ${r.rounds} interleaved runs:`,
      ...figureLines("plain", r.plain),
      ...figureLines("mtls", r.mtls),
      ...(nats !== undefined ? natsLines(nats) : [`  NATS figures not measured: ${String(missing)}`]),
    ],
    targets: (["plain", "mtls"] as const).map((t) =>
      targetFigure(`${LABEL[t]} pipelined msgs/s / raw socket (${r.codec})`, Number(r[t].pipelined.ratio.toFixed(2)), ">=", PIPELINED_TARGET[t]),
    ),
  };
}
