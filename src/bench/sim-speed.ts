/**
 * Simulator speed: how many events per second the runtime executes on a large
 * random workload, against a bare loop that performs exactly the same
 * deliveries with the same BinaryHeap and Rng but none of the runtime.
 *
 * Workload: `nodes` nodes on a seeded random connected graph (a random
 * spanning tree plus random extra links up to the mean degree). At init every
 * node sets a timer; when it fires the node sends `tokensPerNode` tokens, each
 * with a hop budget of `hops`. A node receiving a token with budget h > 0
 * forwards it with budget h - 1 to neighbors[count % degree], where count is
 * how many tokens it has received so far (its state). Deliveries:
 * nodes * tokensPerNode * (hops + 1); timer firings: nodes.
 *
 * The bare loop replays the simulated network's rules: seq per scheduled
 * event (timers included), one delay drawn per transmit from Rng(seed) as
 * rng.int(min, max), delivery at max(now + delay, last delivery on the
 * channel), events popped in (time, seq) order. So it draws the same delays in
 * the same order and delivers the same messages at the same virtual times;
 * the result reports both final clocks and a checksum so that a test can hold
 * them equal.
 */
import { defineBehavior, type Behavior } from "../core/behavior.js";
import { Rng } from "../core/rng.js";
import { indexGraph, randomConnectedGraph, type Graph, type IndexedGraph } from "../harness/topologies.js";
import { System } from "../system.js";
import { count, fixed } from "./format.js";
import { targetFigure, type BenchmarkOutput } from "./benchmark.js";

export interface SimSpeedOptions {
  /** Number of nodes (default 1000). */
  readonly nodes?: number;
  /** Mean degree of the random graph (default 4). */
  readonly degree?: number;
  /** Tokens each node starts when its init timer fires (default 4). */
  readonly tokensPerNode?: number;
  /** Hop budget of each token (default 499: 500 deliveries per token). */
  readonly hops?: number;
  /** Seed of the graph, of the System and of the bare loop's Rng (default 7). */
  readonly seed?: number;
  /** Which passes to run (default all three). */
  readonly passes?: readonly Pass[];
  /** Run a small warm-up of every pass first (default true). */
  readonly warmup?: boolean;
  /** Measure each pass this many times, interleaved, and keep the fastest (default 1). */
  readonly repeat?: number;
}

/** The bare loop, and the runtime with the trace off and on, each with the simulated store (the default) and without. */
export type Pass = "bare" | "traceOff" | "traceOn" | "storeTraceOff" | "storeTraceOn";
const RUNTIME_PASSES: readonly Exclude<Pass, "bare">[] = ["traceOff", "traceOn", "storeTraceOff", "storeTraceOn"];
const PASS_SETTINGS: Record<Exclude<Pass, "bare">, { readonly trace: boolean; readonly store: boolean }> = {
  traceOff: { trace: false, store: false },
  traceOn: { trace: true, store: false },
  storeTraceOff: { trace: false, store: true },
  storeTraceOn: { trace: true, store: true },
};

/** What one pass did and how long it took. */
export interface PassResult {
  readonly deliveries: number;
  readonly timers: number;
  readonly requests: number;
  /** deliveries + timers + requests. */
  readonly events: number;
  readonly wallMs: number;
  readonly eventsPerSec: number;
  /** Virtual time at the end of the run. */
  readonly finalTime: number;
  /** Sum over deliveries of delivery time * (hops left + 1), then every node's receive count folded in, mod 2^32: the same run gives the same value. */
  readonly checksum: number;
  /** Trace length (trace on only). */
  readonly traceEvents?: number;
  /** Trace events of kind "deliver" (trace on only): must equal deliveries. */
  readonly traceDeliveries?: number;
}

export interface SimSpeedResult {
  readonly nodes: number;
  readonly links: number;
  readonly tokensPerNode: number;
  readonly hops: number;
  readonly seed: number;
  readonly repeat: number;
  /** The fastest of the repeats of each pass (traceOff/traceOn: without the store; store*: with it). */
  readonly bare?: PassResult;
  readonly traceOff?: PassResult;
  readonly traceOn?: PassResult;
  readonly storeTraceOff?: PassResult;
  readonly storeTraceOn?: PassResult;
  /** events/s of every repeat, in run order, to show the spread. */
  readonly rates: Record<Pass, number[]>;
}

const DELAY = { min: 1, max: 10 } as const;
/** The start timers are spread over this many virtual ms. */
const START_SPREAD = 10;

interface Counters {
  deliveries: number;
  timers: number;
  requests: number;
  checksum: number;
}

/**
 * The benchmark's node program, one behavior object shared by every node as an
 * application would. State: how many tokens this node has received (a number,
 * so a handler allocates nothing of its own).
 */
function tokenBehavior(counters: Counters, indexOf: ReadonlyMap<string, number>, tokensPerNode: number, hops: number): Behavior<number, number> {
  return defineBehavior<number, number>({
    version: "token@1",
    init: (ctx) => {
      ctx.setTimer((indexOf.get(ctx.self) as number) % START_SPREAD, "start");
      return 0;
    },
    timer: (count, _tag, ctx) => {
      counters.timers++;
      const nbrs = ctx.neighbors();
      for (let k = 0; k < tokensPerNode; k++) ctx.send(nbrs[k % nbrs.length] as string, hops);
      return count;
    },
    receive: (count, h, _from, ctx) => {
      counters.deliveries++;
      counters.checksum = (counters.checksum + ctx.now * (h + 1)) >>> 0;
      if (h > 0) {
        const nbrs = ctx.neighbors();
        ctx.send(nbrs[count % nbrs.length] as string, h - 1);
      }
      return count + 1;
    },
  });
}

function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Folds every node's final receive count into the checksum (after the timing): the same run leaves the same counts at the same nodes. */
function withNodeCounts(checksum: number, counts: (i: number) => number, n: number): number {
  let c = checksum;
  for (let i = 0; i < n; i++) c = (Math.imul(c, 31) + (i + 1) * counts(i)) >>> 0;
  return c;
}

function result(c: Counters, wallMs: number, finalTime: number, checksum: number, trace?: readonly { readonly kind: string }[]): PassResult {
  const events = c.deliveries + c.timers + c.requests;
  return {
    deliveries: c.deliveries,
    timers: c.timers,
    requests: c.requests,
    events,
    wallMs,
    eventsPerSec: wallMs > 0 ? (events * 1000) / wallMs : 0,
    finalTime,
    checksum,
    ...(trace === undefined ? {} : { traceEvents: trace.length, traceDeliveries: trace.filter((e) => e.kind === "deliver").length }),
  };
}

/**
 * The runtime: a seeded System running the token workload until it settles, with the trace on or off and the
 * simulated store (SystemOptions.store) on or off. Timed from the System's construction to the end of settle(); the
 * trace's event objects are built after (sys.trace()), outside the timing, as a checker would ask for them.
 */
export async function runRuntime(g: Graph, tokensPerNode: number, hops: number, seed: number, trace: boolean, store = false): Promise<PassResult> {
  const names = g.nodes;
  const indexOf = new Map(names.map((name, i) => [name, i] as const));
  const counters: Counters = { deliveries: 0, timers: 0, requests: 0, checksum: 0 };
  const behavior = tokenBehavior(counters, indexOf, tokensPerNode, hops);
  const start = process.hrtime.bigint();
  const sys = new System({ seed, delay: DELAY, trace, store });
  for (const name of names) sys.create(name, behavior);
  for (const [a, b] of g.links) sys.link(a, b);
  await sys.settle();
  const wallMs = elapsedMs(start);
  const checksum = withNodeCounts(counters.checksum, (i) => sys.state(names[i] as string) as number, names.length);
  const out = result(counters, wallMs, sys.now(), checksum, trace ? sys.trace() : undefined);
  await sys.close();
  return out;
}

/** A bare event: a timer (to = node, hops = -1) or a delivery of a token with `hops` left. */
interface BareEvent {
  readonly time: number;
  readonly seq: number;
  readonly to: number;
  readonly hops: number;
}

type HeapModule = typeof import("../core/binary-heap.js");
let bareHeapModule: Promise<HeapModule> | undefined;

/**
 * The bare loop's BinaryHeap: the same source, loaded as a second module
 * instance. V8 keeps type feedback per function object, so one shared class
 * would see the runtime's SimEvents and the bare loop's events at the same
 * property loads and run both slower than either runs alone (measured: about
 * -15% for each). A separate instance lets each side be as fast as it is by itself.
 */
function loadBareHeap(): Promise<HeapModule> {
  const spec: string = "../core/binary-heap.js?bare-loop";
  bareHeapModule ??= import(spec) as Promise<HeapModule>;
  return bareHeapModule;
}

/** The same deliveries without the runtime: one heap, one Rng, typed arrays. Timed from its setup to the last event. */
export async function runBare(g: IndexedGraph, tokensPerNode: number, hops: number, seed: number): Promise<PassResult> {
  const { BinaryHeap: Heap } = await loadBareHeap();
  const counters: Counters = { deliveries: 0, timers: 0, requests: 0, checksum: 0 };
  const start = process.hrtime.bigint();
  const adj = g.adj;
  const n = adj.length;
  // Directed channel u -> adj[u][j] is slot offset[u] + j; last scheduled delivery time on it.
  const offset = new Int32Array(n + 1);
  for (let u = 0; u < n; u++) offset[u + 1] = (offset[u] as number) + (adj[u] as readonly number[]).length;
  const lastDelivery = new Float64Array(offset[n] as number).fill(-1);
  const received = new Int32Array(n);
  const rng = new Rng(seed);
  const heap = new Heap<BareEvent>();
  const { min, max } = DELAY;
  let clock = 0;
  let seq = 0;
  const transmit = (from: number, j: number, h: number): void => {
    const to = (adj[from] as readonly number[])[j] as number;
    const slot = (offset[from] as number) + j;
    let time = clock + rng.int(min, max);
    const last = lastDelivery[slot] as number;
    if (last > time) time = last;
    lastDelivery[slot] = time;
    heap.push({ time, seq: seq++, to, hops: h });
  };
  for (let u = 0; u < n; u++) heap.push({ time: u % START_SPREAD, seq: seq++, to: u, hops: -1 });
  for (;;) {
    const ev = heap.pop();
    if (ev === undefined) break;
    if (ev.time > clock) clock = ev.time;
    const u = ev.to;
    const deg = (adj[u] as readonly number[]).length;
    if (ev.hops < 0) {
      counters.timers++;
      for (let k = 0; k < tokensPerNode; k++) transmit(u, k % deg, hops);
      continue;
    }
    counters.deliveries++;
    counters.checksum = (counters.checksum + clock * (ev.hops + 1)) >>> 0;
    const count = received[u] as number;
    received[u] = count + 1;
    if (ev.hops > 0) transmit(u, count % deg, ev.hops - 1);
  }
  const wallMs = elapsedMs(start);
  return result(counters, wallMs, clock, withNodeCounts(counters.checksum, (i) => received[i] as number, n));
}

/** Run the passes on one workload, after a small warm-up of each. */
export async function simSpeed(opts: SimSpeedOptions = {}): Promise<SimSpeedResult> {
  const nodes = opts.nodes ?? 1000;
  const degree = opts.degree ?? 4;
  const tokensPerNode = opts.tokensPerNode ?? 4;
  const hops = opts.hops ?? 499;
  const seed = opts.seed ?? 7;
  const passes = opts.passes ?? ["bare", ...RUNTIME_PASSES];
  const g = randomConnectedGraph(nodes, degree, seed);
  const indexed = indexGraph(g);
  if (opts.warmup ?? true) {
    const w = randomConnectedGraph(Math.min(nodes, 200), degree, seed + 1);
    for (let i = 0; i < 3; i++) {
      await runBare(indexGraph(w), 2, 199, seed + 1);
      for (const pass of RUNTIME_PASSES) await runRuntime(w, 2, 99, seed + 1, PASS_SETTINGS[pass].trace, PASS_SETTINGS[pass].store);
    }
  }
  const repeat = opts.repeat ?? 1;
  const out: { -readonly [K in keyof SimSpeedResult]: SimSpeedResult[K] } = {
    nodes,
    links: g.links.length,
    tokensPerNode,
    hops,
    seed,
    repeat,
    rates: { bare: [], traceOff: [], traceOn: [], storeTraceOff: [], storeTraceOn: [] },
  };
  const keep = (pass: Pass, r: PassResult): void => {
    out.rates[pass].push(r.eventsPerSec);
    const best = out[pass];
    if (best === undefined || r.eventsPerSec > best.eventsPerSec) out[pass] = r;
  };
  for (let i = 0; i < repeat; i++) {
    // Each pass's System is closed and dropped before the next starts: no pass's trace burdens another's collector.
    if (passes.includes("bare")) keep("bare", await runBare(indexed, tokensPerNode, hops, seed));
    for (const pass of RUNTIME_PASSES) {
      const { trace, store } = PASS_SETTINGS[pass];
      if (passes.includes(pass)) keep(pass, await runRuntime(g, tokensPerNode, hops, seed, trace, store));
    }
  }
  return out;
}

/** Target (issue 17): the runtime at least this fraction of the bare loop's events/s, trace on and trace off. */
export const TARGET_RATIO = 0.5;

const LABELS: Record<Pass, string> = {
  bare: "bare loop",
  traceOff: "trace off",
  traceOn: "trace on",
  storeTraceOff: "store, trace off",
  storeTraceOn: "store, trace on",
};

/** The runner's entry: run the default workload, return its flat metrics (one JSON record) and printable lines. */
export async function simSpeedBenchmark(): Promise<BenchmarkOutput> {
  const r = await simSpeed({ repeat: 2 });
  const bare = r.bare as PassResult;
  const pass = (p: Exclude<Pass, "bare">): PassResult => r[p] as PassResult;
  const ratio = (p: Exclude<Pass, "bare">): number => pass(p).eventsPerSec / bare.eventsPerSec;
  const same = (p: PassResult): boolean => p.deliveries === bare.deliveries && p.timers === bare.timers && p.finalTime === bare.finalTime && p.checksum === bare.checksum;
  const traced = [pass("traceOn"), pass("storeTraceOn")];
  const sameRun = RUNTIME_PASSES.every((p) => same(pass(p))) && traced.every((p) => p.traceDeliveries === bare.deliveries);
  const metrics: Record<string, number | boolean | string> = {
    nodes: r.nodes,
    links: r.links,
    deliveries: bare.deliveries,
    events: bare.events,
    repeat: r.repeat,
    bareEventsPerSec: Math.round(bare.eventsPerSec),
    bareMs: Math.round(bare.wallMs),
    bareRuns: r.rates.bare.map(Math.round).join(" "),
    traceEvents: pass("traceOn").traceEvents ?? 0,
    sameRun,
    targetRatio: TARGET_RATIO,
  };
  for (const p of RUNTIME_PASSES) {
    const cap = p.charAt(0).toUpperCase() + p.slice(1);
    metrics[`${p}EventsPerSec`] = Math.round(pass(p).eventsPerSec);
    metrics[`${p}Ms`] = Math.round(pass(p).wallMs);
    metrics[`${p}Runs`] = r.rates[p].map(Math.round).join(" ");
    metrics[`ratio${cap}`] = Number(ratio(p).toFixed(3));
    metrics[`targetMet${cap}`] = ratio(p) >= TARGET_RATIO;
  }
  const row = (p: Pass): string => {
    const res = p === "bare" ? bare : pass(p);
    const vs = p === "bare" ? "" : `  ${fixed(ratio(p), 3)} of bare, target >= ${TARGET_RATIO}: ${ratio(p) >= TARGET_RATIO ? "met" : "NOT met"}`;
    return `  ${LABELS[p].padEnd(17)} ${count(res.eventsPerSec).padStart(11)} events/s ${fixed(res.wallMs, 0).padStart(6)} ms  (runs: ${r.rates[p].map((x) => count(x)).join(", ")})${vs}`;
  };
  const lines = [
    `workload: ${r.nodes} nodes, ${r.links} links, ${r.tokensPerNode} tokens/node x ${r.hops + 1} deliveries = ${count(bare.events)} events; seed ${r.seed}; best of ${r.repeat} runs each, interleaved`,
    `the runtime with the simulated store off (SystemOptions.store: false) and on (the default: a journal, numbered channels and a commit every step)`,
    row("bare"),
    ...RUNTIME_PASSES.map(row),
    `  trace on recorded ${count(pass("traceOn").traceEvents ?? 0)} trace events (built into objects after the timing, by sys.trace())`,
    `  same run in every pass (deliveries, timers, final virtual time ${bare.finalTime}, checksum, deliver events in the trace): ${sameRun ? "yes" : "NO"}`,
  ];
  const targets = RUNTIME_PASSES.map((p) => targetFigure(`${LABELS[p]} / bare loop (events/s)`, Number(ratio(p).toFixed(3)), ">=", TARGET_RATIO));
  return { records: [metrics], lines, targets };
}
