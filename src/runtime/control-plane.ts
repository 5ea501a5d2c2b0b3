import type { RunInfo, StrategyPrepare, UpdateCode } from "../core/control.js";
import {
  InvalidOptionError,
  InvalidUpdateError,
  StrategyUnavailableError,
  UnknownNodeError,
  VersionMismatchError,
} from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { Topology } from "../core/topology.js";
import type { Behavior } from "../core/behavior.js";
import { STRATEGIES, type Update, type UpdateOptions } from "../core/update.js";
import { UpdateCoordinator, type CoordinatorTransport } from "../update/coordinator.js";
import { availableStrategies, strategyModule } from "../update/registry.js";
import type { StrategyModule } from "../update/strategy.js";
import { UpdateRun } from "../update/update-run.js";

/** What the control plane knows of the system it updates: its nodes, links and running versions. */
export interface UpdateTarget {
  readonly topology: Topology;
  versionOf(node: NodeId): string;
  /** The system runs in pulses (a simulated `synchronizer: true` system; a TCP cluster never does). */
  readonly synchronizer: boolean;
}

/** One update of a plan as the control plane sees it: the versions, never the code. */
export interface UpdateDescriptor {
  readonly from: string;
  readonly to: string;
}

/** A validated update, ready to prepare. */
export interface UpdatePlan {
  readonly run: RunInfo;
  readonly strategy: StrategyModule;
  readonly prepareData: ReadonlyMap<NodeId, StrategyPrepare> | undefined;
}

/**
 * Validate an update request against the system, the same on every network,
 * so the simulator and `ctl update` refuse exactly the same bad updates with
 * the same errors. Nothing has been sent when it throws.
 */
export function planUpdate(target: UpdateTarget, descriptors: readonly UpdateDescriptor[], opts: UpdateOptions, id: number, requestedAt: number): UpdatePlan {
  const strategy = checkStrategy(target, opts);
  const byFrom = checkDescriptors(descriptors);
  const topology = target.topology;
  const nodes = topology.nodes();
  if (nodes.length === 0) throw new InvalidUpdateError("the system has no nodes to update");
  const root = opts.root ?? (nodes[0] as NodeId);
  if (!topology.hasNode(root)) throw new UnknownNodeError(root, "update root");
  checkAtPulse(opts);
  if (strategy.needsConnectedTopology) checkReachable(topology, root, strategy.name);
  const from: Record<NodeId, string> = {};
  for (const n of nodes) {
    const version = target.versionOf(n);
    if (!byFrom.has(version)) throw new VersionMismatchError(n, version, [...byFrom.keys()]);
    from[n] = version;
  }
  const run: RunInfo = { id, strategy: strategy.name, root, nodes, from, requestedAt, ...(opts.atPulse !== undefined ? { atPulse: opts.atPulse } : {}) };
  return { run, strategy, prepareData: strategy.prepareData?.(run, topology) };
}

/** Start a planned update: the coordinator prepares every node over `transport`. */
export function launchUpdate(plan: UpdatePlan, code: UpdateCode, transport: CoordinatorTransport): UpdateCoordinator {
  const coordinator = new UpdateCoordinator(transport, new UpdateRun(plan.run), plan.strategy, plan.strategy.startsAtRoot);
  coordinator.begin(code, plan.prepareData);
  return coordinator;
}

/** The options alone, before anything of the system is asked (a control plane checks them before contacting nodes). */
export function checkUpdateOptions(opts: UpdateOptions, synchronizer: boolean): void {
  checkStrategy({ synchronizer }, opts);
}

function checkStrategy(target: { readonly synchronizer: boolean }, opts: UpdateOptions): StrategyModule {
  if (opts === null || typeof opts !== "object") throw new InvalidOptionError("update opts", "expected { strategy, root? }");
  const name = opts.strategy;
  if (!STRATEGIES.includes(name)) {
    throw new InvalidOptionError("strategy", `unknown strategy ${JSON.stringify(name)}; one of ${STRATEGIES.join(", ")}`);
  }
  const strategy = strategyModule(name);
  if (strategy === undefined) {
    throw new StrategyUnavailableError(name, `it is not implemented in this version yet (available: ${availableStrategies().join(", ")})`);
  }
  const why =
    target.synchronizer && name !== "synchronizer"
      ? "this system runs in pulses (synchronizer: true); only the synchronizer strategy can update it"
      : strategy.unavailable({ synchronizer: target.synchronizer });
  if (why !== undefined) throw new StrategyUnavailableError(name, why);
  return strategy;
}

/** A pulse is a synchronizer notion: given to another strategy it would be silently ignored, so it is refused. */
function checkAtPulse(opts: UpdateOptions): void {
  if (opts.atPulse === undefined) return;
  if (opts.strategy !== "synchronizer") {
    throw new InvalidOptionError("atPulse", `only the synchronizer strategy swaps at a pulse; strategy "${opts.strategy}" takes no atPulse (remove it)`);
  }
  if (!(Number.isInteger(opts.atPulse) && opts.atPulse >= 0)) {
    throw new InvalidOptionError("atPulse", `expected a whole pulse number >= 0, got ${String(opts.atPulse)}`);
  }
}

function checkDescriptors(descriptors: readonly UpdateDescriptor[]): Map<string, UpdateDescriptor> {
  if (descriptors.length === 0) throw new InvalidUpdateError("no update given");
  const byFrom = new Map<string, UpdateDescriptor>();
  for (const d of descriptors) {
    if (typeof d.from !== "string" || d.from === "" || typeof d.to !== "string" || d.to === "") {
      throw new InvalidUpdateError(`an update converts from ${JSON.stringify(d.from)} to ${JSON.stringify(d.to)}; both must be non-empty version strings`);
    }
    // defineUpdate refuses it too, but a plain object (or a package manifest) reaches here without it.
    if (d.from === d.to) throw new InvalidUpdateError(`an update from "${d.from}" to "${d.to}" does not change the version; give the new behavior its own version`);
    if (byFrom.has(d.from)) throw new InvalidUpdateError(`two updates convert from "${d.from}"; give one per running behavior`);
    byFrom.set(d.from, d);
  }
  return byFrom;
}

/** What the control plane knows of a running update when a node of it is to be forgotten. */
export interface ForgetTarget {
  readonly topology: Topology;
  readonly run: RunInfo;
  /** The nodes of the update not forgotten yet. */
  readonly live: readonly NodeId[];
}

/**
 * Why `node` (lost for good) may not be forgotten from the running update, or undefined. The root runs the update's
 * coordinator: it is taken over, not forgotten. A strategy that runs over the links needs every other live node of
 * the update still reachable from the root once the node and its links are gone, or its wave would never reach them.
 */
export function forgetRefusal(target: ForgetTarget, node: NodeId): string | undefined {
  const run = target.run;
  if (!target.live.includes(node)) return undefined;
  if (node === run.root) {
    return `it is the root of update #${run.id} and runs its coordinator; take the update over at another node of it (takeover with a new root, \`liveswap ctl takeover --root R\`), which forgets "${node}"`;
  }
  if (!strategyModule(run.strategy)?.needsConnectedTopology) return undefined;
  const reached = new Set<NodeId>([run.root]);
  const queue: NodeId[] = [run.root];
  for (let i = 0; i < queue.length; i++) {
    for (const m of target.topology.neighbors(queue[i] as NodeId)) {
      if (m === node || reached.has(m)) continue;
      reached.add(m);
      queue.push(m);
    }
  }
  const cut = target.live.filter((n) => n !== node && !reached.has(n));
  if (cut.length === 0) return undefined;
  return `without it, node(s) ${cut.map((n) => `"${n}"`).join(", ")} of update #${run.id} could not be reached from its root "${run.root}" and the ${run.strategy} update would never reach them; bring "${node}" back (restart it from its store) or forget those nodes first`;
}

/** The strategy's messages travel the application's links: every node must be reachable from the root. */
function checkReachable(topology: Topology, root: NodeId, strategy: string): void {
  const reached = topology.distances(root);
  const cut = topology.nodes().filter((n) => !reached.has(n));
  if (cut.length > 0) {
    throw new InvalidUpdateError(
      `strategy "${strategy}" runs over the links, but node(s) ${cut.map((n) => `"${n}"`).join(", ")} cannot be reached from the root "${root}"; link them first`,
    );
  }
}

/** A behavior as the runtime needs it: a version string and the two handlers every node runs. */
function isBehavior(b: unknown): b is Behavior {
  if (b === null || typeof b !== "object") return false;
  const x = b as Partial<Behavior>;
  return typeof x.version === "string" && x.version !== "" && typeof x.init === "function" && typeof x.receive === "function";
}

/**
 * The shape of update objects where they exist (in one process; over TCP the node checks the package it loads):
 * `from` and `to` are behaviors, `state` a function, `message` and `timer` functions when given. Plain objects
 * reach here without defineUpdate, so nothing of it is taken on trust.
 */
export function checkUpdateObjects(list: readonly unknown[]): readonly Update[] {
  list.forEach((one, i) => {
    const at = list.length > 1 ? `update [${i}]` : "the update";
    if (one === null || typeof one !== "object") throw new InvalidUpdateError(`${at} is ${String(one)}; each update needs from, to and state (see defineUpdate)`);
    const u = one as Partial<Record<"from" | "to" | "state" | "message" | "timer", unknown>>;
    for (const side of ["from", "to"] as const) {
      if (!isBehavior(u[side])) {
        throw new InvalidUpdateError(`${at}: \`${side}\` is not a behavior (it needs a version string, init and receive; see defineBehavior)`);
      }
    }
    if (typeof u.state !== "function") throw new InvalidUpdateError(`${at}: \`state\` must be the state transfer function (see defineUpdate)`);
    for (const opt of ["message", "timer"] as const) {
      if (u[opt] !== undefined && typeof u[opt] !== "function") throw new InvalidUpdateError(`${at}: \`${opt}\` must be a function when given`);
    }
  });
  return list as readonly Update[];
}
