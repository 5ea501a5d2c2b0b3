/**
 * What the console and the metrics cost the cluster (issue 19: <= 2% of throughput when nobody watches). Three
 * clusters of two pump nodes over plain TCP, traces to files, measured round after round, interleaved:
 *
 * - bare: no metrics endpoint, no console;
 * - unwatched: both nodes serve metrics and a console server is attached to the cluster, nobody scraping or looking;
 * - watched: the same, with a Prometheus-like scrape of both nodes every second and a console page's live stream open
 *   (reported, no target).
 *
 * Every pair has the same CPU placement (taskset). Each round runs the three sides one after the other (in a turning
 * order) and gives a paired ratio, unwatched / bare; the overhead is 1 - the median of those ratios. The best of
 * each side is printed too, but one lucky run decides a best-of, so the paired median is the figure.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ClusterSource } from "../console/cluster-source.js";
import { startConsole, type ConsoleServer } from "../console/console-server.js";
import { ClusterClient } from "../deploy/cluster-client.js";
import { startLocalCluster, type LocalCluster } from "../deploy/local-cluster.js";
import { targetFigure, type BenchmarkOutput } from "./benchmark.js";
import { pin } from "./cpu-isolation.js";
import { fixed, whole } from "./format.js";
import type { ProgressStep } from "./progress.js";

const PUMP = resolve(import.meta.dirname, import.meta.url.endsWith(".ts") ? "tcp-pump.ts" : "tcp-pump.js");
const TOKEN = "bench-console-token-0123456789";
/** Unwatched overhead, at most (1 - ratio). */
export const CONSOLE_OVERHEAD_TARGET = 0.02;

type SideName = "bare" | "unwatched" | "watched";

interface Side {
  readonly name: SideName;
  readonly cluster: LocalCluster;
  readonly client: ClusterClient;
  readonly console?: ConsoleServer;
}

export interface ConsoleOverheadFigures {
  readonly messages: number;
  readonly rounds: number;
  /** Best messages/s of each side. */
  readonly best: Readonly<Record<SideName, number>>;
  /** Each round's unwatched / bare and watched / bare ratios, in order. */
  readonly roundRatios: readonly number[];
  readonly watchedRatios: readonly number[];
  readonly unwatchedOverhead: number;
  readonly watchedOverhead: number;
  /** How the node processes were placed on CPUs. */
  readonly pinned: string;
}

async function pump(client: ClusterClient, n: number): Promise<number> {
  const t0 = performance.now();
  await client.request("a", { kind: "pump", n }, { timeoutMs: 120_000 });
  return (2 * n) / ((performance.now() - t0) / 1000);
}

async function startSide(root: string, name: SideName): Promise<Side> {
  mkdirSync(join(root, name));
  const metrics = name !== "bare";
  const cluster = await startLocalCluster({ dir: join(root, name), nodes: ["a", "b"].map((id) => ({ id, package: PUMP, behavior: "pump-1" })), links: [["a", "b"]], trace: "traces", metrics });
  const client = new ClusterClient(cluster.cluster);
  if (!metrics) return { name, cluster, client };
  const console = await startConsole(new ClusterSource(cluster.cluster), { access: { token: TOKEN } });
  return { name, cluster, client, console };
}

/** While a side is measured as watched: both nodes scraped every second, and the console's live stream read. */
function watch(side: Side): () => void {
  const stop = new AbortController();
  const targets = side.cluster.cluster.nodes.map((n) => `http://${n.metrics ?? ""}/metrics`);
  const timer = setInterval(() => void Promise.all(targets.map((u) => fetch(u, { signal: stop.signal }).then((r) => r.text()))).catch(() => undefined), 1_000);
  if (side.console !== undefined) {
    void fetch(`${side.console.url}/api/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: stop.signal })
      .then(async (r) => {
        for await (const _chunk of r.body ?? []) if (stop.signal.aborted) break;
      })
      .catch(() => undefined);
  }
  return () => {
    clearInterval(timer);
    stop.abort();
  };
}

export async function measureConsoleOverhead(o: { readonly messages?: number; readonly rounds?: number; readonly onStep?: ProgressStep } = {}): Promise<ConsoleOverheadFigures> {
  const messages = o.messages ?? 60_000;
  const rounds = o.rounds ?? 15;
  const root = mkdtempSync(join(tmpdir(), "liveswap-console-bench-"));
  const sides: Side[] = [];
  try {
    for (const name of ["bare", "unwatched", "watched"] as const) sides.push(await startSide(root, name));
    const pinned = pinPairs(sides);
    for (const s of sides) await pump(s.client, 2_000); // warm-up: JIT, connections
    const best: Record<SideName, number> = { bare: 0, unwatched: 0, watched: 0 };
    const roundRatios: number[] = [];
    const watchedRatios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const rate: Partial<Record<SideName, number>> = {};
      // The order turns each round, so that no side always runs right after another (a warm cache, a GC owed).
      for (const s of [...sides.slice(r % sides.length), ...sides.slice(0, r % sides.length)]) {
        const unwatch = s.name === "watched" ? watch(s) : () => undefined;
        const got = await pump(s.client, messages).finally(unwatch);
        rate[s.name] = got;
        best[s.name] = Math.max(best[s.name], got);
      }
      roundRatios.push((rate.unwatched ?? 0) / (rate.bare ?? 1));
      watchedRatios.push((rate.watched ?? 0) / (rate.bare ?? 1));
      o.onStep?.(r + 1, rounds);
    }
    return { messages, rounds, pinned, best, roundRatios, watchedRatios, unwatchedOverhead: 1 - median(roundRatios), watchedOverhead: 1 - median(watchedRatios) };
  } finally {
    for (const s of sides) {
      s.client.close();
      await s.console?.close();
      await s.cluster.stop();
    }
    rmSync(root, { recursive: true, force: true });
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2;
}

/**
 * Every pair the same placement: node a on the first CPU, node b on the second (taskset, every thread). Left to the
 * scheduler, two processes of one pair share a core in one run and not in the next, and pairs differ by tens of percent.
 */
function pinPairs(sides: readonly Side[]): string {
  try {
    for (const s of sides) {
      for (const n of s.cluster.nodes) pin(n.pid, n.id === "a" ? "0" : "1");
    }
    return "placement: node a of every pair on CPU 0, node b on CPU 1 (taskset)";
  } catch (e) {
    return `placement: left to the scheduler (taskset failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)})`;
  }
}

export async function consoleOverheadBenchmark(progress?: ProgressStep): Promise<BenchmarkOutput> {
  const r = await measureConsoleOverhead(progress !== undefined ? { onStep: progress } : {});
  const pct = (x: number): string => `${fixed(x * 100, 1)}%`;
  return {
    records: [{ messages: r.messages, rounds: r.rounds, watchedRatios: r.watchedRatios, bareMsgsPerSec: r.best.bare, unwatchedMsgsPerSec: r.best.unwatched, watchedMsgsPerSec: r.best.watched, unwatchedOverhead: r.unwatchedOverhead, watchedOverhead: r.watchedOverhead, roundRatios: r.roundRatios, target: CONSOLE_OVERHEAD_TARGET, met: r.unwatchedOverhead <= CONSOLE_OVERHEAD_TARGET }],
    lines: [
      `  two pump nodes over plain TCP (traces to files), ${whole(2 * r.messages)} messages a run, ${r.rounds} rounds of the three sides in turn:`,
      `  bare (no metrics, no console): best ${whole(r.best.bare)} msgs/s`,
      `  metrics on both nodes and a console attached, nobody watching: best ${whole(r.best.unwatched)} msgs/s; overhead (1 - median paired ratio) ${pct(r.unwatchedOverhead)} (target <= ${pct(CONSOLE_OVERHEAD_TARGET)}: ${r.unwatchedOverhead <= CONSOLE_OVERHEAD_TARGET ? "met" : "NOT met"})`,
      `  watched (both nodes scraped every second, a console page's stream open): best ${whole(r.best.watched)} msgs/s; overhead ${pct(r.watchedOverhead)} (reported, no target)`,
      `  per round, unwatched / bare: median ${fixed(median(r.roundRatios), 3)}; ${r.roundRatios.map((x) => fixed(x, 3)).join(", ")}`,
      `  ${r.pinned}`,
    ],
    targets: [targetFigure("console and metrics, nobody watching: throughput cost (1 - median of unwatched / bare, paired rounds)", Number(r.unwatchedOverhead.toFixed(3)), "<", CONSOLE_OVERHEAD_TARGET + 1e-9)],
  };
}
