/**
 * A node's Prometheus metrics (prom-client), read from the daemon when scraped and never on the message path: a node
 * nobody scrapes pays for none of it (the one exception, an update part's figures object, is kept by reference
 * when the part begins). Metric names and labels are part of the public surface: README "Metrics" lists them.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { UpdateFigures } from "../core/control.js";
import type { NodeStatus } from "../network/tcp/protocol.js";
import type { UpdateView } from "../network/tcp/protocol.js";

/** What the metrics read of a node daemon at each scrape. */
export interface MetricsSource {
  status(): NodeStatus;
  /** The update this node coordinates as its root (its view), if any has run here. */
  coordinator(): UpdateView | null;
  /** Messages an update's strategy buffered at this node since the process started. */
  buffered(): number;
}

/** A node's part in an update, from the moment it began (figures are updated in place until the part ends). */
interface Part {
  readonly id: number;
  readonly figures: UpdateFigures;
  /** Its swap pause was observed into the histogram. */
  swapObserved: boolean;
}

/** The node's own phase in an update, as the gauge `liveswap_update_phase` names it. */
export const NODE_PHASES = ["idle", "preparing", "prepared", "new"] as const;
/** A root's update phases (the coordinator's view), as `liveswap_coordinator_phase` names them. */
export const COORDINATOR_PHASES = ["none", "preparing", "running", "halted", "resuming", "completed", "aborted", "failed"] as const;

/** The figures the counters sum. */
const COUNTED = ["heldMessages", "transformedMessages", "rolledBackEvents", "controlMessages"] as const;

/** Parts kept for their figures (the counters sum them): the oldest go first. */
const MAX_PARTS = 256;

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly parts = new Map<number, Part>();
  /** The counts of parts dropped from `parts` (beyond MAX_PARTS). */
  private readonly forgotten: Record<(typeof COUNTED)[number], number> = { heldMessages: 0, transformedMessages: 0, rolledBackEvents: 0, controlMessages: 0 };
  private readonly swaps: Histogram;

  constructor(
    private readonly source: MetricsSource,
    node: string,
  ) {
    const status = (): NodeStatus => source.status();
    this.registry.setDefaultLabels({ node });
    this.info(status);
    this.channels(status);
    this.update(status);
    this.store(status);
    this.swaps = this.figures();
  }

  /** A part began (NodeHost's partBegun): its figures object is kept, so counts made before any scrape are seen. */
  partBegun(id: number, figures: UpdateFigures): void {
    this.parts.delete(id);
    this.parts.set(id, { id, figures, swapObserved: false });
    while (this.parts.size > MAX_PARTS) {
      const oldest = this.parts.keys().next().value as number;
      // Its counts stay in the totals (a counter never goes down while the process lives).
      const f = (this.parts.get(oldest) as Part).figures;
      for (const k of COUNTED) this.forgotten[k] += f[k];
      this.parts.delete(oldest);
    }
  }

  /** The exposition text (Prometheus format 0.0.4). */
  async text(): Promise<string> {
    // A swap's pause is final once the part has one: observed once, at the first scrape after it.
    for (const p of this.parts.values()) {
      const ms = p.figures.swapPauseMs;
      if (!p.swapObserved && ms !== undefined) {
        this.swaps.observe(ms / 1000);
        p.swapObserved = true;
      }
    }
    return await this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private info(status: () => NodeStatus): void {
    const r = [this.registry];
    new Gauge({
      name: "liveswap_node_info",
      help: "1, labelled with the node's version",
      labelNames: ["version"],
      registers: r,
      collect() {
        this.reset();
        this.set({ version: status().version }, 1);
      },
    });
    new Gauge({ name: "liveswap_node_epoch", help: "The node's epoch (updates it took)", registers: r, collect() { this.set(status().epoch); } });
    new Gauge({ name: "liveswap_node_location_epoch", help: "The node's location epoch (moves it made)", registers: r, collect() { this.set(status().location?.epoch ?? 0); } });
    new Gauge({ name: "liveswap_open_requests", help: "Outside requests taken and not answered yet", registers: r, collect() { this.set(status().openRequests); } });
    readCounter(r, "liveswap_requests_settled_total", "Outside requests answered or failed since the process started (a recovery's replay counts what it answers again)", () => status().requestsSettled ?? 0);
  }

  private channels(status: () => NodeStatus): void {
    const r = [this.registry];
    const perPeer = (name: string, help: string, value: (p: NodeStatus["neighbors"][number]) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ["peer"],
        registers: r,
        collect() {
          this.reset();
          for (const p of status().neighbors) {
            const v = value(p);
            if (v !== undefined) this.set({ peer: p.id }, v);
          }
        },
      });
    };
    // Sequence numbers of the link's channel: they grow by one a message and start again when a link is made anew.
    perPeer("liveswap_channel_sent_messages", "Messages sent to the neighbour on this link (its channel's last sequence number)", (p) => p.sent);
    perPeer("liveswap_channel_received_messages", "Messages received from the neighbour on this link and delivered", (p) => p.received);
    perPeer("liveswap_channel_outbox_depth", "Messages to the neighbour not acknowledged yet (in memory and spilled)", (p) => p.unacked);
    perPeer("liveswap_channel_spilled_bytes", "Bytes of the outbox to the neighbour spilled to disk", (p) => p.spilledBytes);
    perPeer("liveswap_peer_connected", "1 while a connection to the neighbour is open", (p) => (p.connected ? 1 : 0));
    perPeer("liveswap_peer_suspected", "1 while the neighbour is silent past the heartbeat timeout", (p) => (p.suspected === true ? 1 : 0));
    perPeer("liveswap_peer_silent_seconds", "Seconds since anything was heard from the neighbour", (p) => (p.silentMs !== undefined ? p.silentMs / 1000 : undefined));
    perPeer("liveswap_peer_reconnects", "Reconnections to the neighbour since this process started", (p) => p.reconnects);
  }

  private update(status: () => NodeStatus): void {
    const r = [this.registry];
    const coordinator = (): UpdateView | null => this.source.coordinator();
    new Gauge({
      name: "liveswap_update_phase",
      help: `This node's phase in an update: 1 for the current one of ${NODE_PHASES.join(", ")}`,
      labelNames: ["phase"],
      registers: r,
      collect() {
        const u = status().update;
        const now = u === null ? "idle" : u.new ? "new" : u.prepared ? "prepared" : "preparing";
        for (const p of NODE_PHASES) this.set({ phase: p }, p === now ? 1 : 0);
      },
    });
    new Gauge({ name: "liveswap_update_id", help: "The update this node takes part in (0: none)", registers: r, collect() { this.set(status().update?.id ?? 0); } });
    new Gauge({
      name: "liveswap_coordinator_phase",
      help: `At a root: its update's phase, 1 for the current one of ${COORDINATOR_PHASES.join(", ")}`,
      labelNames: ["phase"],
      registers: r,
      collect() {
        const v = coordinator();
        const now = v === null ? "none" : v.phase;
        for (const p of COORDINATOR_PHASES) this.set({ phase: p }, p === now ? 1 : 0);
      },
    });
  }

  private store(status: () => NodeStatus): void {
    const r = [this.registry];
    new Gauge({ name: "liveswap_store_commits", help: "Group commits of the node's durable store", registers: r, collect() { const s = status().store; if (s !== undefined) this.set(s.commits); } });
    new Gauge({
      name: "liveswap_store_commit_seconds",
      help: "Commit latency of the durable store (one fsync) over its last few thousand commits, by quantile",
      labelNames: ["quantile"],
      registers: r,
      collect() {
        this.reset();
        const s = status().store;
        if (s === undefined) return;
        this.set({ quantile: "0.5" }, s.fsyncP50Ms / 1000);
        this.set({ quantile: "0.99" }, s.fsyncP99Ms / 1000);
      },
    });
  }

  /** Counters of the update machinery, summed over the parts this process saw begin. */
  private figures(): Histogram {
    const r = [this.registry];
    const parts = this.parts;
    const forgotten = this.forgotten;
    const sum = (k: (typeof COUNTED)[number]): number => [...parts.values()].reduce((s, p) => s + p.figures[k], forgotten[k]);
    const counter = (name: string, help: string, k: (typeof COUNTED)[number]): void => readCounter(r, name, help, () => sum(k));
    counter("liveswap_update_held_messages_total", "Messages a strategy held back during updates (conservative, snapshot)", "heldMessages");
    readCounter(r, "liveswap_update_buffered_messages_total", "Messages a strategy buffered at this node during updates (new ones early at an old node), since the process started", () => this.source.buffered());
    counter("liveswap_update_transformed_messages_total", "Old messages mapped to the new version during updates", "transformedMessages");
    counter("liveswap_update_rolled_back_events_total", "Events undone by rollbacks during updates", "rolledBackEvents");
    counter("liveswap_update_control_messages_total", "Control messages (markers, acks) of updates", "controlMessages");
    new Gauge({ name: "liveswap_update_parts", help: "Update parts this process saw begin (the counters above sum them)", registers: r, collect() { this.set(parts.size); } });
    return new Histogram({ name: "liveswap_swap_pause_seconds", help: "The step in which the node turned new, wall time", buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: r });
  }
}

/** A counter whose value is read when scraped (the node keeps the count; prom-client only shows it). */
function readCounter(registers: Registry[], name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
