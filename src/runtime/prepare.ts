import { sameBehaviorCode } from "../core/behavior.js";
import type { RunInfo, StrategyPrepare, UpdateCode, UpdateFigures } from "../core/control.js";
import { noFigures } from "../core/control.js";
import { describeError, messageOf } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Update } from "../core/update.js";
import { strategyModule } from "../update/registry.js";
import { HeldChannels } from "./held-channels.js";
import type { StrategyModule } from "../update/strategy.js";

/** What prepare needs of the network a node runs on. */
export interface PrepareEnvironment {
  readonly tracing: boolean;
  now(): number;
  record(ev: TraceEvent): void;
  /**
   * The update code a prepare carries, ready to run: at once in one process,
   * a promise where a signed package must be verified and loaded first. It
   * throws (or rejects) with the reason to refuse.
   */
  loadCode(code: UpdateCode): readonly Update[] | Promise<readonly Update[]>;
}

/** A node's part in one update, from its prepare to the end of its part. */
export interface Participation {
  readonly run: RunInfo;
  /** The update this node takes (a resume brings a corrected one). */
  update: Update;
  /** Every update of the run by the version it converts from: an old message is mapped by its sender's. */
  updates: ReadonlyMap<string, Update>;
  /** The transfer threw at swap time, or a mapping did (the error): the node waits for a resume. */
  halted?: string;
  /** A mapping halted the node in the step it turned new: reported right after its "swapped". */
  haltToReport?: string;
  /** Channels halted by a mapping that threw: their messages wait, in order, for a resume. */
  readonly held: HeldChannels;
  readonly figures: UpdateFigures;
  /** Root only: when it began the protocol (G). */
  startedAt?: number;
  swappedAt?: number;
  /** It swapped in the step running now (the step's wall time is its swap pause). */
  swapStep: boolean;
  /** Where the network has a wall clock: when the swap began, when its state transfer returned, when the swap ended. */
  swapMarks?: { readonly start: number; readonly transferred: number; readonly end: number };
  swapReported: boolean;
  detached: boolean;
  /** The coordinator gave the update up (an "end" message): the node is no longer in it. */
  ended: boolean;
}

export type PrepareOutcome =
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "prepared"; readonly part: Participation; readonly strategy: StrategyModule };

/** What prepare reads of the node it validates. */
export interface PreparingNode {
  readonly id: NodeId;
  readonly version: string;
  readonly state: unknown;
  neighbors(): readonly NodeId[];
}

/**
 * Validate a prepare at a node, the same on every network: the node is in no
 * other update, the strategy exists, the code loads, the node runs the version
 * its update converts from, its state survives structuredClone and the state
 * transfer runs on a copy of it. `done` is called once, at once when the code
 * is in the message, later when it must be loaded.
 */
export function prepareNode(
  node: PreparingNode,
  env: PrepareEnvironment,
  msg: { readonly run: RunInfo; readonly code: UpdateCode; readonly strategy?: StrategyPrepare },
  busyWith: number | undefined,
  done: (outcome: PrepareOutcome) => void,
): void {
  const refuse = (reason: string): void => done({ kind: "refused", reason });
  if (busyWith !== undefined) return refuse(`node "${node.id}" is still in update #${busyWith}; wait for it to end`);
  const strategy = strategyModule(msg.run.strategy);
  if (strategy === undefined) return refuse(`this node cannot run strategy "${msg.run.strategy}"`);
  let loaded: readonly Update[] | Promise<readonly Update[]>;
  try {
    loaded = env.loadCode(msg.code);
  } catch (e) {
    return refuse(messageOf(e));
  }
  const finish = (updates: readonly Update[]): void => done(validate(node, env, msg.run, updates, strategy));
  if (loaded instanceof Promise) loaded.then(finish, (e: unknown) => refuse(messageOf(e)));
  else finish(loaded);
}

/**
 * Check a resume's corrected code at a halted node: it must update the same versions, and its transfer must run on a
 * copy of the node's state as it is now (it went on serving since its prepare).
 */
export function revalidate(
  node: PreparingNode,
  env: PrepareEnvironment,
  part: Participation,
  code: UpdateCode,
  done: (outcome: { readonly kind: "refused"; readonly reason: string } | { readonly kind: "ok"; readonly update: Update; readonly updates: ReadonlyMap<string, Update> }) => void,
): void {
  const check = (updates: readonly Update[]): void => {
    const byFrom = new Map<string, Update>(updates.map((u) => [u.from.version, u]));
    // A node a mapping halted after its swap runs the new version already: its update is the one from its old one.
    const from = part.swappedAt === undefined ? node.version : part.update.from.version;
    const update = byFrom.get(from);
    if (update === undefined || update.to.version !== part.update.to.version) {
      return done({ kind: "refused", reason: `the resumed code does not update "${from}" to "${part.update.to.version}" as the halted update does` });
    }
    // A resume corrects the transfer, the mappings and the timer mapping, never the programs: the same code, by content.
    for (const [which, mine, theirs] of [["from", part.update.from, update.from], ["to", part.update.to, update.to]] as const) {
      if (!sameBehaviorCode(mine, theirs)) {
        return done({
          kind: "refused",
          reason: `the resumed code's ${theirs.version} (its "${which}" behavior) is not the halted update's: its handlers differ. A resume may correct only the state transfer and the mappings; a new program is a new version, updated to once this update is over`,
        });
      }
    }
    // A node halted by a mapping after its swap is new already: its transfer has run, only the mapping is retried.
    const why = part.swappedAt === undefined ? dryRun(node, env, update) : undefined;
    done(why === undefined ? { kind: "ok", update, updates: byFrom } : { kind: "refused", reason: why });
  };
  let loaded: readonly Update[] | Promise<readonly Update[]>;
  try {
    loaded = env.loadCode(code);
  } catch (e) {
    return done({ kind: "refused", reason: messageOf(e) });
  }
  if (loaded instanceof Promise) loaded.then(check, (e: unknown) => done({ kind: "refused", reason: messageOf(e) }));
  else check(loaded);
}

/** The state transfer on a copy of the node's state: undefined if it ran, else why the node refuses. */
function dryRun(node: PreparingNode, env: PrepareEnvironment, update: Update): string | undefined {
  let copy: unknown;
  try {
    copy = structuredClone(node.state);
  } catch (e) {
    return `its state does not survive structuredClone (${describeError(e)})`;
  }
  try {
    update.state(copy, { self: node.id, neighbors: [...node.neighbors()] });
  } catch (e) {
    if (env.tracing) env.record({ kind: "fault", t: env.now(), node: node.id, during: "state-transfer", error: describeError(e) });
    return `the state transfer threw on a copy of its state: ${describeError(e)}`;
  }
  return undefined;
}

/** The clocks of a network that times swaps (TCP): wall ms, and the CPU ms its process used. */
export interface SwapClocks {
  wallClock?(): number;
  cpuClock?(): number;
}

/**
 * The swap's step just ended (`t0`: its start on the wall clock, `cpu0` on the CPU clock): its pause, the pause in
 * parts, the CPU the process used meanwhile and the collector's pauses in it (`gcMs`), into the node's figures.
 */
export function timeSwapStep(p: Participation, clocks: SwapClocks, t0: number, cpu0: number | undefined, gcMs?: number): void {
  const t1 = clocks.wallClock?.();
  if (t1 === undefined) return;
  if (gcMs !== undefined) p.figures.swapGcMs = gcMs;
  const cpu1 = cpu0 !== undefined ? clocks.cpuClock?.() : undefined;
  p.figures.swapPauseMs = t1 - t0;
  if (cpu0 !== undefined && cpu1 !== undefined) p.figures.swapCpuMs = cpu1 - cpu0;
  const m = p.swapMarks;
  if (m === undefined) return;
  p.figures.swapPhasesMs = { before: m.start - t0, transfer: m.transferred - m.start, swap: m.end - m.transferred, after: t1 - m.end };
}

function validate(node: PreparingNode, env: PrepareEnvironment, run: RunInfo, updates: readonly Update[], strategy: StrategyModule): PrepareOutcome {
  const refused = (reason: string): PrepareOutcome => ({ kind: "refused", reason });
  const byFrom = new Map<string, Update>(updates.map((u) => [u.from.version, u]));
  const planned = run.from[node.id];
  if (planned === undefined) return refused(`node "${node.id}" is not in the update's plan`);
  const update = byFrom.get(node.version);
  if (update === undefined) {
    const offered = [...byFrom.keys()].map((v) => `"${v}"`).join(", ");
    return refused(`it runs "${node.version}" (planned: "${planned}") but the update converts only from ${offered}`);
  }
  const why = dryRun(node, env, update);
  if (why !== undefined) return refused(why);
  const part: Participation = { run, update, updates: byFrom, figures: noFigures(), swapStep: false, swapReported: false, detached: false, ended: false, held: new HeldChannels() };
  return { kind: "prepared", part, strategy };
}
