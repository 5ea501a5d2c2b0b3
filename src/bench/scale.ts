/**
 * Scale: a random connected graph (mean degree 4) with a light token workload,
 * updated with conservative and cut from a random root: wall time, peak memory,
 * events per second, and the update's duration against its lower bound. Each
 * size runs in a child process of its own so that its peak RSS is its own.
 */
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Rng } from "../core/rng.js";
import type { NodeId } from "../core/ids.js";
import type { Strategy } from "../core/update.js";
import { System } from "../system.js";
import { indexGraph, randomConnectedGraph, type Graph } from "../harness/topologies.js";
import { install, tokenUpdate, tokenV1 } from "../harness/workload.js";

export interface ScaleResult {
  readonly nodes: number;
  readonly links: number;
  readonly strategy: Strategy;
  /** Wall ms: building the system, the whole run, and the update alone. */
  readonly wallMs: { readonly build: number; readonly run: number; readonly update: number };
  readonly events: number;
  readonly eventsPerSec: number;
  /** Peak resident memory of the process (the child's own, so the build is in it), MB. */
  readonly peakRssMb: number;
  /** Virtual ms. */
  readonly duration: number;
  readonly bound: number;
  readonly controlMessages: number;
}

/** One scale run in this process. */
export async function runScale(nodes: number, strategy: Strategy, seed = 1): Promise<ScaleResult> {
  const t0 = performance.now();
  const g = randomConnectedGraph(nodes, 4, seed);
  const sys = new System({ seed, trace: false });
  install(sys, g, tokenV1);
  const rng = new Rng(seed);
  const root = rng.pick(g.nodes);
  const bound = eccentricityOf(g, root) * 5.5;
  const t1 = performance.now();
  // light load: one node in a hundred sends a token of 50 hops, before and during the update
  const asks: Promise<unknown>[] = [];
  for (let i = 0; i < Math.max(1, nodes / 100); i++) asks.push(sys.request(rng.pick(g.nodes), { hops: 50 }));
  await sys.sleep(20);
  const u0 = performance.now();
  const report = await sys.update(tokenUpdate, { strategy, root });
  const u1 = performance.now();
  await Promise.all(asks);
  await sys.settle();
  const t2 = performance.now();
  const events = sys.eventsExecuted();
  await sys.close();
  return {
    nodes,
    links: g.links.length,
    strategy,
    wallMs: { build: t1 - t0, run: t2 - t1, update: u1 - u0 },
    events,
    eventsPerSec: (events / (t2 - t1)) * 1000,
    peakRssMb: peakRssMb(),
    duration: report.finishedAt - report.startedAt,
    bound,
    controlMessages: report.controlMessages,
  };
}

/**
 * The root's eccentricity (hops to the farthest node) by a breadth-first walk over the graph by index: the same
 * figure as update/orientation's eccentricity on a Topology, without building a second topology of a million nodes.
 */
function eccentricityOf(g: Graph, root: NodeId): number {
  const { adj } = indexGraph(g);
  const dist = new Int32Array(adj.length).fill(-1);
  const queue = new Int32Array(adj.length);
  const start = g.nodes.indexOf(root);
  dist[start] = 0;
  queue[0] = start;
  let max = 0;
  for (let head = 0, tail = 1; head < tail; head++) {
    const n = queue[head] as number;
    const d = (dist[n] as number) + 1;
    for (const m of adj[n] as readonly number[]) {
      if (dist[m] !== -1) continue;
      dist[m] = d;
      max = d;
      queue[tail++] = m;
    }
  }
  return max;
}

/** The process's peak resident set: VmHWM where /proc has it (Linux), else what resourceUsage reports. */
function peakRssMb(): number {
  return peakRssMbOf("self") ?? process.resourceUsage().maxRSS / 1024;
}

/** A process's peak resident set from /proc (Linux), or undefined. */
function peakRssMbOf(pid: number | "self" | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined; // no /proc
  }
}

/**
 * Heap allowed a child: V8's default old space (about 4 GB on 64-bit, less on a small machine) is too tight for a
 * million nodes' transient peak; the figure reported is the resident set, whatever this allows.
 */
function heapFor(nodes: number): string[] {
  return nodes >= 200_000 ? [`--max-old-space-size=${Math.ceil(nodes / 1000) * 12}`] : [];
}

/**
 * A size's run is stopped past this many times the target's 30 s (at 1,000,000 nodes it used to run for many
 * minutes and 10 GB): the benchmark reports it stopped, and its other sizes.
 */
export const SCALE_CHILD_LIMIT_MS = 10 * 30_000;

/** One scale run in a fresh child process (its own peak RSS), stopped after `limitMs`. */
export function runScaleInChild(nodes: number, strategy: Strategy, seed = 1, limitMs = SCALE_CHILD_LIMIT_MS): Promise<ScaleResult> {
  const fromSource = import.meta.url.endsWith(".ts");
  const child = fileURLToPath(new URL(fromSource ? "./scale-child.ts" : "./scale-child.js", import.meta.url));
  return new Promise((resolve, reject) => {
    // From the sources the child needs tsx, whoever started this process (the CLI through tsx, or a test runner).
    const loader = fromSource && !process.execArgv.some((a) => a.includes("tsx")) ? ["--import", import.meta.resolve("tsx")] : [];
    const execArgv = [...process.execArgv, ...loader, ...heapFor(nodes)];
    const p = fork(child, [String(nodes), strategy, String(seed)], { execArgv, stdio: ["ignore", "pipe", "inherit", "ipc"] });
    let out = "";
    // Stopped, the run says how far its memory had grown (the child's VmHWM, read before the kill).
    let stopped: string | undefined;
    const limit = setTimeout(() => {
      const mb = peakRssMbOf(p.pid);
      stopped = mb === undefined ? "" : ` at ${Math.round(mb)} MB peak RSS`;
      p.kill("SIGKILL");
    }, limitMs);
    p.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", (e) => {
      clearTimeout(limit);
      reject(e);
    });
    p.on("exit", (code, signal) => {
      clearTimeout(limit);
      const run = `scale run (${nodes} nodes, ${strategy})`;
      if (stopped !== undefined) return reject(new Error(`${run} stopped after ${limitMs / 1000} s${stopped} (the benchmark's limit: 10 times the target)`));
      // Killed by anything else: the kernel's out-of-memory killer, most likely, at this size.
      if (signal !== null) return reject(new Error(`${run} was killed (${signal}): out of memory? its heap cap is ${heapFor(nodes).join(" ") || "V8's default"}`));
      if (code !== 0) return reject(new Error(`${run} exited with code ${code}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() as string) as ScaleResult);
      } catch (e) {
        reject(new Error(`scale run (${nodes} nodes, ${strategy}) printed no result: ${String(e)}`));
      }
    });
  });
}
