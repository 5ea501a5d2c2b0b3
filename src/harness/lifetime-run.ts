/**
 * One lifetime, run: build at generation 1, then every step in order against
 * one System, each recording what it did; then bring every crashed node back,
 * heal every partition, settle (bounded) and judge by the checker over the
 * whole trace (complete: every invariant, termination included), the
 * scenario's own safety predicate, and whatever the runtime did that the step
 * did not expect (an update that rejected for another reason than the refusal
 * it was given, a halted update that resume could not finish, a configuration
 * command or a fault refused). The run is a function of (scenario, strategy,
 * lifetime): every draw comes from a seed the lifetime holds, and nothing
 * iterates an unordered collection.
 *
 * Joins: the moves started since the last join land (lifetime-moves.ts), and a
 * detached update (lifetime-update.ts) is awaited, before the next update or
 * configuration step and at the end; awaiting it first restarts every crashed
 * node and heals every partition (lifetime-fault-steps.ts).
 */
import { describeError } from "../core/errors.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Strategy } from "../core/update.js";
import { checkTrace, type Violation } from "../check/checker.js";
import { Rng } from "../core/rng.js";
import { System } from "../system.js";
import { isFaultStep, type Lifetime, type LifetimeStep } from "./lifetime.js";
import { applyConfig } from "./lifetime-config.js";
import { applyFault, recoverAll } from "./lifetime-fault-steps.js";
import { applyMove, landMoves } from "./lifetime-moves.js";
import { LifetimeRun } from "./lifetime-state.js";
import { runUpdate, SETTLE_BOUND } from "./lifetime-update.js";
import type { Scenario } from "./scenario.js";

export { SETTLE_BOUND, canResume } from "./lifetime-update.js";

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

export async function runLifetime(scenario: Scenario, strategy: Strategy, lifetime: Lifetime): Promise<LifetimeResult> {
  const life = scenario.lifetime;
  if (life === undefined) throw new Error(`scenario "${scenario.name}" has no lifetime support (Scenario.lifetime)`);
  const options = scenario.systemOptions?.(strategy) ?? {};
  const window = lifetime.groupCommitMs;
  const sys = new System({ seed: lifetime.seed, ...options, ...(window !== undefined ? { groupCommitMs: window } : {}) });
  life.build(sys, lifetime.nodes, new Rng(lifetime.seed).fork());
  const faulty = window !== undefined || lifetime.steps.some(isFaultStep);
  const run = new LifetimeRun(sys, life, strategy, life.load(sys), options.synchronizer === true, faulty);
  for (const [i, step] of lifetime.steps.entries()) {
    if (run.stopped) {
      run.steps.push(`#${i} ${step.kind}: not run (the lifetime stopped)`);
      continue;
    }
    if (step.kind !== "sleep" && step.kind !== "load" && step.kind !== "move" && !isFaultStep(step)) await join(run, `#${i}`);
    if (!run.stopped) run.steps.push(`#${i} ${await runStep(run, step)}`);
  }
  if (!run.stopped) await join(run, "end");
  // Faults after the last join: every node is brought back before the run is judged.
  const recovered = await recoverAll(run);
  if (recovered.length > 0) run.steps.push(`end: ${recovered.join(", ")}`);
  return verdict(run, lifetime);
}

/** Settle, then judge: the checker as over a finished run, the scenario's safety, what no step expected. */
async function verdict(run: LifetimeRun, lifetime: Lifetime): Promise<LifetimeResult> {
  const { sys } = run;
  const settled = await boundedSettle(sys);
  if (settled !== true) run.errors.push(settled);
  const down = run.down();
  if (down.length > 0) run.errors.push(`node(s) ${down.join(", ")} still down at the end`);
  // A settled run is over: every invariant is judged, termination included (an update left running, a node down).
  const violations = checkTrace(sys.trace(), { complete: settled === true }).violations;
  if (settled !== true) await sys.close();
  const problems = await run.load.problems();
  const trace = sys.trace();
  if (settled === true) await sys.close();
  const failed = violations.length > 0 || problems.length > 0 || run.errors.length > 0;
  return { lifetime, steps: run.steps, violations, problems, errors: run.errors, trace, failed };
}

/** The detached update still running, awaited (after every crashed node is back and every partition healed). */
async function join(run: LifetimeRun, where: string): Promise<void> {
  const landed = await landMoves(run);
  if (landed.length > 0) run.steps.push(`${where} join: ${landed.join(", ")}`);
  const running = run.running;
  if (running === undefined) return;
  run.running = undefined;
  run.steps.push(`${where} join: ${await running.finish()}`);
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
    case "move":
      return applyMove(run, step);
    case "crash":
    case "restart":
    case "lose":
    case "partition":
    case "heal":
      return applyFault(run, step);
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
