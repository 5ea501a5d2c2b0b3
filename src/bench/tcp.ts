/**
 * TCP figures (wall clock, this machine): messages per second between two
 * node processes against a bare `net` echo with the same framing and codec,
 * measured in the same run; and the wall-clock pause of a node's swap.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ClusterClient } from "../deploy/cluster-client.js";
import { nodeCommand } from "../deploy/cluster-processes.js";
import { keysInit } from "../deploy/keys.js";
import { startLocalCluster } from "../deploy/local-cluster.js";
import { pack } from "../deploy/update-package.js";
import { jsonCodec } from "../network/tcp/codec.js";
import { encodeFrame, FrameDecoder } from "../network/tcp/frame.js";
import { latencyStats, type LatencyStats } from "./disruption.js";
import { fixed } from "./format.js";
import type { ProgressStep } from "./progress.js";
import type { BenchmarkOutput } from "./benchmark.js";

export interface TcpFigures {
  /** Ping-pong round trips per second (each is two messages). */
  readonly liveswapMsgsPerSec: number;
  readonly rawMsgsPerSec: number;
  readonly ratio: number;
  readonly swapPauseMs: LatencyStats & { readonly mean: number };
  readonly swaps: number;
}

const here = import.meta.dirname;

async function rawEcho(n: number, rounds: number): Promise<number> {
  const { cmd, args } = nodeCommand();
  const script = resolve(here, here.endsWith("src/bench") && import.meta.url.endsWith(".ts") ? "raw-echo-server.ts" : "raw-echo-server.js");
  const child = spawn(cmd, [...args.slice(0, -1), script], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((r) => child.stdout.once("data", (b: Buffer) => r(Number(b.toString().trim()))));
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  await new Promise((r) => socket.once("connect", r));
  const decoder = new FrameDecoder();
  let best = 0;
  for (let round = 0; round < rounds; round++) {
    let got = 0;
    const t0 = performance.now();
    const done = new Promise<void>((r) => {
      const onData = (chunk: Buffer): void => {
        for (const f of decoder.push(chunk)) {
          jsonCodec.decode(f);
          if (++got === n) {
            socket.off("data", onData);
            r();
          }
        }
      };
      socket.on("data", onData);
    });
    // The same frames a node sends: a numbered data frame carrying an application envelope.
    for (let i = 0; i < n; i++) {
      socket.write(encodeFrame(jsonCodec.encode({ t: "data", seq: i + 1, lc: i, env: { kind: "app", id: `a.${i}`, from: "a", to: "b", epoch: 0, body: { k: "ping", i }, link: 1 } })));
    }
    await done;
    best = Math.max(best, (2 * n) / ((performance.now() - t0) / 1000));
  }
  socket.destroy();
  child.kill("SIGTERM");
  return best;
}

export async function measureTcp(opts: { readonly messages?: number; readonly rounds?: number; readonly updates?: number; readonly onStep?: ProgressStep } = {}): Promise<TcpFigures> {
  const n = opts.messages ?? 20_000;
  const rounds = opts.rounds ?? 3;
  const updates = opts.updates ?? 20;
  const total = rounds * 2 + updates;
  let step = 0;
  const tick = (): void => opts.onStep?.(++step, total);
  const dir = mkdtempSync(join(tmpdir(), "liveswap-tcp-bench-"));
  keysInit(join(dir, "keys"), []);
  const pump = resolve(here, import.meta.url.endsWith(".ts") ? "tcp-pump.ts" : "tcp-pump.js");
  const local = await startLocalCluster({
    dir,
    nodes: ["a", "b", "c"].map((id) => ({ id, package: pump, behavior: "pump-1" })),
    links: [
      ["a", "b"],
      ["b", "c"],
    ],
    trust: { signingKey: join(dir, "keys", "signing.pub") },
    // Traces to files, as a production cluster keeps them: in memory their garbage collection would show in the swap pause.
    trace: "traces",
  });
  const client = new ClusterClient(local.cluster);
  try {
    // Messages: node a pumps to b and back, against the raw echo, interleaved so both see the same machine.
    let best = 0;
    let raw = 0;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      await client.request("a", { kind: "pump", n });
      best = Math.max(best, (2 * n) / ((performance.now() - t0) / 1000));
      tick();
      raw = Math.max(raw, await rawEcho(n, 1));
      tick();
    }
    // Swap pauses: a chain of updates pump@k -> pump@k+1 over three nodes.
    const pauses: number[] = [];
    for (let k = 1; k <= updates; k++) {
      const entry = join(dir, `update-${k}.ts`);
      writeFileSync(entry, `import { pumpUpdate } from ${JSON.stringify(pump)};\nexport const update = pumpUpdate(${k});\n`);
      const pkg = JSON.stringify(await pack(entry, { key: join(dir, "keys", "signing.key") }));
      await client.update(pkg, { strategy: k % 2 === 0 ? "cut" : "conservative", root: "a" });
      for (const f of client.lastFigures.values()) if (Number.isFinite(f.swapPauseMs)) pauses.push(f.swapPauseMs);
      tick();
    }
    const stats = latencyStats(pauses);
    return {
      liveswapMsgsPerSec: best,
      rawMsgsPerSec: raw,
      ratio: raw === 0 ? 0 : best / raw,
      swapPauseMs: { ...stats, mean: pauses.reduce((a, b) => a + b, 0) / Math.max(1, pauses.length) },
      swaps: pauses.length,
    };
  } finally {
    client.close();
    await local.stop();
  }
}

/** The runner's entry: the default measurement, its figures (one JSON record) and printable lines. */
export async function tcpBenchmark(progress?: ProgressStep): Promise<BenchmarkOutput> {
  const r = await measureTcp(progress ? { onStep: progress } : {});
  const p = r.swapPauseMs;
  return {
    records: [{ liveswapMsgsPerSec: r.liveswapMsgsPerSec, rawMsgsPerSec: r.rawMsgsPerSec, ratio: r.ratio, swapPauseP50Ms: p.p50, swapPauseP99Ms: p.p99, swapPauseMaxMs: p.max, swaps: r.swaps }],
    lines: [
      `  messages between two node processes: ${fixed(r.liveswapMsgsPerSec, 0)}/s; raw net echo, same framing: ${fixed(r.rawMsgsPerSec, 0)}/s; ratio ${fixed(r.ratio, 2)} (target >= 0.5)`,
      `  swap pause over ${r.swaps} swaps: p50 ${fixed(p.p50, 2)} ms, p99 ${fixed(p.p99, 2)} ms, max ${fixed(p.max, 2)} ms, mean ${fixed(p.mean, 2)} ms (target p99 < 5 ms)`,
    ],
  };
}
