/**
 * A lifetime's moves (docs/design.md "Moving a node"): a move step starts
 * sys.move and does not wait for it; the move lands at the next join (or is
 * interrupted by a crash of its node drawn right after it, or refused because
 * an update runs: both expected outcomes). What else the system does with a
 * move is something no step expected, and stops the lifetime.
 */
import { describeError } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { LifetimeStep } from "./lifetime-steps.js";
import type { LifetimeRun } from "./lifetime-state.js";

/** The locations a lifetime moves nodes between. */
export const LOCATIONS: readonly string[] = ["origin", "rack-1", "rack-2", "rack-3"];

type MoveStep = Extract<LifetimeStep, { kind: "move" }>;

/** Where a move of `id` goes: `index` into the locations it is not at. */
export function destination(run: LifetimeRun, id: NodeId, index: number): string {
  const here = run.sys.location(id).at;
  const choices = LOCATIONS.filter((l) => l !== here);
  return choices[index % choices.length] as string;
}

/** Start the move; its outcome is taken at the next join (landMoves). */
export function applyMove(run: LifetimeRun, step: MoveStep): string {
  // Documented: a synchronized system refuses move (as crash: its pulse machinery has no durable snapshot yet).
  if (run.synchronized) return "move: skipped (a synchronized system refuses move)";
  const id = run.nodeAt(step.node);
  if (run.isDown(id)) return `move ${id}: skipped (it is down)`;
  if (run.sys.isMoving(id)) return `move ${id}: skipped (it is moving already)`;
  const to = destination(run, id, step.to);
  const during = run.sys.updating() ? " (an update runs)" : "";
  run.moves.push({ id, to, outcome: run.sys.move(id, to).then(() => undefined, (e: unknown) => e) });
  return `move ${id} to ${to}${during}`;
}

/** Await every move started since the last join; what each did, one phrase each. */
export async function landMoves(run: LifetimeRun): Promise<string[]> {
  const done: string[] = [];
  for (const m of run.moves.splice(0)) {
    const error = await m.outcome;
    if (error === undefined) done.push(`${m.id} arrived at ${m.to}`);
    else if (isNamed(error, "MoveInterruptedError")) done.push(`${m.id}'s move to ${m.to} interrupted (its source crashed)`);
    else if (isNamed(error, "UpdateInProgressError")) done.push(`${m.id}'s move to ${m.to} refused (an update ran)`);
    else run.unexpected(`move of "${m.id}" to "${m.to}" rejected: ${describeError(error)}`);
  }
  return done;
}

const isNamed = (e: unknown, name: string): boolean => e instanceof Error && e.name === name;

/** While an update is halted, its halted node moves (a halted update must not block draining a location). */
export async function moveWhileHalted(run: LifetimeRun, id: NodeId, index: number): Promise<string | undefined> {
  if (run.synchronized) return `${id} not moved while halted (a synchronized system refuses move)`;
  if (run.isDown(id)) return `${id} not moved while halted (it is down)`;
  const to = destination(run, id, index);
  try {
    await run.sys.move(id, to);
    return `${id} moved to ${to} while halted`;
  } catch (e) {
    run.unexpected(`the move of the halted node "${id}" to "${to}" rejected: ${describeError(e)}`);
    return undefined;
  }
}
