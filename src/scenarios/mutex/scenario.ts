/**
 * The mutex example as a run: N nodes in a complete graph running mutex@1
 * (Lamport), clients that acquire and release the CS at several nodes,
 * timer-driven loops at others, and the update to mutex@2 (Ricart-Agrawala)
 * started in the middle of that load. Then the load finishes, the system
 * settles, and three judges speak: the update's report, the invariant checker
 * (sys.check()) and the mutex's own safety checker.
 *
 * Everything the driver does awaits the system, so a run is a function of its
 * options: same options, same trace.
 */
import { describeError } from "../../core/errors.js";
import { Rng } from "../../core/rng.js";
import { System, type CheckReport, type NodeId, type Strategy, type Update, type UpdateReport } from "../../index.js";
import { isSessionState, mutexUpdate, mutexV1, mutexV2, type Granted, type MutexRequest, type RaState } from "./mutex.js";
import { checkMutex, type SafetyReport } from "./safety.js";

export interface MutexRunOptions {
  /** The update's strategy, or "none" for a run without an update. */
  readonly strategy: Strategy | "none";
  readonly seed?: number;
  /** Nodes in the complete graph (default 4). */
  readonly nodes?: number;
  /** The version the nodes start at (default mutex@1; an update needs mutex@1). */
  readonly start?: "mutex@1" | "mutex@2";
  /** Acquire/release client loops, spread over the nodes (default: one per node). */
  readonly clients?: number;
  /** Sessions per client loop (default 4). */
  readonly sessionsPerClient?: number;
  /** Timer-driven loops, spread over the nodes from the last one (default: half the nodes, rounded up). */
  readonly autos?: number;
  /** Rounds per timer-driven loop (default 3). */
  readonly roundsPerAuto?: number;
  /** Virtual ms before update() is called (default: drawn in [5, 60], in the thick of the load). */
  readonly updateAt?: number;
  /** The update's root (default: drawn among the nodes). */
  readonly root?: NodeId;
  readonly delay?: { readonly min: number; readonly max: number };
  /** The update to run (default mutexUpdate). */
  readonly update?: Update;
  /** Virtual ms after which an unanswered request gives up (default 10000). */
  readonly requestTimeout?: number;
}

export interface MutexRunStats {
  readonly acquires: number;
  readonly granted: number;
  readonly releases: number;
  readonly autoLoops: number;
  readonly autoLoopsDone: number;
  /** Driver-side failures: rejected requests, an update that failed, a system that did not settle. */
  readonly failures: readonly string[];
  readonly settled: boolean;
  /** mutex@2 requests re-sent after the swap (the repair of erased releases). */
  readonly reasked: number;
  readonly updateAt: number;
  readonly root: NodeId | null;
  readonly end: number;
}

export interface MutexRunResult {
  readonly report: UpdateReport | { readonly error: string } | null;
  readonly check: CheckReport;
  readonly safety: SafetyReport;
  readonly stats: MutexRunStats;
  readonly system: System;
}

export const mutexNode = (i: number): NodeId => `n${i}`;

const GIVE_UP: unique symbol = Symbol("give up");

/** Wait for p, but never longer than ms of virtual time (so a stuck run cannot hang its caller). */
async function within<T>(sys: System, p: Promise<T>, ms: number): Promise<T | typeof GIVE_UP> {
  return Promise.race([p, sys.sleep(ms).then((): typeof GIVE_UP => GIVE_UP)]);
}

interface MutexParams {
  readonly seed: number;
  readonly n: number;
  readonly strategy: Strategy | "none";
  readonly start: "mutex@1" | "mutex@2";
  readonly requestTimeout: number;
  readonly delay: MutexRunOptions["delay"];
}

function paramsOf(options: MutexRunOptions): MutexParams {
  const seed = options.seed ?? 1;
  const n = options.nodes ?? 4;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`nodes: expected at least 1, got ${n}`);
  const strategy = options.strategy;
  const start = options.start ?? "mutex@1";
  if (strategy !== "none" && start !== "mutex@1") throw new RangeError(`an update converts mutex@1 nodes; start must be mutex@1, got ${start}`);
  return { seed, n, strategy, start, requestTimeout: options.requestTimeout ?? 10_000, delay: options.delay };
}

/** What the driver decided besides the options, and how the run ended, for the stats. */
interface MutexRunEnd {
  readonly report: MutexRunResult["report"];
  readonly settled: boolean;
  readonly autoLoops: number;
  readonly updateAt: number;
  readonly root: NodeId | null;
}

/**
 * One run's system, its load and what the driver counted. The awaits of the
 * run stay in runMutex: the order in which its continuation and the load's
 * wake at one virtual instant is part of the trace.
 */
class MutexRun {
  readonly sys: System;
  readonly nodes: readonly NodeId[];
  readonly failures: string[] = [];
  /** Every client and timer-driven loop; none rejects (each records its own failure). */
  readonly load: Promise<void>[] = [];
  private acquires = 0;
  private granted = 0;
  private releases = 0;
  private autoLoopsDone = 0;

  constructor(p: MutexParams) {
    const { seed, n, strategy, start, requestTimeout, delay } = p;
    this.sys = new System({ seed, requestTimeout, synchronizer: strategy === "synchronizer", ...(delay ? { delay } : {}) });
    const nodes = Array.from({ length: n }, (_, i) => mutexNode(i));
    for (const id of nodes) this.sys.create(id, start === "mutex@1" ? mutexV1 : mutexV2);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) this.sys.link(nodes[i] as NodeId, nodes[j] as NodeId);
    this.nodes = nodes;
  }

  private ask<R>(node: NodeId, req: MutexRequest): Promise<R> {
    return this.sys.request<R>(node, req);
  }

  /** Acquire/release clients, spread over the nodes from the first one; each draws from its own fork of rng. */
  startClients(count: number, sessions: number, rng: Rng): void {
    const n = this.nodes.length;
    for (let c = 0; c < count; c++) {
      const node = this.nodes[c % n] as NodeId;
      const r = rng.fork();
      this.load.push(this.client(c, node, r, sessions));
    }
  }

  /** Think, acquire, hold, release, a few times; the first failure ends the client. */
  private async client(c: number, node: NodeId, r: Rng, sessions: number): Promise<void> {
    const { sys, failures } = this;
    for (let k = 0; k < sessions; k++) {
      await sys.sleep(r.int(0, 15));
      this.acquires++;
      let g: Granted;
      try {
        g = await this.ask<Granted>(node, { kind: "acquire" });
      } catch (e) {
        failures.push(`client ${c} at "${node}": acquire failed: ${describeError(e)}`);
        return;
      }
      this.granted++;
      await sys.sleep(r.int(1, 8));
      this.releases++;
      try {
        await this.ask(node, { kind: "release", session: g.session });
      } catch (e) {
        failures.push(`client ${c} at "${node}": release of ${g.session} failed: ${describeError(e)}`);
        return;
      }
    }
  }

  /** Timer-driven loops, spread over the nodes from the last one. */
  startAutos(count: number, rounds: number, rng: Rng): void {
    const n = this.nodes.length;
    for (let a = 0; a < count; a++) {
      const node = this.nodes[(n - 1 - (a % n) + n) % n] as NodeId;
      const req: MutexRequest = { kind: "auto", rounds, gap: rng.int(0, 12), hold: rng.int(1, 6) };
      this.load.push(
        this.ask(node, req).then(
          () => {
            this.autoLoopsDone++;
          },
          (e) => {
            this.failures.push(`auto loop ${a} at "${node}": ${describeError(e)}`);
          },
        ),
      );
    }
  }

  /** mutex@1 nodes that still wait for the CS: their tick timer never stops. */
  oldWaiters(): NodeId[] {
    const { sys } = this;
    return sys.nodes().filter((id) => {
      const s = sys.state(id);
      return sys.version(id) === "mutex@1" && isSessionState(s) && s.current !== null && !s.inCS;
    });
  }

  /** The three judges' verdicts on the finished run, and its stats. */
  result(end: MutexRunEnd): MutexRunResult {
    const { sys, failures } = this;
    const check = sys.check();
    const states: Record<NodeId, unknown> = {};
    for (const id of sys.nodes()) states[id] = sys.state(id);
    const judged = checkMutex(sys.trace(), states);
    const safety: SafetyReport = failures.length === 0 ? judged : { ...judged, ok: false, violations: [...judged.violations, ...failures.map((f) => `driver: ${f}`)] };
    let reasked = 0;
    for (const id of sys.nodes()) if (sys.version(id) === "mutex@2") reasked += (sys.state(id) as RaState).reasked ?? 0;

    return {
      report: end.report,
      check,
      safety,
      stats: {
        acquires: this.acquires,
        granted: this.granted,
        releases: this.releases,
        autoLoops: end.autoLoops,
        autoLoopsDone: this.autoLoopsDone,
        failures,
        settled: end.settled,
        reasked,
        updateAt: end.updateAt,
        root: end.root,
        end: sys.trace().at(-1)?.t ?? 0,
      },
      system: sys,
    };
  }
}

export async function runMutex(options: MutexRunOptions): Promise<MutexRunResult> {
  const p = paramsOf(options);
  const { strategy } = p;
  const horizon = 10 * p.requestTimeout;
  const run = new MutexRun(p);
  const { sys, failures } = run;

  const rng = new Rng(p.seed ^ 0x6d757478);
  const updateAt = options.updateAt ?? rng.int(5, 60);
  const root = strategy === "none" ? null : (options.root ?? rng.pick(run.nodes));
  run.startClients(options.clients ?? p.n, options.sessionsPerClient ?? 4, rng);
  const autoLoops = options.autos ?? Math.ceil(p.n / 2);
  run.startAutos(autoLoops, options.roundsPerAuto ?? 3, rng);

  await sys.sleep(updateAt);
  let report: UpdateReport | { readonly error: string } | null = null;
  if (strategy !== "none") {
    try {
      const r = await within(sys, sys.update(options.update ?? mutexUpdate, { strategy, root: root as NodeId }), horizon);
      report = r === GIVE_UP ? { error: `the update did not finish within ${horizon} virtual ms` } : r;
    } catch (e) {
      report = { error: describeError(e) };
    }
    if ("error" in report) failures.push(`update: ${report.error}`);
  }

  // Every request gives up after requestTimeout, so the load always ends.
  await Promise.all(run.load);
  // settle() runs until no timer is pending. A mutex@1 node that still waits for the CS keeps its tick timer
  // forever, so settling would never end (and racing settle() against a sleep does not work on a quiescent
  // system: the runtime wakes sleepers before settlers). Only settle when no mutex@1 node waits.
  let settled = false;
  const waitingOld = run.oldWaiters();
  if (waitingOld.length > 0) {
    failures.push(`the load is over but mutex@1 node(s) ${waitingOld.map((id) => `"${id}"`).join(", ")} still wait for the CS; not settling`);
  } else {
    try {
      await sys.settle();
      settled = true;
    } catch (e) {
      failures.push(`settle: ${describeError(e)}`);
    }
  }
  return run.result({ report, settled, autoLoops, updateAt, root });
}
