import type { NodeId } from "../core/ids.js";
import type { Strategy, Update, UpdateOptions, UpdateReport } from "../core/update.js";

export type UpdatePhase = "preparing" | "running" | "completed" | "aborted" | "failed";

/**
 * One update from update() to its end: the plan (which update each node takes)
 * and the figures of its report. On the simulated network nodes and coordinator
 * share it; a multi-process network sends the figures with the nodes' reports.
 */
export class UpdateRun {
  phase: UpdatePhase = "preparing";
  preparedAt = Number.NaN;
  startedAt = Number.NaN;
  finishedAt = Number.NaN;
  controlMessages = 0;
  controlPlaneMessages = 0;
  heldMessages = 0;
  transformedMessages = 0;
  rolledBackEvents = 0;
  /** rollback: undone events run again through the new code. */
  replayedEvents = 0;
  /** rollback: messages dropped because their send was undone. */
  orphansDropped = 0;
  /** rollback: old messages sent while armed, and the bytes of vector time and causal metadata they carried. */
  armedMessages = 0;
  metadataBytes = 0;
  /** rollback: the most checkpoints one node held at once. */
  peakCheckpoints = 0;
  readonly turnedNewAt = new Map<NodeId, number>();

  constructor(
    readonly id: number,
    readonly strategy: Strategy,
    readonly root: NodeId,
    /** Every node, sorted, each with the update it takes. */
    readonly plan: ReadonlyMap<NodeId, Update>,
    readonly options: UpdateOptions,
    readonly requestedAt: number,
  ) {}

  private nodeList: readonly NodeId[] | undefined;

  /** Every node of the update, sorted (the plan's order). */
  get nodes(): readonly NodeId[] {
    this.nodeList ??= [...this.plan.keys()];
    return this.nodeList;
  }

  get running(): boolean {
    return this.phase === "preparing" || this.phase === "running";
  }

  /** Nodes not yet new, sorted. */
  oldNodes(): NodeId[] {
    return this.nodes.filter((n) => !this.turnedNewAt.has(n));
  }

  report(): UpdateReport {
    const nodes: Record<NodeId, { turnedNewAt: number }> = {};
    for (const n of this.nodes) nodes[n] = { turnedNewAt: this.turnedNewAt.get(n) ?? Number.NaN };
    return {
      strategy: this.strategy,
      root: this.root,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      controlMessages: this.controlMessages,
      heldMessages: this.heldMessages,
      transformedMessages: this.transformedMessages,
      rolledBackEvents: this.rolledBackEvents,
      preparedAt: this.preparedAt,
      nodes,
      controlPlaneMessages: this.controlPlaneMessages,
      requestedAt: this.requestedAt,
      ...(this.strategy === "rollback"
        ? {
            rollback: {
              replayedEvents: this.replayedEvents,
              orphansDropped: this.orphansDropped,
              armedMessages: this.armedMessages,
              metadataBytesPerMessage: this.armedMessages === 0 ? 0 : this.metadataBytes / this.armedMessages,
              peakCheckpoints: this.peakCheckpoints,
            },
          }
        : {}),
    };
  }
}
