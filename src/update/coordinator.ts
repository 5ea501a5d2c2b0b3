import type { ControlEnvelope } from "../core/envelope.js";
import { PrepareFailedError, StateTransferError } from "../core/errors.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import type { Topology } from "../core/topology.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Network } from "../core/network.js";
import type { CoordinatorPort, StrategyModule } from "./strategy.js";
import type { UpdateRun } from "./update-run.js";

export interface CoordinatorHost {
  readonly network: Network;
  readonly topology: Topology;
  readonly tracing: boolean;
  record(ev: TraceEvent): void;
  /** The update ended: completed (error undefined), aborted in prepare, or failed. */
  finished(run: UpdateRun, error: Error | undefined): void;
  /** What else a node needs in its prepare message (over TCP: the signed package and the run's parameters). */
  prepareExtra?(run: UpdateRun, node: NodeId): Record<string, unknown>;
}

/**
 * The update's coordinator on the control plane (the paper's configuration
 * manager): prepare every node, start the strategy at G, collect the nodes'
 * swap reports and end the update at H. The same for every strategy.
 */
export class UpdateCoordinator implements CoordinatorPort {
  private readonly prepared = new Map<NodeId, unknown>();

  constructor(
    private readonly host: CoordinatorHost,
    readonly run: UpdateRun,
    private readonly strategy: StrategyModule,
  ) {}

  get acks(): ReadonlyMap<NodeId, unknown> {
    return this.prepared;
  }

  get topology(): Topology {
    return this.host.topology;
  }

  now(): number {
    return this.host.network.now();
  }

  send(to: NodeId, signal: string, data: unknown, algorithm: boolean): void {
    const run = this.run;
    if (algorithm) run.controlMessages++;
    else run.controlPlaneMessages++;
    if (this.host.tracing) this.host.record({ kind: "control-send", t: this.now(), node: CONTROL, to, update: run.id, signal, plane: true });
    this.host.network.transmit({ kind: "control", from: CONTROL, to, update: run.id, signal, data, link: 0, plane: true });
  }

  /** Ship the update to every node; each validates it and dry-runs its state transfer. */
  begin(): void {
    for (const n of this.run.nodes) {
      const data = this.strategy.prepareData?.(this.run, this.host.topology, n);
      this.send(n, "prepare", { strategy: data, ...this.host.prepareExtra?.(this.run, n) }, false);
    }
  }

  receive(env: ControlEnvelope): void {
    const run = this.run;
    if (this.host.tracing) {
      this.host.record({ kind: "control-receive", t: this.now(), node: CONTROL, from: env.from, update: env.update, signal: env.signal, plane: true });
    }
    if (env.update !== run.id) return;
    switch (env.signal) {
      case "prepared":
        if (run.phase !== "preparing") return;
        this.prepared.set(env.from, (env.data as { ack?: unknown } | undefined)?.ack);
        if (this.prepared.size === run.plan.size) this.startStrategy();
        return;
      case "refused": {
        if (run.phase !== "preparing") return;
        this.abort(new PrepareFailedError(env.from, (env.data as { reason: string }).reason));
        return;
      }
      case "swapped": {
        if (run.phase !== "running") return;
        run.turnedNewAt.set(env.from, (env.data as { t: number }).t);
        if (run.turnedNewAt.size === run.plan.size) {
          run.phase = "completed";
          let h = run.startedAt;
          for (const t of run.turnedNewAt.values()) if (t > h) h = t;
          run.finishedAt = h;
          if (this.host.tracing) this.host.record({ kind: "update-end", t: this.now(), update: run.id, outcome: "completed" });
          this.host.finished(run, undefined);
        }
        return;
      }
      case "swap-failed": {
        if (run.phase !== "running") return;
        run.phase = "failed";
        const error = (env.data as { error: string }).error;
        if (this.host.tracing) {
          this.host.record({ kind: "update-end", t: this.now(), update: run.id, outcome: "failed", detail: `state transfer threw at "${env.from}": ${error}` });
        }
        this.host.finished(run, new StateTransferError(env.from, `${error}; nodes already new stay new, the others stay old`));
        return;
      }
      default:
        if (run.phase === "running") this.strategy.onCoordinatorMessage?.(this, run, env);
    }
  }

  private startStrategy(): void {
    const run = this.run;
    run.phase = "running";
    run.preparedAt = this.now();
    if (!this.strategy.startsAtRoot) this.markStarted();
    this.strategy.start(this, run);
  }

  abort(error: Error): void {
    const run = this.run;
    if (run.turnedNewAt.size > 0) throw new Error(`update #${run.id}: cannot abort once a node turned new (strategy bug)`);
    run.phase = "aborted";
    for (const n of run.nodes) this.send(n, "abort", undefined, false);
    this.host.finished(run, error);
  }

  /**
   * G: the protocol begins. Over TCP the root reports it: `at` is its time and
   * `recorded` says it already traced update-start (before its own swap, as the
   * checker needs it).
   */
  markStarted(at?: number, recorded = false): void {
    const run = this.run;
    if (!Number.isNaN(run.startedAt)) return;
    run.startedAt = at ?? this.now();
    if (this.host.tracing && !recorded) {
      this.host.record({ kind: "update-start", t: this.now(), update: run.id, strategy: run.strategy, root: run.root, nodes: run.nodes });
    }
  }
}
