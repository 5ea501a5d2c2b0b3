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

export async function runMutex(options: MutexRunOptions): Promise<MutexRunResult> {
  const seed = options.seed ?? 1;
  const n = options.nodes ?? 4;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`nodes: expected at least 1, got ${n}`);
  const strategy = options.strategy;
  const start = options.start ?? "mutex@1";
  if (strategy !== "none" && start !== "mutex@1") throw new RangeError(`an update converts mutex@1 nodes; start must be mutex@1, got ${start}`);
  const requestTimeout = options.requestTimeout ?? 10_000;
  const horizon = 10 * requestTimeout;

  const sys = new System({ seed, requestTimeout, synchronizer: strategy === "synchronizer", ...(options.delay ? { delay: options.delay } : {}) });
  const nodes = Array.from({ length: n }, (_, i) => mutexNode(i));
  for (const id of nodes) sys.create(id, start === "mutex@1" ? mutexV1 : mutexV2);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) sys.link(nodes[i] as NodeId, nodes[j] as NodeId);

  const rng = new Rng(seed ^ 0x6d757478);
  const updateAt = options.updateAt ?? rng.int(5, 60);
  const root = strategy === "none" ? null : (options.root ?? rng.pick(nodes));
  const failures: string[] = [];
  let acquires = 0;
  let granted = 0;
  let releases = 0;
  let autoLoopsDone = 0;

  const ask = <R>(node: NodeId, req: MutexRequest): Promise<R> => sys.request<R>(node, req);

  // Acquire/release clients: think, acquire, hold, release, a few times.
  const clientCount = options.clients ?? n;
  const sessionsPerClient = options.sessionsPerClient ?? 4;
  const load: Promise<void>[] = [];
  for (let c = 0; c < clientCount; c++) {
    const node = nodes[c % n] as NodeId;
    const r = rng.fork();
    load.push(
      (async () => {
        for (let k = 0; k < sessionsPerClient; k++) {
          await sys.sleep(r.int(0, 15));
          acquires++;
          let g: Granted;
          try {
            g = await ask<Granted>(node, { kind: "acquire" });
          } catch (e) {
            failures.push(`client ${c} at "${node}": acquire failed: ${describeError(e)}`);
            return;
          }
          granted++;
          await sys.sleep(r.int(1, 8));
          releases++;
          try {
            await ask(node, { kind: "release", session: g.session });
          } catch (e) {
            failures.push(`client ${c} at "${node}": release of ${g.session} failed: ${describeError(e)}`);
            return;
          }
        }
      })(),
    );
  }

  // Timer-driven loops.
  const autoCount = options.autos ?? Math.ceil(n / 2);
  const rounds = options.roundsPerAuto ?? 3;
  for (let a = 0; a < autoCount; a++) {
    const node = nodes[(n - 1 - (a % n) + n) % n] as NodeId;
    const req: MutexRequest = { kind: "auto", rounds, gap: rng.int(0, 12), hold: rng.int(1, 6) };
    load.push(
      ask(node, req).then(
        () => {
          autoLoopsDone++;
        },
        (e) => {
          failures.push(`auto loop ${a} at "${node}": ${describeError(e)}`);
        },
      ),
    );
  }

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
  await Promise.all(load);
  // settle() runs until no timer is pending. A mutex@1 node that still waits for the CS keeps its tick timer
  // forever, so settling would never end (and racing settle() against a sleep does not work on a quiescent
  // system: the runtime wakes sleepers before settlers). Only settle when no mutex@1 node waits.
  let settled = false;
  const waitingOld = sys.nodes().filter((id) => {
    const s = sys.state(id);
    return sys.version(id) === "mutex@1" && isSessionState(s) && s.current !== null && !s.inCS;
  });
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

  const check = sys.check();
  const states: Record<NodeId, unknown> = {};
  for (const id of sys.nodes()) states[id] = sys.state(id);
  const judged = checkMutex(sys.trace(), states);
  const safety: SafetyReport = failures.length === 0 ? judged : { ...judged, ok: false, violations: [...judged.violations, ...failures.map((f) => `driver: ${f}`)] };
  let reasked = 0;
  for (const id of sys.nodes()) if (sys.version(id) === "mutex@2") reasked += (sys.state(id) as RaState).reasked ?? 0;

  return {
    report,
    check,
    safety,
    stats: {
      acquires,
      granted,
      releases,
      autoLoops: autoCount,
      autoLoopsDone,
      failures,
      settled,
      reasked,
      updateAt,
      root,
      end: sys.trace().at(-1)?.t ?? 0,
    },
    system: sys,
  };
}
