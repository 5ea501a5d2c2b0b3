/**
 * conservative: the paper's conservative approach (section 5.2, Figure 4).
 *
 * The root starts by sending the update request m to its children; every node
 * forwards m to its children once and, from the moment m went to a child,
 * freezes the connection in the direction of m: its application messages to
 * that child are held. A node turns new when it has m from every parent and the
 * reply m' from every child; turning new and sending m' to every parent are one
 * atomic step. So the wave of m runs root to leaves and nodes turn new from the
 * leaves back to the root: an old message can never reach a new node (the
 * child only turns new after its parent's m, behind every message the parent
 * sent it before freezing), and a new message never reaches an old one (a
 * parent buffers what a child sends after its m').
 *
 * Where we depart from the paper (docs/design.md):
 * - The paper assumes a rooted tree. We orient every link of any connected
 *   topology by (hop distance from the root, id) (orientation.ts), which is
 *   acyclic and makes every pair of neighbours a parent and a child.
 * - The paper only blocks held channels. We say what happens to what was held:
 *   at turn-new every held message (old: its sender was old when it sent it) is
 *   replaced by its new-equivalent through the update's message mapping and
 *   sent, before anything else the new code sends on that channel.
 * - The paper's parent "buffers all received messages" after a child's m'. We
 *   buffer exactly the messages arriving on a channel from a child after that
 *   child's m' (they are new), and execute them, in arrival order, right after
 *   turning new. Everything else keeps being executed, and outside requests and
 *   timers keep being served during the update.
 * - The root is told to start by the coordinator (a control-plane message);
 *   controlMessages counts only m and m': exactly one each per link.
 * - A neighbour lost for good may be forgotten mid-update (onNeighborGone): the
 *   orientation loses its links, and a node left without a parent becomes a
 *   source of m.
 */
import type { ControlMessage, RunInfo, StrategyPrepare } from "../core/control.js";
import type { AppEnvelope } from "../core/envelope.js";
import { InternalError } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { Topology } from "../core/topology.js";
import type { NodeAgent, NodePort } from "../node/agent.js";
import { PassThroughAgent } from "../node/pass-through-agent.js";
import { orientFrom, type Orientation } from "./orientation.js";
import { startAtRoot, type StrategyModule } from "./strategy.js";

class ConservativeAgent extends PassThroughAgent implements NodeAgent {
  private readonly parents: ReadonlySet<NodeId>;
  private readonly children: ReadonlySet<NodeId>;
  private readonly mFrom = new Set<NodeId>();
  private readonly mPrimeFrom = new Set<NodeId>();
  private sentM = false;
  private turnedNew = false;
  /** Held sends toward children, in send order. */
  private readonly held: AppEnvelope[] = [];
  /** New messages from children that arrived while this node was old, in arrival order. */
  private readonly buffered: AppEnvelope[] = [];

  constructor(node: NodePort, orientation: Orientation) {
    super(node);
    this.parents = new Set(orientation.parents);
    this.children = new Set(orientation.children);
  }

  override fingerprint(): unknown {
    return {
      m: [...this.mFrom].sort(),
      mp: [...this.mPrimeFrom].sort(),
      sentM: this.sentM,
      turnedNew: this.turnedNew,
      held: this.held.map((e) => e.id),
      buffered: this.buffered.map((e) => e.id),
    };
  }

  override onSend(env: AppEnvelope): void {
    if (this.sentM && !this.turnedNew && this.children.has(env.to)) {
      this.held.push(env);
      this.node.figures.heldMessages++;
      if (this.node.tracing) this.node.record({ kind: "hold", t: this.node.now(), node: this.node.id, to: env.to, msg: env.id });
      return;
    }
    this.node.transmit(env);
  }

  override onDeliver(env: AppEnvelope): void {
    if (!this.turnedNew && this.mPrimeFrom.has(env.from)) {
      this.buffered.push(env);
      if (this.node.tracing) this.node.record({ kind: "buffer", t: this.node.now(), node: this.node.id, from: env.from, msg: env.id });
      return;
    }
    this.node.execute({ kind: "receive", env });
  }

  override onControl(msg: ControlMessage, from: NodeId): void {
    switch (msg.kind) {
      case "start":
        this.node.markStarted();
        this.forwardM();
        break;
      case "m":
        if (!this.parents.has(from)) throw new InternalError(`conservative: "${this.node.id}" got m from "${from}", which is not its parent`);
        this.mFrom.add(from);
        this.forwardM();
        break;
      case "m'":
        if (!this.children.has(from)) throw new InternalError(`conservative: "${this.node.id}" got m' from "${from}", which is not its child`);
        this.mPrimeFrom.add(from);
        break;
      default:
        return;
    }
    this.turnNewIfReady();
  }

  /**
   * A neighbour lost for good was forgotten (only ever past prepare): its channels are gone, so this node stops
   * waiting for its m or m', and what it held for it is dropped (traced). A node left with no parent starts the wave
   * of m toward its children itself: it is a source of the orientation, as the root is, and the argument above holds
   * for any number of sources (an acyclic orientation; a node turns new only with m from every live parent and m'
   * from every live child).
   */
  onNeighborGone(gone: NodeId, running: boolean): void {
    const node = this.node;
    if (this.children.has(gone)) {
      const kept = this.held.filter((env) => env.to !== gone);
      for (const env of this.held) {
        if (env.to === gone && node.tracing) node.record({ kind: "drop", t: node.now(), node: node.id, from: node.id, msg: env.id, reason: "destroyed" });
      }
      this.held.splice(0, this.held.length, ...kept);
    }
    if (this.turnedNew) return;
    // Only once every node prepared (running): an m to a node not armed yet would be ignored there, and lost.
    if (running && !this.sentM && this.liveParents().length === 0) this.forwardM();
    this.turnNewIfReady();
  }

  progress(): { readonly begun: boolean } {
    return { begun: this.sentM || this.mFrom.size > 0 || this.turnedNew };
  }

  /** Parents and children whose link is still there (a forgotten neighbour's is gone). */
  private liveParents(): NodeId[] {
    return this.node.neighbors().filter((n) => this.parents.has(n));
  }

  private turnNewIfReady(): void {
    if (!this.sentM || this.turnedNew) return;
    const live = this.node.neighbors();
    const ready = live.every((n) => (this.parents.has(n) ? this.mFrom.has(n) : !this.children.has(n) || this.mPrimeFrom.has(n)));
    if (ready) this.turnNew();
  }

  /** Send m to every child once, freezing every channel toward them in the same step. */
  private forwardM(): void {
    if (this.sentM) return;
    this.sentM = true;
    for (const c of this.node.neighbors()) if (this.children.has(c)) this.node.sendControl(c, { kind: "m" });
  }

  /** Atomically: transfer state, send the new-equivalents of held messages, m' to every parent, then run the buffered new messages. */
  /**
   * Halted at its swap (the transfer threw) the node stayed exactly where the protocol put it: old, executing what its
   * parents send, holding what it sends to its new children, buffering what they send, its parents holding toward it.
   * Every flow across the epoch boundary waits and none is lost; with the corrected code it turns new as it would have.
   */
  onResume(): void {
    if (!this.turnedNew) this.turnNew();
  }

  private turnNew(): void {
    if (!this.node.swap()) return; // the state transfer threw: halted, see onResume
    this.turnedNew = true;
    const node = this.node;
    for (const env of this.held) {
      for (const fresh of node.transform(env)) {
        if (node.tracing) node.record({ kind: "release", t: node.now(), node: node.id, to: fresh.to, msg: fresh.id });
        node.transmit(fresh);
      }
    }
    this.held.length = 0;
    for (const p of this.liveParents()) node.sendControl(p, { kind: "m'" });
    // From here on every message this node can receive is new (parents hold toward it, children are new).
    node.detach();
    for (const env of this.buffered.splice(0)) node.execute({ kind: "receive", env });
  }
}

export const conservative: StrategyModule = {
  name: "conservative",
  needsConnectedTopology: true,
  startsAtRoot: true,
  unavailable: () => undefined,
  prepareData(run: RunInfo, topology: Topology): ReadonlyMap<NodeId, StrategyPrepare> {
    const out = new Map<NodeId, StrategyPrepare>();
    for (const [n, o] of orientFrom(topology, run.root)) out.set(n, { kind: "orientation", parents: o.parents, children: o.children });
    return out;
  },
  agent(node, _run, prepared) {
    if (prepared?.kind !== "orientation") throw new InternalError(`conservative: node "${node.id}" was prepared without its parents and children`);
    return new ConservativeAgent(node, prepared);
  },
  coordinator: startAtRoot,
};
