/**
 * The paper's experiment as a reusable run: a line of replicated databases, a
 * stream of global reads from one end, writes and local reads everywhere, and
 * the update of the search key started from the other end while all of it runs.
 */
import { describeError } from "../../core/errors.js";
import { Rng } from "../../core/rng.js";
import { System, type CheckReport, type Strategy, type UpdateReport } from "../../index.js";
import { DEFAULT_ENTRIES, databaseV1, keyFormatUpdate, type DbRequest, type DbState } from "./db.js";

export interface ExperimentOptions {
  readonly strategy: Strategy;
  readonly seed?: number;
  readonly nodes?: number;
  readonly entries?: number;
  /** Virtual ms of workload before the update starts (default 300). */
  readonly warmup?: number;
  /** Virtual ms between two global reads from the first node (default 2). */
  readonly globalReadEvery?: number;
  /** Virtual ms between two local requests (a read or a write at a random node; default 1). */
  readonly localRequestEvery?: number;
}

export interface ThroughputWindows {
  /** Answered requests per virtual second in [G - L, G), where L = max(H - G, 1). */
  readonly before: number;
  /** ... in [G, H]. */
  readonly during: number;
  /** ... in (H, H + L]. */
  readonly after: number;
}

/** One outside request: when it was issued and answered (virtual ms), and what it was. */
export interface RequestSample {
  readonly kind: "global-read" | "read" | "write";
  readonly issuedAt: number;
  /** Undefined if it failed. */
  readonly answeredAt: number | undefined;
}

export interface ExperimentResult {
  readonly strategy: Strategy;
  readonly nodes: number;
  readonly entries: number;
  readonly seed: number;
  readonly reads: { readonly issued: number; readonly answered: number; readonly withNull: number };
  readonly violations: { readonly correctness: number; readonly awareness: number; readonly termination: number };
  readonly update: UpdateReport | { readonly error: string };
  readonly throughput: ThroughputWindows;
  /** Ours: do all replicas hold the same entries once the run has settled (the paper's consistency for databases)? */
  readonly replicasIdentical: boolean;
  readonly requests: { readonly issued: number; readonly answered: number; readonly failed: number };
  readonly check: CheckReport;
  readonly system: System;
  /** Ours: every outside request, in issue order (latency, throughput over time). */
  readonly samples: readonly RequestSample[];
  /**
   * Ours: the lower bound for any update from this root: its eccentricity x the
   * mean delay an application message took, send to delivery, before G. Under
   * load that delay exceeds the network's configured mean: channels are FIFO,
   * so a message (or a marker) waits for the ones ahead of it.
   */
  readonly bound: number;
  /** Eccentricity x the configured mean delay (what an idle network would give). */
  readonly nominalBound: number;
  readonly eccentricity: number;
  /** The network's configured mean delay. */
  readonly meanDelay: number;
  /** The measured mean send-to-delivery delay of application messages delivered before G. */
  readonly channelDelay: number;
}

export const nodeName = (i: number): string => `r${i}`;

interface ExperimentParams {
  readonly strategy: Strategy;
  readonly seed: number;
  readonly n: number;
  readonly entries: number;
  readonly warmup: number;
  readonly globalEvery: number;
  readonly localEvery: number;
}

function paramsOf(options: ExperimentOptions): ExperimentParams {
  const seed = options.seed ?? 1;
  const n = options.nodes ?? 7;
  const entries = options.entries ?? DEFAULT_ENTRIES;
  const warmup = options.warmup ?? 300;
  const globalEvery = options.globalReadEvery ?? 2;
  const localEvery = options.localRequestEvery ?? 1;
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`nodes: the experiment needs a line of at least 2 replicas, got ${n}`);
  if (!Number.isInteger(entries) || entries < 1) throw new RangeError(`entries: expected at least 1 entry per replica, got ${entries}`);
  return { strategy: options.strategy, seed, n, entries, warmup, globalEvery, localEvery };
}

/**
 * One run's system and the outside requests issued to it. The awaits of the
 * run stay in runExperiment: the order in which its continuation and the
 * workload's wake at one virtual instant is part of the trace.
 */
class ExperimentRun {
  readonly sys: System;
  private readonly rng: Rng;
  readonly answeredAt: number[] = [];
  readonly reads = { issued: 0, answered: 0, withNull: 0 };
  readonly requests = { issued: 0, answered: 0, failed: 0 };
  readonly inflight: Promise<void>[] = [];
  readonly samples: { kind: RequestSample["kind"]; issuedAt: number; answeredAt: number | undefined }[] = [];
  /** Set by the run once the update's after-window is over: the workload issues nothing more. */
  stopped = false;
  private writes = 0;

  constructor(readonly p: ExperimentParams) {
    const { seed, n, entries } = p;
    this.sys = new System({ seed, synchronizer: p.strategy === "synchronizer" });
    const v1 = databaseV1(entries);
    for (let i = 0; i < n; i++) this.sys.create(nodeName(i), v1);
    for (let i = 1; i < n; i++) this.sys.link(nodeName(i - 1), nodeName(i));
    this.rng = new Rng(seed ^ 0x5eed);
  }

  private ask(node: string, req: Exclude<DbRequest, { readonly kind: "stats" }>, onAnswer?: (r: unknown) => void): void {
    const { sys, requests } = this;
    requests.issued++;
    const sample = { kind: req.kind, issuedAt: sys.now(), answeredAt: undefined as number | undefined };
    this.samples.push(sample);
    this.inflight.push(
      sys.request(node, req).then(
        (r) => {
          requests.answered++;
          this.answeredAt.push(sys.now());
          sample.answeredAt = sys.now();
          onAnswer?.(r);
        },
        () => {
          requests.failed++;
        },
      ),
    );
  }

  /** Global reads from the first node and local reads and writes anywhere, each on its own period, until stopped. */
  async workload(): Promise<void> {
    const { sys, rng, reads } = this;
    const { n, entries, globalEvery, localEvery } = this.p;
    let nextGlobal = 0;
    let nextLocal = 0;
    while (!this.stopped) {
      const t = sys.now();
      if (t >= nextGlobal) {
        nextGlobal = t + globalEvery;
        reads.issued++;
        this.ask(nodeName(0), { kind: "global-read", entry: rng.int(0, entries - 1) }, (r) => {
          reads.answered++;
          if (Object.values(r as Record<string, string | null>).some((v) => v === null)) reads.withNull++;
        });
      }
      if (t >= nextLocal) {
        nextLocal = t + localEvery;
        const node = nodeName(rng.int(0, n - 1));
        const entry = rng.int(0, entries - 1);
        this.ask(node, rng.float() < 0.5 ? { kind: "read", entry } : { kind: "write", entry, value: `w${++this.writes}` });
      }
      await sys.sleep(Math.min(nextGlobal, nextLocal) - sys.now());
    }
  }

  /** The verdicts and measures of the settled run; g and h are the update's start and end, window the throughput window. */
  result(update: UpdateReport | { readonly error: string }, g: number, h: number, window: number): ExperimentResult {
    const { sys, answeredAt } = this;
    const { strategy, n, entries, seed } = this.p;
    const check = sys.check();
    const count = (inv: string): number => check.violations.filter((v) => v.invariant === inv).length;
    const rate = (from: number, to: number, inclusiveEnd: boolean): number => {
      const k = answeredAt.filter((t) => t >= from && (inclusiveEnd ? t <= to : t < to)).length;
      return (k / window) * 1000;
    };
    const eccentricity = n - 1; // a line, updated from its far end
    const meanDelay = (1 + 10) / 2; // the System's default delays
    const channelDelay = measuredChannelDelay(sys, g) ?? meanDelay;
    const first = JSON.stringify((sys.state(nodeName(0)) as DbState).entries);
    const replicasIdentical = sys.nodes().every((id) => JSON.stringify((sys.state(id) as DbState).entries) === first);

    return {
      strategy,
      nodes: n,
      entries,
      seed,
      reads: this.reads,
      violations: { correctness: count("correctness"), awareness: count("awareness"), termination: count("termination") },
      update,
      throughput: {
        before: rate(g - window, g, false),
        during: rate(g, h, true),
        after: answeredAt.filter((t) => t > h && t <= h + window).length * (1000 / window),
      },
      replicasIdentical,
      requests: this.requests,
      check,
      system: sys,
      samples: this.samples,
      bound: eccentricity * channelDelay,
      nominalBound: eccentricity * meanDelay,
      eccentricity,
      meanDelay,
      channelDelay,
    };
  }
}

export async function runExperiment(options: ExperimentOptions): Promise<ExperimentResult> {
  const p = paramsOf(options);
  const run = new ExperimentRun(p);
  const sys = run.sys;
  const workload = run.workload();

  await sys.sleep(p.warmup);
  let update: UpdateReport | { readonly error: string };
  try {
    update = await sys.update(keyFormatUpdate(p.entries), { strategy: p.strategy, root: nodeName(p.n - 1) });
  } catch (e) {
    update = { error: describeError(e) };
  }
  const g = "startedAt" in update ? update.startedAt : p.warmup;
  const h = "finishedAt" in update ? update.finishedAt : sys.now();
  const window = Math.max(h - g, 1);
  if (sys.now() < h + window) await sys.sleep(h + window - sys.now());
  run.stopped = true;
  await workload;
  await sys.settle();
  await Promise.all(run.inflight);
  return run.result(update, g, h, window);
}

/** Mean send-to-delivery time of the application messages delivered before `until`; undefined if none were. */
function measuredChannelDelay(sys: System, until: number): number | undefined {
  const sentAt = new Map<string, number>();
  let sum = 0;
  let count = 0;
  for (const e of sys.trace()) {
    if (e.t >= until) break;
    if (e.kind === "send") sentAt.set(e.msg, e.t);
    else if (e.kind === "deliver") {
      const t0 = sentAt.get(e.msg);
      if (t0 === undefined) continue;
      sum += e.t - t0;
      count++;
      sentAt.delete(e.msg);
    }
  }
  return count === 0 ? undefined : sum / count;
}
