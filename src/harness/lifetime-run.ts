/**
 * One lifetime, run: build at generation 1, then every step in order against
 * one System, each recording what it did; then settle (bounded) and judge by
 * sys.check() (every invariant), the scenario's own safety predicate, and
 * whatever the runtime did that the step did not expect (an update that
 * rejected for another reason than the refusal it was given, a halted update
 * that resume could not finish, a configuration command refused). The run is
 * a function of (scenario, strategy, lifetime): every draw comes from a seed
 * the lifetime holds, and nothing iterates an unordered collection.
 */
import { describeError } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import { Rng } from "../core/rng.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Strategy, Update } from "../core/update.js";
import type { Violation } from "../check/checker.js";
import { System } from "../system.js";
import { isNamed } from "./error-name.js";
import { refusedInPrepare, throwsAtSwap } from "./faulty-update.js";
import type { Lifetime, LifetimeStep } from "./lifetime.js";
import { applyConfig } from "./lifetime-config.js";
import type { LifetimeLoad, LifetimeSupport, Scenario } from "./scenario.js";

/** Virtual ms the run may take to settle after its last step; a system busy beyond that is a failure, not a hang. */
export const SETTLE_BOUND = 60_000;

export interface LifetimeResult {
  readonly lifetime: Lifetime;
  /** One line per step: what it did (or why it was skipped). */
  readonly steps: readonly string[];
  readonly violations: readonly Violation[];
  /** The scenario's own safety problems. */
  readonly problems: readonly string[];
  /** What the runtime did that no step expected (an update's unexpected rejection, a refused command, no settle). */
  readonly errors: readonly string[];
  readonly trace: readonly TraceEvent[];
  readonly failed: boolean;
}

/** Halt and resume exist once `sys.resume` does (API.md "the life of a system"); until then a halt step runs as a plain update. */
type Resumable = { resume(u: readonly Update[]): Promise<unknown> };
export const canResume = (sys: System): boolean => typeof (sys as unknown as Partial<Resumable>).resume === "function";

/** The run's mutable side: the system, its generation, the load, and what happened. */
export class LifetimeRun {
  gen = 1;
  created = 0;
  stopped = false;
  readonly steps: string[] = [];
  readonly errors: string[] = [];

  constructor(
    readonly sys: System,
    readonly life: LifetimeSupport,
    readonly strategy: Strategy,
    readonly load: LifetimeLoad,
  ) {}

  /** The nodes by name, so that an index means the same node on every run. */
  nodes(): NodeId[] {
    return [...this.sys.nodes()].sort();
  }

  nodeAt(i: number): NodeId {
    const ns = this.nodes();
    return ns[i % ns.length] as NodeId;
  }

  /** Something no step expected: recorded, and the lifetime stops (the system may be mid-update). */
  unexpected(what: string): void {
    this.errors.push(what);
    this.stopped = true;
  }

  async issue(count: number, seed: number): Promise<void> {
    const rng = new Rng(seed);
    for (let i = 0; i < count; i++) {
      await this.sys.sleep(rng.int(0, 3));
      this.load.issue(rng.pick(this.nodes()), rng);
    }
  }
}

export async function runLifetime(scenario: Scenario, strategy: Strategy, lifetime: Lifetime): Promise<LifetimeResult> {
  const life = scenario.lifetime;
  if (life === undefined) throw new Error(`scenario "${scenario.name}" has no lifetime support (Scenario.lifetime)`);
  const sys = new System({ seed: lifetime.seed, ...(scenario.systemOptions?.(strategy) ?? {}) });
  life.build(sys, lifetime.nodes, new Rng(lifetime.seed).fork());
  const run = new LifetimeRun(sys, life, strategy, life.load(sys));
  for (const [i, step] of lifetime.steps.entries()) {
    if (run.stopped) {
      run.steps.push(`#${i} ${step.kind}: not run (the lifetime stopped)`);
      continue;
    }
    run.steps.push(`#${i} ${await runStep(run, step)}`);
  }
  const settled = await boundedSettle(sys);
  if (settled !== true) run.errors.push(settled);
  const violations = sys.check().violations;
  if (settled !== true) await sys.close();
  const problems = await run.load.problems();
  const trace = sys.trace();
  if (settled === true) await sys.close();
  const failed = violations.length > 0 || problems.length > 0 || run.errors.length > 0;
  return { lifetime, steps: run.steps, violations, problems, errors: run.errors, trace, failed };
}

async function runStep(run: LifetimeRun, step: LifetimeStep): Promise<string> {
  switch (step.kind) {
    case "load":
      await run.issue(step.requests, step.seed);
      return `load: ${step.requests} request(s)`;
    case "sleep":
      await run.sys.sleep(step.ms);
      return `sleep ${step.ms} ms`;
    case "update":
      return runUpdate(run, step);
    default:
      return applyConfig(run, step);
  }
}

/** settle(), but a system still busy SETTLE_BOUND virtual ms later is reported (and closed by the caller) instead of hanging the fuzzer. */
async function boundedSettle(sys: System): Promise<true | string> {
  const settled = sys.settle().then(
    (): true => true,
    (e: unknown) => `settle() failed: ${describeError(e)}`,
  );
  const bound = sys.sleep(SETTLE_BOUND).then(
    () => `the system was still busy ${SETTLE_BOUND} virtual ms after the last step (settle() did not return)`,
    () => "",
  );
  const first = await Promise.race([settled, bound]);
  return first === "" ? settled : first;
}

type UpdateStep = Extract<LifetimeStep, { kind: "update" }>;

/** One update step: the refusal and retry, or the halt and resume, or a plain update, with requests issued while it runs. */
async function runUpdate(run: LifetimeRun, step: UpdateStep): Promise<string> {
  const { gen, life, sys, strategy } = run;
  const head = `update ${gen}->${step.to}`;
  if (!life.canUpdate(gen, step.to)) return `${head}: skipped (the application has no such update)`;
  const real = life.updates(gen, step.to);
  const root = run.nodeAt(step.root);
  const opts = { strategy, root };
  const notes: string[] = [];
  if (step.refuse) {
    const refused = await outcome(sys.update(refusedInPrepare(real), opts));
    if (!isNamed(refused, "PrepareFailedError")) {
      run.unexpected(`${head}: a transfer that throws in the dry run was ${refused === undefined ? "accepted" : `rejected with ${describeError(refused)}`}, not refused in prepare`);
      return `${head}: refusal not as expected`;
    }
    notes.push("refused in prepare, retried");
  }
  const halting = step.halt !== null && canResume(sys);
  const victim = step.halt !== null ? run.nodeAt(step.halt) : undefined;
  if (step.halt !== null && !halting) notes.push("swap-time fault not injected (this System has no resume)");
  const pending = outcome(sys.update(halting ? throwsAtSwap(real, victim as NodeId) : real, opts));
  await run.issue(step.during, step.seed);
  const error = await pending;
  if (halting) return finishHalted(run, step.to, real, error, victim as NodeId, notes);
  if (error !== undefined) {
    run.unexpected(`${head} (root ${root}): update() rejected: ${describeError(error)}`);
    return `${head}: rejected`;
  }
  run.gen = step.to;
  return `${head} (root ${root}): complete at ${sys.now()} ms${notes.length > 0 ? `; ${notes.join("; ")}` : ""}`;
}

/** After a swap-time fault the update must have halted (UpdateHaltedError); resume with the real transfer must finish it. */
async function finishHalted(run: LifetimeRun, to: number, real: readonly Update[], error: unknown, victim: NodeId, notes: string[]): Promise<string> {
  const head = `update ${run.gen}->${to}`;
  if (!isNamed(error, "UpdateHaltedError")) {
    run.unexpected(`${head}: a transfer that throws at swap time at "${victim}" ${error === undefined ? "did not stop the update" : `gave ${describeError(error)}`}, not UpdateHaltedError`);
    return `${head}: no halt`;
  }
  const resumed = await outcome((run.sys as unknown as Resumable).resume(real));
  if (resumed !== undefined) {
    run.unexpected(`${head}: resume() after the halt at "${victim}" rejected: ${describeError(resumed)}`);
    return `${head}: halted, resume failed`;
  }
  run.gen = to;
  return `${head}: halted at "${victim}", resumed, complete at ${run.sys.now()} ms${notes.length > 0 ? `; ${notes.join("; ")}` : ""}`;
}

/** A promise's rejection reason, or undefined when it resolved; never rejects (so no rejection goes unhandled while we wait). */
function outcome(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e ?? new Error("rejected without a reason"),
  );
}
