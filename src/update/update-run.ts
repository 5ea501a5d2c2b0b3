import type { RunInfo, UpdateFigures } from "../core/control.js";
import type { NodeId } from "../core/ids.js";
import type { UpdateReport } from "../core/update.js";

/**
 * halted: a transfer threw at swap time and the update waits, safely, for resume(); resuming: a resume is under way;
 * adopting: a new coordinator took the update over from a root lost for good and asks every node for its part.
 */
export type UpdatePhase = "preparing" | "adopting" | "running" | "halted" | "resuming" | "completed" | "aborted" | "failed";

/**
 * The coordinator's record of one update, from update() to its end. Nodes
 * never touch it: what they count reaches it in their reports ("swapped",
 * "done"), so the coordinator can live in any process.
 */
export class UpdateRun {
  phase: UpdatePhase = "preparing";
  preparedAt = Number.NaN;
  startedAt = Number.NaN;
  finishedAt = Number.NaN;
  completedAt = Number.NaN;
  /** The coordinator's own messages: the algorithm's (naive's swap, snapshot's restart) and the control plane's. */
  controlMessages = 0;
  controlPlaneMessages = 0;
  readonly turnedNewAt = new Map<NodeId, number>();
  /** Each node's figures, once its part is over. */
  readonly figures = new Map<NodeId, UpdateFigures>();
  /** Nodes whose transfer threw at swap time and that have not turned new since, with the error. */
  readonly halted = new Map<NodeId, string>();
  /**
   * Nodes lost for good and forgotten while the update ran (`forget`): the update no longer waits for them, and what
   * was in flight to or from them is dropped (traced). They stay in `nodes`, whose order indexes rollback's vectors.
   */
  readonly forgotten = new Set<NodeId>();

  constructor(readonly info: RunInfo) {}

  get id(): number {
    return this.info.id;
  }

  get nodes(): readonly NodeId[] {
    return this.info.nodes;
  }

  /**
   * The nodes the update still waits for: every node but the forgotten ones, sorted. With none forgotten, the run's
   * own list, not a copy: the coordinator asks on every node's report, and a copy each time made an update O(n^2).
   */
  live(): readonly NodeId[] {
    return this.forgotten.size === 0 ? this.info.nodes : this.info.nodes.filter((n) => !this.forgotten.has(n));
  }

  /** Not over: preparing, running, halted or resuming. */
  get running(): boolean {
    return this.phase === "preparing" || this.phase === "adopting" || this.swapping || this.phase === "halted";
  }

  /** Past prepare and not over, halted excepted: nodes are turning new. */
  get swapping(): boolean {
    return this.phase === "running" || this.phase === "resuming";
  }

  /** Nodes' reports (swapped, done, swap-failed) still count: halted nodes' neighbours go on with the protocol. */
  get reporting(): boolean {
    return this.swapping || this.phase === "halted";
  }

  /** Every live node turned new and every live node's part is over. */
  get complete(): boolean {
    return this.live().every((n) => this.turnedNewAt.has(n) && this.figures.has(n));
  }

  /** Every live node turned new. */
  get allNew(): boolean {
    return this.live().every((n) => this.turnedNewAt.has(n));
  }

  /** Live nodes not yet new, sorted. */
  oldNodes(): NodeId[] {
    return this.live().filter((n) => !this.turnedNewAt.has(n));
  }

  /** Live nodes new but whose part is not over yet, sorted. */
  unfinishedNodes(): NodeId[] {
    return this.live().filter((n) => this.turnedNewAt.has(n) && !this.figures.has(n));
  }

  report(): UpdateReport {
    const nodes: Record<NodeId, { turnedNewAt: number }> = {};
    for (const n of this.nodes) nodes[n] = { turnedNewAt: this.turnedNewAt.get(n) ?? Number.NaN };
    const sum = (f: (x: UpdateFigures) => number): number => {
      let total = 0;
      for (const x of this.figures.values()) total += f(x);
      return total;
    };
    const armed = sum((x) => x.armedMessages);
    const rollback = {
      replayedEvents: sum((x) => x.replayedEvents),
      orphansDropped: sum((x) => x.orphansDropped),
      armedMessages: armed,
      metadataBytesPerMessage: armed === 0 ? 0 : sum((x) => x.metadataBytes) / armed,
      // A loop, not Math.max(...spread): a million nodes' figures overflow the call stack as arguments.
      peakCheckpoints: maxPeakCheckpoints(this.figures.values()),
    };
    return {
      strategy: this.info.strategy,
      root: this.info.root,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      completedAt: this.completedAt,
      controlMessages: this.controlMessages + sum((x) => x.controlMessages),
      heldMessages: sum((x) => x.heldMessages),
      transformedMessages: sum((x) => x.transformedMessages),
      rolledBackEvents: sum((x) => x.rolledBackEvents),
      // A node of an older liveswap (over TCP) reports no faults field: count it as none rather than NaN.
      faults: sum((x) => x.faults ?? 0),
      preparedAt: this.preparedAt,
      nodes,
      controlPlaneMessages: this.controlPlaneMessages + sum((x) => x.controlPlaneMessages),
      requestedAt: this.info.requestedAt,
      ...(this.forgotten.size > 0 ? { forgotten: [...this.forgotten].sort() } : {}),
      ...(this.info.strategy === "rollback" ? { rollback } : {}),
    };
  }
}

function maxPeakCheckpoints(figures: Iterable<{ readonly peakCheckpoints: number }>): number {
  let max = 0;
  for (const f of figures) if (f.peakCheckpoints > max) max = f.peakCheckpoints;
  return max;
}
