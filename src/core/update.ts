import type { Behavior } from "./behavior.js";
import type { NodeId } from "./ids.js";

export type Strategy = "naive" | "snapshot" | "synchronizer" | "conservative" | "rollback" | "cut";
export const STRATEGIES: readonly Strategy[] = ["naive", "snapshot", "synchronizer", "conservative", "rollback", "cut"];

/** Old version, new version, state transfer and the mapping of old messages to their new-equivalents. */
export interface Update<S1 = any, M1 = any, S2 = any, M2 = any> {
  from: Behavior<S1, M1>;
  to: Behavior<S2, M2>;
  state(old: S1, info: { self: NodeId; neighbors: readonly NodeId[] }): S2;
  /** New-equivalent of an old message: zero or more new messages on the same channel. Omitted: unchanged. */
  message?(old: M1, info: { from: NodeId; to: NodeId }): M2[];
  /** New tags for a timer pending at the swap (it keeps its due time); omitted: the tag stays; [] cancels it. */
  timer?(tag: string, info: { self: NodeId }): string[];
}

export function defineUpdate<S1, M1, S2, M2>(u: Update<S1, M1, S2, M2>): Update<S1, M1, S2, M2> {
  if (!u.from || !u.to) throw new TypeError("defineUpdate: `from` and `to` behaviors are required");
  if (u.from.version === u.to.version) {
    throw new TypeError(`defineUpdate: \`from\` and \`to\` are both version "${u.from.version}"; an update must change the version`);
  }
  if (typeof u.state !== "function") throw new TypeError(`defineUpdate(${u.from.version} -> ${u.to.version}): \`state\` must be a function`);
  if (u.message !== undefined && typeof u.message !== "function") {
    throw new TypeError(`defineUpdate(${u.from.version} -> ${u.to.version}): \`message\` must be a function when given`);
  }
  if (u.timer !== undefined && typeof u.timer !== "function") {
    throw new TypeError(`defineUpdate(${u.from.version} -> ${u.to.version}): \`timer\` must be a function when given`);
  }
  return u;
}

export interface UpdateOptions {
  strategy: Strategy;
  root?: NodeId;
  atPulse?: number;
  /**
   * Prepare's deadline: a node not prepared this long after the update began (virtual ms on the simulated network)
   * aborts the update with PrepareDeadlineError naming it, and no node changes. Default on the simulated network:
   * none, so that an update started while a node is down waits for its restart (API.md).
   */
  prepareDeadlineMs?: number;
}

export interface UpdateReport {
  strategy: Strategy;
  root: NodeId;
  /** G: last instant all nodes were old (the strategy's protocol starts, after prepare). */
  startedAt: number;
  /** H: first instant all nodes are new. */
  finishedAt: number;
  /** None of the update's machinery is left anywhere: every node's agent detached (at or after H). */
  completedAt: number;
  /** Handler, message-mapping and state-transfer faults traced at the nodes while they took part in the update. */
  faults: number;
  /** Messages the update algorithm itself sent (not the prepare round trip, see controlPlaneMessages). */
  controlMessages: number;
  heldMessages: number;
  transformedMessages: number;
  rolledBackEvents: number;
  preparedAt: number;
  nodes: Record<NodeId, { turnedNewAt: number }>;
  /** Ours: the coordinator's prepare / start / done messages, common to every strategy. */
  controlPlaneMessages: number;
  /** Ours: when update() was called. */
  requestedAt: number;
  /** Ours: nodes lost for good and forgotten while the update ran (their `turnedNewAt` is NaN), sorted. */
  forgotten?: NodeId[];
  /** Ours, rollback only: the cost of optimism. */
  rollback?: {
    replayedEvents: number;
    orphansDropped: number;
    /** Old messages sent while armed (they carry vector time and causal-order metadata). */
    armedMessages: number;
    /** Mean JSON bytes of that metadata per armed message. */
    metadataBytesPerMessage: number;
    /** The most checkpoints one node held at once. */
    peakCheckpoints: number;
  };
}
