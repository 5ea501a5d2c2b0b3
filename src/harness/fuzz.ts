import { describeError } from "../core/errors.js";
import { Rng } from "../core/rng.js";
import type { NodeId } from "../core/ids.js";
import type { Strategy } from "../core/update.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Violation } from "../check/checker.js";
import { System } from "../system.js";
import type { RunParams, Scenario } from "./scenario.js";

export interface CaseResult {
  readonly params: RunParams;
  readonly violations: readonly Violation[];
  /** The scenario's own safety problems. */
  readonly problems: readonly string[];
  /** update() rejected (stalled, failed): a termination problem the trace may not show by itself. */
  readonly updateError: string | undefined;
  /** The root's name (what `replay --root` takes): params.root resolved against the nodes the run built. */
  readonly rootName: NodeId;
  readonly trace: readonly TraceEvent[];
  readonly failed: boolean;
}

export interface ParamOverrides {
  readonly nodes?: number;
  readonly requests?: number;
  readonly updateAt?: number;
  readonly root?: number | NodeId;
}

/** The parameters of run `seed`: drawn from the seed, except what the caller fixes. */
export function paramsFor(scenario: Scenario, seed: number, overrides: ParamOverrides = {}): RunParams {
  const rng = new Rng(seed ^ 0x2545f491);
  const nodes = rng.int(scenario.nodes.min, scenario.nodes.max);
  const requests = rng.int(1, scenario.maxRequests);
  const updateAt = rng.int(0, scenario.updateWindow);
  const root = rng.int(0, 1 << 20);
  return {
    seed,
    nodes: overrides.nodes ?? nodes,
    requests: overrides.requests ?? requests,
    updateAt: overrides.updateAt ?? updateAt,
    root: overrides.root ?? root,
  };
}

/** One run: build, load, update at the chosen moment, settle, judge. Deterministic in (scenario, strategy, params). */
export async function runCase(scenario: Scenario, strategy: Strategy, params: RunParams): Promise<CaseResult> {
  const sys = new System({ seed: params.seed, ...(scenario.systemOptions?.(strategy) ?? {}) });
  const rng = new Rng(params.seed);
  const nodes = scenario.build(sys, params.nodes, rng.fork());
  const load = scenario.workload(sys, nodes, rng.fork(), params.requests);
  await sys.sleep(params.updateAt);
  let updateError: string | undefined;
  const rootName = typeof params.root === "string" ? params.root : (nodes[params.root % nodes.length] as NodeId);
  try {
    await sys.update(scenario.update(), { strategy, root: rootName });
  } catch (e) {
    updateError = describeError(e);
  }
  await load.done;
  try {
    await sys.settle();
  } catch (e) {
    updateError ??= describeError(e);
  }
  const violations = sys.check().violations;
  const problems = load.problems();
  const trace = sys.trace();
  await sys.close();
  return { params, violations, problems, updateError, rootName, trace, failed: violations.length > 0 || problems.length > 0 || updateError !== undefined };
}

/** The kinds of failure a run shows: each violated invariant, the scenario's safety, an update that did not complete. */
export function failureKinds(r: CaseResult): Set<string> {
  const kinds = new Set<string>(r.violations.map((v) => v.invariant));
  if (r.problems.length > 0) kinds.add("safety");
  if (r.updateError !== undefined) kinds.add("update");
  return kinds;
}

/**
 * Shrink a failing run: fewer nodes, fewer requests, an earlier update, root 0,
 * greedily, keeping every step that still fails in every way the original did
 * (so an application-level failure is not traded for a mere invariant one).
 * The seed stays: the run is a function of all parameters, so a smaller run is
 * simply another run that fails.
 */
export async function shrink(scenario: Scenario, strategy: Strategy, failing: CaseResult, budget = 200): Promise<CaseResult> {
  let best = failing;
  let tries = 0;
  const wanted = [...failureKinds(failing)];
  const candidates = (p: RunParams): RunParams[] => {
    const out: RunParams[] = [];
    if (p.nodes > scenario.nodes.min) out.push({ ...p, nodes: scenario.nodes.min }, { ...p, nodes: p.nodes - 1 });
    if (p.requests > 1) out.push({ ...p, requests: 1 }, { ...p, requests: Math.floor(p.requests / 2) }, { ...p, requests: p.requests - 1 });
    if (p.updateAt > 0) out.push({ ...p, updateAt: 0 }, { ...p, updateAt: Math.floor(p.updateAt / 2) }, { ...p, updateAt: p.updateAt - 1 });
    if (p.root !== 0) out.push({ ...p, root: 0 });
    return out.filter((c, i, all) => all.findIndex((d) => JSON.stringify(d) === JSON.stringify(c)) === i);
  };
  let improved = true;
  while (improved && tries < budget) {
    improved = false;
    for (const c of candidates(best.params)) {
      if (tries++ >= budget) break;
      const r = await runCase(scenario, strategy, c);
      const kinds = failureKinds(r);
      if (r.failed && wanted.every((k) => kinds.has(k)) && r.trace.length <= best.trace.length) {
        best = r;
        improved = true;
        break;
      }
    }
  }
  return best;
}

export interface FuzzOptions {
  readonly runs: number;
  /** First seed; run i uses seed + i. */
  readonly seed: number;
  readonly overrides?: ParamOverrides;
  readonly onRun?: (done: number, total: number) => void;
}

export interface FuzzOutcome {
  readonly runs: number;
  /** The first failing run and its shrunk form, if any failed. */
  readonly failure?: { readonly original: CaseResult; readonly shrunk: CaseResult };
}

export async function fuzz(scenario: Scenario, strategy: Strategy, o: FuzzOptions): Promise<FuzzOutcome> {
  for (let i = 0; i < o.runs; i++) {
    const r = await runCase(scenario, strategy, paramsFor(scenario, o.seed + i, o.overrides));
    o.onRun?.(i + 1, o.runs);
    if (r.failed) return { runs: i + 1, failure: { original: r, shrunk: await shrink(scenario, strategy, r) } };
  }
  return { runs: o.runs };
}

/** The command that re-runs a case exactly; the root by its name (an index drawn from the seed means nothing to a reader). */
export function replayCommand(scenario: string, strategy: Strategy, r: CaseResult, traceFile: string): string {
  const p = r.params;
  return (
    `liveswap replay --scenario ${scenario} --strategy ${strategy} --seed ${p.seed} --nodes ${p.nodes} ` +
    `--requests ${p.requests} --update-at ${p.updateAt} --root ${r.rootName} --trace ${traceFile}`
  );
}
