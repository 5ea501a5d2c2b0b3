/**
 * A lifetime's update step: the refusal and retry, or the halt and resume, or
 * a plain update, with requests issued while it runs. A detached update is
 * started here and finished at the next join (the steps between it and the
 * join, faults among them, run while it runs); an attached one is finished at
 * once. Finishing first restarts and heals what is down: an update waits for
 * its crashed nodes, and a partition would stall it.
 */
import { moveWhileHalted } from "./lifetime-moves.js";
import { describeError, UpdateAbortedError } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { Update } from "../core/update.js";
import type { System } from "../system.js";
import { isNamed } from "./error-name.js";
import { refusedInPrepare, throwsAtSwap, throwsAtSwapIfChanged } from "./faulty-update.js";
import type { LifetimeStep } from "./lifetime.js";
import { recoverAll } from "./lifetime-fault-steps.js";
import type { LifetimeRun } from "./lifetime-state.js";

/** Virtual ms the run may take to settle after its last step (or a faulty lifetime's update to end); a system busy beyond that is a failure, not a hang. */
export const SETTLE_BOUND = 60_000;

/** Halt and resume exist once `sys.resume` does (API.md "the life of a system"); until then a halt step runs as a plain update. */
type Resumable = { resume(u: readonly Update[]): Promise<unknown> };
export const canResume = (sys: System): boolean => typeof (sys as unknown as Partial<Resumable>).resume === "function";

type UpdateStep = Extract<LifetimeStep, { kind: "update" }>;

/** What finishing a started update needs. */
interface Started {
  readonly step: UpdateStep;
  readonly head: string;
  readonly root: NodeId;
  readonly real: readonly Update[];
  readonly pending: Promise<unknown>;
  /** The node whose transfer throws at swap time, when the step halts the update. */
  readonly victim: NodeId | undefined;
  readonly notes: string[];
}

export async function runUpdate(run: LifetimeRun, step: UpdateStep): Promise<string> {
  const { gen, life } = run;
  const head = `update ${gen}->${step.to}`;
  if (!life.canUpdate(gen, step.to)) return `${head}: skipped (the application has no such update)`;
  const started = await startUpdate(run, step, head);
  if (typeof started === "string") return started;
  if (step.detached === true) {
    // Its requests go on in the background while the next steps (faults among them) run.
    run.background.push(run.issue(step.during, step.seed));
    run.running = { finish: () => finishUpdate(run, started) };
    return `${head} (root ${started.root}): started, detached (the next steps run while it runs)`;
  }
  await run.issue(step.during, step.seed);
  return finishUpdate(run, started);
}

/** The refusal (if any), then the real update (or its halting variant) started. */
async function startUpdate(run: LifetimeRun, step: UpdateStep, head: string): Promise<Started | string> {
  const { life, sys, strategy } = run;
  const real = life.updates(run.gen, step.to);
  const root = run.nodeAt(step.root);
  const opts = { strategy, root };
  const notes: string[] = [];
  if (step.refuse) {
    // The refused offer is awaited here: what is down would hold its prepare, so it comes back first.
    const recovered = await recoverAll(run);
    if (recovered.length > 0) notes.push(`before the refused offer: ${recovered.join(", ")}`);
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
  // With faults the swap-time fault must be a function of the state (a crashed node replays it): it fires only if
  // the state changed between prepare and swap.
  const failing = (v: NodeId): Update[] => (run.faulty ? throwsAtSwapIfChanged(real, v) : throwsAtSwap(real, v));
  const pending = outcome(sys.update(halting ? failing(victim as NodeId) : real, opts));
  return { step, head, root, real, pending, victim: halting ? victim : undefined, notes };
}

/** Restart and heal what is down, await the update (bounded in a faulty lifetime), resume a halt. */
async function finishUpdate(run: LifetimeRun, s: Started): Promise<string> {
  const recovered = await recoverAll(run);
  if (recovered.length > 0) s.notes.push(`at its join: ${recovered.join(", ")}`);
  await Promise.all(run.background.splice(0));
  const error = await awaitUpdate(run, s.pending);
  if (error === STUCK) {
    run.unexpected(`${s.head} (root ${s.root}): still running ${SETTLE_BOUND} virtual ms after its join (every node up, every link healed)`);
    return `${s.head}: stuck${tail(s.notes)}`;
  }
  // A node lost for good in prepare (forgotten, or the root's update taken over before every node prepared): the
  // update is aborted, nothing changed, documented.
  if (error instanceof UpdateAbortedError && /forgotten during prepare|lost for good/.test(error.message)) {
    return `${s.head} (root ${s.root}): aborted in prepare, a node lost for good (nothing changed)${tail(s.notes)}`;
  }
  if (s.victim !== undefined) return finishHalted(run, s, error, s.victim);
  if (error !== undefined) {
    run.unexpected(`${s.head} (root ${s.root}): update() rejected: ${describeError(error)}`);
    return `${s.head}: rejected${tail(s.notes)}`;
  }
  run.gen = s.step.to;
  return `${s.head} (root ${s.root}): complete at ${run.sys.now()} ms${tail(s.notes)}`;
}

/** After a swap-time fault the update must have halted (UpdateHaltedError); resume with the real transfer must finish it. */
async function finishHalted(run: LifetimeRun, s: Started, error: unknown, victim: NodeId): Promise<string> {
  const head = s.head;
  if (error === undefined && run.faulty) {
    run.gen = s.step.to;
    return `${head} (root ${s.root}): complete at ${run.sys.now()} ms; no swap-time fault at "${victim}" (its state did not change since the dry run)${tail(s.notes)}`;
  }
  // Its first dry run was undone by a crash and the one that counted met another state: refused, nothing changed.
  if (run.faulty && isNamed(error, "PrepareFailedError") && describeError(error).includes("InjectedTransferFault")) {
    // update() rejects before the abort reached every node; a configuration command meanwhile leaves a prepared node
    // without its snapshot, and a crash then replays it under the new topology (a runtime bug, reproduced in
    // fault-regressions.test.ts): wait until the abort is everywhere.
    await run.sys.sleep(ABORT_TRAVEL_MS);
    return `${head} (root ${s.root}): refused in prepare at "${victim}" (its state changed since a dry run a crash undid); nothing changed${tail(s.notes)}`;
  }
  if (!isNamed(error, "UpdateHaltedError")) {
    run.unexpected(`${head}: a transfer that throws at swap time at "${victim}" ${error === undefined ? "did not stop the update" : `gave ${describeError(error)}`}, not UpdateHaltedError`);
    return `${head}: no halt${tail(s.notes)}`;
  }
  if (s.step.moveHalted !== undefined) {
    const moved = await moveWhileHalted(run, victim, s.step.moveHalted);
    if (moved === undefined) return `${head}: halted, move failed${tail(s.notes)}`;
    s.notes.push(moved);
  }
  const resumed = await awaitUpdate(run, outcome((run.sys as unknown as Resumable).resume(s.real)));
  if (resumed !== undefined) {
    run.unexpected(`${head}: resume() after the halt at "${victim}" ${resumed === STUCK ? "never ended" : `rejected: ${describeError(resumed)}`}`);
    return `${head}: halted, resume failed${tail(s.notes)}`;
  }
  run.gen = s.step.to;
  return `${head}: halted at "${victim}", resumed, complete at ${run.sys.now()} ms${tail(s.notes)}`;
}

/** More than the simulator's longest delay (10 ms by default): an abort sent now has reached every live node. */
const ABORT_TRAVEL_MS = 20;

const tail = (notes: readonly string[]): string => (notes.length > 0 ? `; ${notes.join("; ")}` : "");

const STUCK = Symbol("stuck");

/**
 * The update's outcome. A lifetime without faults awaits it as it always did; one with faults bounds the wait, so
 * that a recovery that never ends is reported (and shrunk) instead of hanging the fuzzer.
 */
function awaitUpdate(run: LifetimeRun, pending: Promise<unknown>): Promise<unknown> {
  if (!run.faulty) return pending;
  const bound = run.sys.sleep(SETTLE_BOUND).then(
    () => STUCK,
    () => STUCK,
  );
  return Promise.race([pending, bound]);
}

/** A promise's rejection reason, or undefined when it resolved; never rejects (so no rejection goes unhandled while we wait). */
export function outcome(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e ?? new Error("rejected without a reason"),
  );
}
