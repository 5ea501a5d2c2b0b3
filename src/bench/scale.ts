/**
 * Scale: a random connected graph (mean degree 4) with a light token workload,
 * updated with conservative and cut from a random root: wall time, peak memory,
 * events per second, and the update's duration against its lower bound. Each
 * size runs in a child process of its own so that its peak RSS is its own.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Rng } from "../core/rng.js";
import { Topology } from "../core/topology.js";
import type { Strategy } from "../core/update.js";
import { System } from "../system.js";
import { eccentricity } from "../update/orientation.js";
import { randomConnectedGraph } from "../harness/topologies.js";
import { install, tokenUpdate, tokenV1 } from "../harness/workload.js";

export interface ScaleResult {
  readonly nodes: number;
  readonly links: number;
  readonly strategy: Strategy;
  /** Wall ms: building the system, the whole run, and the update alone. */
  readonly wallMs: { readonly build: number; readonly run: number; readonly update: number };
  readonly events: number;
  readonly eventsPerSec: number;
  /** Peak resident memory of the process, MB. */
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
  const topo = new Topology();
  for (const n of g.nodes) topo.addNode(n);
  for (const [a, b] of g.links) topo.addLink(a, b);
  const bound = eccentricity(topo, root) * 5.5;
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
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    duration: report.finishedAt - report.startedAt,
    bound,
    controlMessages: report.controlMessages,
  };
}

/** One scale run in a fresh child process (its own peak RSS). */
export function runScaleInChild(nodes: number, strategy: Strategy, seed = 1): Promise<ScaleResult> {
  const child = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./scale-child.ts" : "./scale-child.js", import.meta.url));
  return new Promise((resolve, reject) => {
    const p = fork(child, [String(nodes), strategy, String(seed)], { execArgv: process.execArgv, stdio: ["ignore", "pipe", "inherit", "ipc"] });
    let out = "";
    p.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", reject);
    p.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`scale run (${nodes} nodes, ${strategy}) exited with code ${code}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() as string) as ScaleResult);
      } catch (e) {
        reject(new Error(`scale run (${nodes} nodes, ${strategy}) printed no result: ${String(e)}`));
      }
    });
  });
}
