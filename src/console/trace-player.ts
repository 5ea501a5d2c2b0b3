/**
 * A simulated run's trace played forward in virtual time: the console's state at time v is the fold of the events
 * up to v (nodes and their versions, links, the update's progress, the rates of the last second) and the diagram of
 * the last window. Events are folded once each, as v only grows.
 */
import type { TraceEvent } from "../core/trace/trace-event.js";
import { linkKey } from "../deploy/cluster-file.js";
import { renderSpaceTimeSvg } from "../viz/space-time.js";
import type { ConsoleLink, ConsoleNode, ConsoleState, ConsoleUpdate, NodeHealth } from "./console-state.js";

interface NodeView {
  version: string;
  epoch: number;
  health: NodeHealth;
  at: string;
  why?: string;
}

interface UpdateView {
  id: number;
  root: string;
  strategy: string;
  phase: string;
  nodes: readonly string[];
  prepared: Set<string>;
  new: Set<string>;
}

/** The rates' window and the diagram's, in virtual ms. */
const RATE_WINDOW_MS = 1_000;

export class TracePlayer {
  private next = 0;
  private readonly nodes = new Map<string, NodeView>();
  private readonly links = new Map<string, ConsoleLink>();
  private update: UpdateView | null = null;

  constructor(
    private readonly trace: readonly TraceEvent[],
    private readonly opts: { readonly title: string; readonly diagramMs: number },
  ) {}

  /** Virtual ms of the run's last event. */
  get totalMs(): number {
    return this.trace.at(-1)?.t ?? 0;
  }

  /** The state at virtual time `v` (not before the last asked: the fold goes forward only). */
  stateAt(v: number, playback: ConsoleState["playback"]): ConsoleState {
    while (this.next < this.trace.length && (this.trace[this.next] as TraceEvent).t <= v) this.fold(this.trace[this.next++] as TraceEvent);
    const recent = this.window(v - RATE_WINDOW_MS, v);
    const perSec = (n: number): number => (n * 1000) / RATE_WINDOW_MS;
    const nodes = [...this.nodes.entries()].sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true })).map(([id, n]): ConsoleNode => {
      const count = (kind: TraceEvent["kind"]): number => recent.filter((e) => e.kind === kind && "node" in e && e.node === id).length;
      return {
        id,
        version: n.version,
        epoch: n.epoch,
        health: n.health,
        ...(n.why !== undefined ? { why: n.why } : {}),
        ...this.partOf(id),
        sentPerSec: perSec(count("send")),
        receivedPerSec: perSec(count("deliver")),
        requestsPerSec: perSec(count("respond")),
        openRequests: 0,
        outbox: 0,
        at: n.at,
      };
    });
    const shown = this.window(v - this.opts.diagramMs, v);
    return {
      source: "simulation",
      title: this.opts.title,
      at: v,
      nodes,
      links: [...this.links.values()],
      update: this.updateState(),
      messagesPerSec: perSec(recent.filter((e) => e.kind === "deliver").length),
      requestsPerSec: perSec(recent.filter((e) => e.kind === "respond").length),
      diagram: shown.length === 0 ? "" : renderSpaceTimeSvg(shown, { maxWidth: 1400, maxEvents: 4_000, versionsAtEnd: Object.fromEntries([...this.nodes].map(([id, n]) => [id, n.version])) }),
      actions: { abort: false, resume: false },
      ...(playback !== undefined ? { playback } : {}),
    };
  }

  private partOf(id: string): Pick<ConsoleNode, "part"> {
    const u = this.update;
    if (u === null || !u.nodes.includes(id) || !["preparing", "running"].includes(u.phase)) return {};
    return { part: u.new.has(id) ? "new" : u.prepared.has(id) ? "prepared" : "preparing" };
  }

  private updateState(): ConsoleUpdate | null {
    const u = this.update;
    if (u === null) return null;
    const down = [...this.nodes.entries()].filter(([, n]) => n.health === "down").map(([id]) => id);
    return {
      id: u.id,
      root: u.root,
      strategy: u.strategy,
      phase: u.phase,
      nodes: u.nodes,
      prepared: [...u.prepared].sort(),
      new: [...u.new].sort(),
      halted: [],
      waiting: ["preparing", "running"].includes(u.phase) ? u.nodes.filter((n) => down.includes(n)) : [],
    };
  }

  /** The events with from < t <= to (binary search on t: the trace is in time order). */
  private window(from: number, to: number): readonly TraceEvent[] {
    const first = (t: number): number => {
      let lo = 0;
      let hi = this.trace.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((this.trace[mid] as TraceEvent).t <= t) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    return this.trace.slice(first(from), first(to));
  }

  private fold(e: TraceEvent): void {
    switch (e.kind) {
      case "create":
        return void this.nodes.set(e.node, { version: e.version, epoch: e.epoch, health: "up", at: "origin" });
      case "destroy":
        return void this.nodes.delete(e.node);
      case "swap":
        this.patch(e.node, { version: e.to, epoch: e.epoch });
        return void this.update?.new.add(e.node);
      case "crash":
        return this.patch(e.node, { health: "down", why: "crashed" });
      case "restart":
        return this.patch(e.node, { health: "up", version: e.version, epoch: e.epoch, why: undefined });
      case "move":
        return this.patch(e.node, { health: "moving", why: `moving to ${e.to}` });
      case "arrive":
        return this.patch(e.node, { health: "up", at: e.at, why: undefined });
      case "link":
      case "heal":
        return void this.links.set(linkKey(e.a, e.b), { a: e.a, b: e.b, state: "up" });
      case "unlink":
        return void this.links.delete(linkKey(e.a, e.b));
      case "partition":
        return void this.links.set(linkKey(e.a, e.b), { a: e.a, b: e.b, state: "down" });
      case "update-start":
        return void (this.update = { id: e.update, root: e.root, strategy: e.strategy, phase: "running", nodes: e.nodes, prepared: new Set(), new: new Set() });
      case "update-end":
        if (this.update?.id === e.update) this.update.phase = e.outcome;
        return;
      case "control-receive":
        if (e.signal === "prepare" && this.update?.id === e.update) this.update.prepared.add(e.node);
        return;
      default:
        return;
    }
  }

  private patch(id: string, p: Partial<Omit<NodeView, "why">> & { why?: string | undefined }): void {
    const n = this.nodes.get(id);
    if (n === undefined) return;
    const { why, ...rest } = p;
    Object.assign(n, rest);
    if ("why" in p) {
      if (why === undefined) delete n.why;
      else n.why = why;
    }
  }
}

