/**
 * The console's view of a running cluster: what its control plane offers (every node's status, the root's update
 * view, the merged trace), read through a ClusterClient. It never runs update code and sends nothing but status,
 * view, trace, abort and resume commands; it asks only while a page watches (the server polls on demand).
 */
import type { TraceEvent } from "../core/trace/trace-event.js";
import { ClusterClient } from "../deploy/cluster-client.js";
import { linkKey, type Cluster } from "../deploy/cluster-file.js";
import type { NodeStatus, UpdateView } from "../network/tcp/protocol.js";
import { renderSpaceTimeSvg } from "../viz/space-time.js";
import type { ConsoleLink, ConsoleNode, ConsoleSource, ConsoleState, ConsoleUpdate } from "./console-state.js";

/** Bytes of the end of each node's trace read for the diagram (a few thousand events). */
const TAIL_BYTES = 400_000;

interface Counts {
  readonly at: number;
  readonly sent: number;
  readonly received: number;
  readonly settled: number;
}

export interface ClusterSourceOptions {
  /** The diagram shows this many ms of the merged trace (default 3,000) and is drawn again at most this often (default 2,000). */
  readonly diagramMs?: number;
  readonly diagramEveryMs?: number;
  /** Each status within this bound (default 2,000 ms): a node silent longer shows as down. */
  readonly statusTimeoutMs?: number;
}

export class ClusterSource implements ConsoleSource {
  private session: ClusterClient | undefined;
  private readonly counts = new Map<string, Counts>();
  /** What each node last said of its version and epoch: a node down shows them. */
  private readonly known = new Map<string, { readonly version: string; readonly epoch: number }>();
  private lastRoot: string | undefined;
  private diagram = { at: -Infinity, svg: "" };

  constructor(
    private readonly cluster: Cluster,
    private readonly o: ClusterSourceOptions = {},
  ) {
  }

  /** The control sessions, opened again after idle() let them go. */
  private get client(): ClusterClient {
    this.session ??= new ClusterClient(this.cluster, { commandTimeoutMs: this.o.statusTimeoutMs ?? 2_000 });
    return this.session;
  }

  idle(): void {
    this.session?.close();
    this.session = undefined;
  }

  async state(): Promise<ConsoleState> {
    const { up, down } = await this.client.statusAll({ timeoutMs: this.o.statusTimeoutMs ?? 2_000 });
    const view = await this.view(up);
    const now = Date.now();
    const nodes = this.cluster.nodes.map((n) => {
      const s = up.find((x) => x.id === n.id);
      if (s !== undefined) return this.nodeOf(s, view, now, up);
      const why = down.find((d) => d.id === n.id)?.error ?? "no answer";
      const was = this.known.get(n.id);
      return { id: n.id, version: was?.version ?? "?", epoch: was?.epoch ?? 0, health: "down", why, sentPerSec: 0, receivedPerSec: 0, requestsPerSec: 0, openRequests: 0, outbox: 0, at: this.client.cluster.nodes.find((m) => m.id === n.id)?.address ?? n.address } satisfies ConsoleNode;
    });
    const update = view === null ? null : updateOf(view);
    return {
      source: "cluster",
      title: this.cluster.file,
      at: now,
      nodes,
      links: linksOf(this.cluster, up),
      update,
      messagesPerSec: nodes.reduce((s, n) => s + n.receivedPerSec, 0),
      requestsPerSec: nodes.reduce((s, n) => s + n.requestsPerSec, 0),
      diagram: await this.drawn(now, up),
      actions: { abort: update !== null && ["preparing", "running"].includes(update.phase), resume: update?.phase === "halted" },
    };
  }

  async abort(): Promise<string> {
    const v = await this.client.abortUpdate("the console's abort button");
    return `update #${v.id}: abort asked of its root "${v.root}" (${v.phase})`;
  }

  async resume(pkg: string): Promise<string> {
    const report = await this.client.resumeUpdate(pkg);
    return `update resumed and completed: ${Object.keys(report.nodes).length} node(s) new`;
  }

  async close(): Promise<void> {
    this.idle();
  }

  private nodeOf(s: NodeStatus, view: UpdateView | null, now: number, up: readonly NodeStatus[]): ConsoleNode {
    this.known.set(s.id, { version: s.version, epoch: s.epoch });
    const sent = s.neighbors.reduce((t, p) => t + (p.sent ?? 0), 0);
    const received = s.neighbors.reduce((t, p) => t + (p.received ?? 0), 0);
    const settled = s.requestsSettled ?? 0;
    const before = this.counts.get(s.id);
    this.counts.set(s.id, { at: now, sent, received, settled });
    // Counters start again when a link is made anew or a process restarts: a drop is no negative rate.
    const rate = (x: number, y: number | undefined): number => (before === undefined || y === undefined || x < y || now <= before.at ? 0 : ((x - y) * 1000) / (now - before.at));
    const suspected = up.some((o) => o.neighbors.some((p) => p.id === s.id && p.suspected === true));
    const halted = view?.halted.some((h) => h.node === s.id) === true && view.phase === "halted";
    const u = s.update;
    return {
      id: s.id,
      version: s.version,
      epoch: s.epoch,
      health: s.location?.moving !== undefined ? "moving" : suspected ? "suspected" : "up",
      ...(suspected ? { why: "a neighbour suspects it (silent past the heartbeat timeout)" } : {}),
      ...(halted ? { part: "halted" as const } : u !== null ? { part: u.new ? ("new" as const) : u.prepared ? ("prepared" as const) : ("preparing" as const) } : {}),
      sentPerSec: rate(sent, before?.sent),
      receivedPerSec: rate(received, before?.received),
      requestsPerSec: rate(settled, before?.settled),
      openRequests: s.openRequests,
      outbox: s.neighbors.reduce((t, p) => t + p.unacked, 0),
      at: this.client.cluster.nodes.find((n) => n.id === s.id)?.address ?? "?",
    };
  }

  /** The running update's view at its root, or the last one's (the root that ran it, or any node's latest). */
  private async view(up: readonly NodeStatus[]): Promise<UpdateView | null> {
    const root = up.find((s) => s.update?.root !== undefined)?.update?.root ?? this.lastRoot;
    const view = root !== undefined ? await this.client.updateView(root).catch(() => null) : await this.client.updateView().catch(() => null);
    if (view !== null) this.lastRoot = view.root;
    return view;
  }

  /**
   * The diagram of the merged trace's last diagramMs, drawn again at most every diagramEveryMs. A lane that neither
   * starts nor swaps in the window is labelled with the version its node's status said: the statuses are asked before
   * the trace, so a swap after a status is in the window (its own label shows the new version).
   */
  private async drawn(now: number, up: readonly NodeStatus[]): Promise<string> {
    if (now - this.diagram.at < (this.o.diagramEveryMs ?? 2_000)) return this.diagram.svg;
    this.diagram = { at: now, svg: this.diagram.svg };
    // Only the end of each node's trace: a long-running cluster's whole trace is far too much to pull every 2 s.
    const { events: trace, since } = await this.client.traceTail(TAIL_BYTES, up.map((s) => s.id)).catch(() => ({ events: [] as TraceEvent[], since: -Infinity }));
    const end = trace.reduce((m, e) => Math.max(m, e.t), -Infinity);
    const shown = trace.filter((e) => e.t >= Math.max(since, end - (this.o.diagramMs ?? 3_000))).slice(-4_000);
    this.diagram = { at: now, svg: shown.length === 0 ? "" : renderSpaceTimeSvg(shown, { maxWidth: 1400, maxEvents: 4_000, controlPlane: true, versionsAtEnd: Object.fromEntries(up.map((s) => [s.id, s.version])) }) };
    return this.diagram.svg;
  }
}

function updateOf(v: UpdateView): ConsoleUpdate {
  return { id: v.id, root: v.root, strategy: v.strategy, phase: v.phase, nodes: v.nodes, prepared: v.prepared, new: v.new, halted: v.halted, waiting: v.waiting };
}

/** The cluster's links, each as its ends see it: down when a side answers and says it is not connected or suspects the other. */
function linksOf(cluster: Cluster, up: readonly NodeStatus[]): ConsoleLink[] {
  const seen = new Map<string, ConsoleLink>();
  const add = (a: string, b: string, ok: boolean): void => {
    const k = linkKey(a, b);
    const was = seen.get(k);
    seen.set(k, { a: a < b ? a : b, b: a < b ? b : a, state: was?.state === "down" || !ok ? "down" : "up" });
  };
  for (const [a, b] of cluster.links) add(a, b, up.some((s) => s.id === a) && up.some((s) => s.id === b));
  for (const s of up) for (const p of s.neighbors) add(s.id, p.id, p.connected && p.suspected !== true);
  return [...seen.values()];
}
