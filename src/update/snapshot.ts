/**
 * snapshot: the paper's basic solution (section 5.1) as a transitless global
 * snapshot (docs/design.md): freeze everything, swap everything, restart.
 *
 * The root freezes and floods a freeze marker on every channel. On its first
 * marker a node freezes too, floods the marker, and from then on executes no
 * application event: every message, outside request and timer that reaches it
 * is buffered, in arrival order. A node with the marker from every channel has
 * received everything its neighbours sent before they froze, and they send
 * nothing while frozen: it reports drained. When every node has drained, no
 * application message is in flight anywhere, and the coordinator restarts them:
 * each swaps, replaces the old messages it buffered (those that arrived on a
 * channel before that channel's marker) by their new-equivalents, executes what
 * it buffered in order, and resumes.
 *
 * Consistency is trivial: no node executes anything between its freeze and its
 * swap, old messages buffered are transformed before the new code sees them,
 * and what a restarted neighbour sends arrives after its marker and is new.
 * Disruption is maximal: the whole system stops for two rounds of the control
 * plane after the marker flood. It is the baseline the other strategies are
 * measured against.
 *
 * Where we depart from the paper: the paper's "save states, shut down, restart"
 * loses the channels' contents; the marker flood (after Chandy and Lamport)
 * makes the frozen state transitless instead, so nothing in flight is lost.
 * controlMessages counts markers (two per link), drained reports and restarts
 * (one each per node). A node lost for good and forgotten mid-update is no
 * longer waited for: not its marker at its neighbours, not its drained report.
 */
import type { ControlMessage, NodeReport } from "../core/control.js";
import type { AppEnvelope } from "../core/envelope.js";
import type { NodeId, RequestId } from "../core/ids.js";
import type { NodeAgent, NodePort } from "../node/agent.js";
import type { NodeInput } from "../node/swap-node.js";
import type { CoordinatorPort, StrategyCoordinator, StrategyModule } from "./strategy.js";

type Buffered = { readonly input: NodeInput; readonly old: boolean };

class SnapshotAgent implements NodeAgent {
  private frozen = false;
  private drained = false;
  private readonly markerFrom = new Set<NodeId>();
  private readonly buffered: Buffered[] = [];

  constructor(private readonly node: NodePort) {}

  fingerprint(): unknown {
    return {
      frozen: this.frozen,
      drained: this.drained,
      markers: [...this.markerFrom].sort(),
      buffered: this.buffered.map((b) => (b.input.kind === "receive" ? [b.input.env.id, b.old] : b.input.kind === "request" ? ["request", b.input.request] : ["timer", b.input.tag])),
    };
  }

  onSend(env: AppEnvelope): void {
    this.node.transmit(env);
  }

  onDeliver(env: AppEnvelope): void {
    if (!this.frozen) return this.node.execute({ kind: "receive", env });
    this.buffered.push({ input: { kind: "receive", env }, old: !this.markerFrom.has(env.from) });
    if (this.node.tracing) this.node.record({ kind: "buffer", t: this.node.now(), node: this.node.id, from: env.from, msg: env.id });
  }

  onRequest(request: RequestId, body: unknown): void {
    if (this.frozen) this.buffered.push({ input: { kind: "request", request, body }, old: false });
    else this.node.execute({ kind: "request", request, body });
  }

  onTimer(tag: string): void {
    if (this.frozen) this.buffered.push({ input: { kind: "timer", tag }, old: false });
    else this.node.execute({ kind: "timer", tag });
  }

  onControl(msg: ControlMessage, from: NodeId): void {
    switch (msg.kind) {
      case "start":
        this.node.markStarted();
        this.freeze();
        break;
      case "freeze":
        this.markerFrom.add(from);
        this.freeze();
        break;
      case "restart":
        this.restart();
        return;
      default:
        return;
    }
    this.reportIfDrained();
  }

  progress(): { readonly begun: boolean; readonly drained: boolean } {
    return { begun: this.frozen, drained: this.drained };
  }

  /** A neighbour lost for good was forgotten: its channel is gone, nothing more can come from it. */
  onNeighborGone(): void {
    if (this.frozen) this.reportIfDrained();
  }

  /** Frozen with every live channel's marker: nothing of the old epoch can reach this node any more. */
  private reportIfDrained(): void {
    if (!this.drained && this.node.neighbors().every((n) => this.markerFrom.has(n))) {
      this.drained = true;
      this.node.report({ kind: "drained" }, true);
    }
  }

  private freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const n of this.node.neighbors()) this.node.sendControl(n, { kind: "freeze" });
  }

  /**
   * Halted at its restart (the transfer threw), the node stays frozen, buffering everything: the restarted nodes
   * around it are new, so nothing of its old code may reach them, and snapshot's point is that nobody runs while it
   * swaps. With the corrected code it restarts as it would have.
   */
  onResume(): void {
    this.restart();
  }

  private restart(): void {
    const node = this.node;
    if (!node.swap()) return; // the state transfer threw: halted, frozen, see onResume
    const inputs: NodeInput[] = [];
    for (const b of this.buffered) {
      if (b.input.kind === "receive" && b.old) {
        for (const env of node.transform(b.input.env)) inputs.push({ kind: "receive", env });
      } else {
        inputs.push(b.input);
      }
    }
    this.buffered.length = 0;
    node.detach();
    for (const input of inputs) node.execute(input);
  }
}

/** The coordinator's part: restart every node once all have drained. */
class SnapshotCoordinator implements StrategyCoordinator {
  private readonly drained = new Set<NodeId>();
  private restarted = false;

  constructor(private readonly port: CoordinatorPort) {}

  start(): void {
    this.port.send(this.port.run.root, { kind: "start" }, false);
  }

  onReport(from: NodeId, msg: NodeReport): void {
    if (msg.kind !== "drained") return;
    this.drained.add(from);
    this.restartIfDrained();
  }

  onForget(): void {
    this.restartIfDrained();
  }

  /** Taken over: a node drained, new (restarted) or done told the lost coordinator it had drained. */
  adopt(parts: ReadonlyMap<NodeId, NodeReport & { kind: "part" }>): void {
    for (const [n, part] of parts) if (part.drained === true || part.newAt !== undefined || !part.prepared) this.drained.add(n);
    this.restartIfDrained();
  }

  /** Every live node drained: nothing is in flight between them (a forgotten node's channels are gone). */
  private restartIfDrained(): void {
    const nodes = this.port.liveNodes();
    if (this.restarted || !nodes.every((n) => this.drained.has(n))) return;
    this.restarted = true;
    for (const n of nodes) this.port.send(n, { kind: "restart" }, true);
  }

  fingerprint(): unknown {
    return [...this.drained].sort();
  }
}

export const snapshot: StrategyModule = {
  name: "snapshot",
  needsConnectedTopology: true,
  startsAtRoot: true,
  unavailable: () => undefined,
  agent: (node) => new SnapshotAgent(node),
  coordinator: (port) => new SnapshotCoordinator(port),
};
