import { sameBehaviorCode, type Behavior } from "./core/behavior.js";
import type { AppEnvelope, Envelope } from "./core/envelope.js";
import {
  DuplicateLinkError,
  DuplicateNodeError,
  DuplicateVersionError,
  InvalidNodeIdError,
  InvalidOptionError,
  InvalidUpdateError,
  NoRequestHandlerError,
  RequestFailedError,
  RequestStalledError,
  RequestTimeoutError,
  RetiredVersionError,
  SchedulerError,
  SelfLinkError,
  SettleStalledError,
  SettleTimeoutError,
  SynchronizerConfigurationError,
  SystemClosedError,
  UnknownLinkError,
  UnknownNodeError,
  UpdateHaltedInProgressError,
  UpdateInProgressError,
  UpdateStalledError,
  asError,
  InternalError,
  NodeDownError,
  NodeNotDownError,
  PartitionError,
  RequestExpiredError,
  ForgetRefusedError,
  TakeoverRefusedError,
  UpdateAbortedError,
  MoveInterruptedError,
  MoveRefusedError,
  NodeMovingError,
} from "./core/errors.js";
import { Rng } from "./core/rng.js";
import { channelKey, type ChannelsSnapshot } from "./runtime/channels.js";
import type { CoordinatorHost, CoordinatorHostEnvironment, CoordinatorOutcome } from "./runtime/coordinator-host.js";
import { Locations, type Location, type Transit } from "./runtime/locations.js";
import { RootCoordinators } from "./runtime/root-coordinators.js";
import { SimulatedDisk } from "./runtime/simulated-disk.js";
import { SimulatedJournal } from "./runtime/simulated-journal.js";
import type { NodeAgent, NodePort } from "./node/agent.js";
import { CONTROL, type MessageId, type NodeId, type RequestId } from "./core/ids.js";
import { Topology } from "./core/topology.js";
import type { Strategy, Update, UpdateOptions, UpdateReport } from "./core/update.js";
import { checkTrace, type CheckReport } from "./check/checker.js";
import type { TraceEvent } from "./core/trace/trace-event.js";
import { TraceLog } from "./core/trace/trace-log.js";
import { isSteerable, type Scheduler, type SteerableScheduler } from "./network/sim/scheduler.js";
import { ScriptedScheduler, type Chooser } from "./network/sim/scripted-scheduler.js";
import type { SimEvent } from "./network/sim/sim-event.js";
import { SimulatedNetwork, linkSlot } from "./network/sim/simulated-network.js";
import { TimeOrderedScheduler } from "./network/sim/time-ordered-scheduler.js";
import { AlphaSynchronizer } from "./node/alpha-synchronizer.js";
import { Fault } from "./node/swap-node.js";
import { checkUpdateObjects, forgetRefusal, planUpdate, type UpdatePlan } from "./runtime/control-plane.js";
import { NodeHost, type HostEnvironment, type OutputGate } from "./runtime/node-host.js";
import type { Ack } from "./runtime/host-record.js";
import type { StoredRecord } from "./runtime/node-store.js";
import type { UpdateCoordinator } from "./update/coordinator.js";

export interface SystemOptions {
  /** Default 1; same seed, same calls: the same run, event for event. */
  seed?: number;
  /** Virtual ms per message, default {min: 1, max: 10}. */
  delay?: { min: number; max: number };
  /** Run every node in pulses (alpha synchronizer). */
  synchronizer?: boolean;
  /**
   * Ours. Which event runs next: "time" (default) runs them in virtual-time
   * order; "scripted" lets a test choose (see pending() and step()), with
   * `choose` deciding whenever the system runs by itself (default: earliest).
   */
  scheduler?: "time" | "scripted" | Scheduler;
  choose?: Chooser;
  /** Ours. Record the trace (default true). A benchmark may turn it off; check() then has nothing to judge. */
  trace?: boolean;
  /**
   * Virtual ms after which an unanswered outside request rejects with RequestTimeoutError (default: never; a
   * request nothing can answer any more rejects at once with RequestStalledError, see README "How it runs").
   */
  requestTimeoutMs?: number;
  /** Ours, the older name of requestTimeoutMs (kept as an alias). */
  requestTimeout?: number;
  /**
   * Ours. The simulated disk's group-commit window, virtual ms (default 0): a node's step becomes durable, and what
   * it produced (messages, answers, acknowledgements, reports) leaves it, this long after the first step of its
   * batch; a crash before loses the batch. 0: every step commits as it ends. A number or a range drawn from the seed.
   */
  groupCommitMs?: number | { readonly min: number; readonly max: number };
  /**
   * Ours. Give every node its simulated disk (default true). false: nodes keep no durable record (no journal, no
   * numbered channels, no commits), the figure of the runtime without the store's cost; crash() is then refused.
   */
  store?: boolean;
}

/** settle()'s bound of virtual time when none is given: 1 hour, far beyond any settling run, near for a runaway. */
export const DEFAULT_SETTLE_WITHIN_MS = 3_600_000;
/** Events run at one virtual instant before settle() gives up: time that stops (a 0 ms timer re-arming) never reaches a bound. */
const SETTLE_SAME_INSTANT_EVENTS = 1_000_000;

interface OpenRequest {
  readonly node: NodeId;
  readonly body: unknown;
  /** When the caller made it: a retry (after a crash) keeps it, so the node's retention window applies. */
  readonly issued: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

interface Sleeper extends Waiter {
  readonly until: number;
}

interface Settler extends Waiter {
  /** Virtual time past which this settle() gives up. */
  readonly until: number;
  readonly withinMs: number;
}

/**
 * What ran while a settle() waited, so that its timeout names what kept the system busy: timers by node and tag,
 * deliveries by channel. Counted only while somebody settles.
 */
class SettleActivity {
  readonly timers = new Map<string, { readonly node: NodeId; readonly tag: string; fired: number }>();
  /** Deliveries by channel: off the links (the control plane) by name; on a link by its slot, named in slotNames. */
  readonly channels = new Map<string, number>();
  private readonly onLink: number[] = [];
  private readonly slotNames = new Map<number, string>();
  lastTime: number;
  sameInstant = 0;

  constructor(readonly since: number) {
    this.lastTime = since;
  }

  note(ev: SimEvent): void {
    if (ev.time !== this.lastTime) {
      this.lastTime = ev.time;
      this.sameInstant = 0;
    } else this.sameInstant++;
    if (ev.kind === "timer") {
      const key = `${ev.node}\u0000${ev.tag}`;
      const t = this.timers.get(key);
      if (t === undefined) this.timers.set(key, { node: ev.node, tag: ev.tag, fired: 1 });
      else t.fired++;
    } else if (ev.kind === "deliver") {
      const env = ev.env;
      // A link's channel by its slot (the simulated network's numbering): an array index, no key built per delivery.
      const slot = linkSlot(env);
      if (slot !== undefined) {
        const n = this.onLink[slot];
        if (n === undefined) {
          this.onLink[slot] = 1;
          this.slotNames.set(slot, env.to === CONTROL ? `${env.from}->control plane` : `${env.from}->${env.to}`);
        } else this.onLink[slot] = n + 1;
      } else {
        const key = env.to === CONTROL ? `${env.from}->control plane` : `${env.from}->${env.to}`;
        this.channels.set(key, (this.channels.get(key) ?? 0) + 1);
      }
    }
  }

  /** The busiest timers and channels, most first (ties by name, so the text is deterministic). */
  describe(): string[] {
    const timers = [...this.timers.values()].sort((a, b) => b.fired - a.fired || (a.node + a.tag < b.node + b.tag ? -1 : 1));
    const out = timers.slice(0, 5).map((t) => `timer "${t.tag}" at node "${t.node}" fired ${t.fired} time(s) and keeps re-arming`);
    if (timers.length > 5) out.push(`${timers.length - 5} more timer(s)`);
    const byName = new Map(this.channels);
    for (const [slot, name] of this.slotNames) byName.set(name, (byName.get(name) ?? 0) + (this.onLink[slot] ?? 0));
    const channels = [...byName.entries()];
    channels.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const total = channels.reduce((n, [, k]) => n + k, 0);
    if (total > 0) out.push(`${total} message(s) delivered (${channels.slice(0, 3).map(([c, k]) => `${c}: ${k}`).join(", ")})`);
    return out;
  }
}

interface ActiveUpdate {
  readonly id: number;
  /**
   * Where its coordinator lives (DESIGN.md, "Faults and durability"): a crash of the root stops it until the restart;
   * a takeover moves it to the new root.
   */
  root: NodeId;
  /**
   * Its coordinator's host, the latest incarnation (while the root is down, a stopped one: what its journal holds);
   * undefined until it starts (the root was down at update(): it starts at the root's restart, see `deferred`).
   */
  host: CoordinatorHost | undefined;
  /** The plan of an update called while its root was down: the root's process takes it when it is back. */
  deferred: { readonly plan: UpdatePlan; readonly deadlineMs: number | undefined } | undefined;
  /** The updates as given: a resume must bring the same behaviors. */
  readonly updates: readonly Update[];
  /** The caller waiting on update() or resume(); none while the update is halted. */
  waiter: { readonly resolve: (r: UpdateReport) => void; readonly reject: (e: Error) => void } | undefined;
}

/** What the explorer reads of a system to fingerprint its state (see System.inspect). */
export interface SystemInspection {
  readonly hosts: readonly NodeHost[];
  readonly openRequests: readonly RequestId[];
  readonly coordinator: UpdateCoordinator | undefined;
  /** The running update's id (its coordinator may not have started: its root is down). */
  readonly update: number | undefined;
  /** The running update's root is down: what reaches its coordinator is lost on the wire (resent at the restart). */
  readonly coordinatorDown: boolean;
  /** The running update's root (where its coordinator runs), if an update runs. */
  readonly root: NodeId | undefined;
  readonly epoch: number;
  /** Crashed nodes, sorted. */
  readonly down: readonly NodeId[];
  /** Partitioned links, "a|b" with a < b, sorted. */
  readonly partitions: readonly string[];
  /** The coordinators' ends of their channels to the nodes (each on its link), and the running one's report positions. */
  readonly plane: ChannelsSnapshot;
  /** Nodes whose group commit is scheduled (a deadline "commit of X" of a crashed incarnation does nothing), sorted. */
  readonly commitDue: readonly NodeId[];
  /** Messages lost on the wire that a removed link would drop, by link, sorted. */
  readonly lostOnWire: readonly (readonly [string, readonly MessageId[]])[];
  /** Whether a pending delivery (its event number and envelope) will be dropped on the wire: it outlived its link's reconnection. */
  readonly staleOnWire: (seq: number, env: Envelope) => boolean;
}

/** A pending event as a scripted test sees it. */
export interface PendingEvent {
  readonly seq: number;
  readonly kind: SimEvent["kind"];
  readonly time: number;
  /** Where it happens. */
  readonly node: NodeId;
  /** deliver: the sender. */
  readonly from?: NodeId;
  /** deliver of an application message: its id. */
  readonly msg?: MessageId;
  /** deliver of a control message: its signal. */
  readonly signal?: string;
  readonly body?: unknown;
}

/**
 * The system facade on the embedded, deterministic simulated network: the
 * configuration manager (Conic's create, link, unlink, destroy), outside
 * requests, update coordination, the trace and its checker.
 *
 * Virtual time runs only while somebody waits on the system (a request, an
 * update, settle or sleep). Whenever a promise the caller holds is settled the
 * loop yields, so the caller's continuation acts at that very virtual instant:
 * a program that awaits only the system is deterministic.
 */
export class System {
  readonly network: SimulatedNetwork;
  private readonly topology = new Topology();
  private readonly runtimes = new Map<NodeId, NodeHost>();
  /** The trace, kept in columns (TraceLog): trace() builds its event objects when asked. */
  private readonly log = new TraceLog();
  private readonly tracing: boolean;
  private readonly synchronizer: boolean;
  /** options.store: every node has a simulated disk (and journals, numbers its channels, commits). */
  private readonly durable: boolean;
  private readonly requestTimeout: number | undefined;
  private readonly host: HostEnvironment;
  private readonly messageCounters = new Map<NodeId, number>();
  private readonly openRequests = new Map<RequestId, OpenRequest>();
  private readonly sleepers: Sleeper[] = [];
  private readonly settlers: Settler[] = [];
  /** What ran since the earliest waiting settle() began (undefined while nobody settles). */
  private settleActivity: SettleActivity | undefined;
  /** The one behavior object of each version in this system (created or updated to): a version names one program. */
  private readonly behaviors = new Map<string, Behavior>();
  /** Versions that a completed update replaced, with that update's id: creating a node with one is refused. */
  private readonly retired = new Map<string, number>();
  private active: ActiveUpdate | undefined;
  private epoch = 0;
  private updates = 0;
  private requests = 0;
  private incarnations = 0;
  private pumpScheduled = false;
  private settledSomething = false;
  private closed = false;
  private eventsRun = 0;
  /**
   * epochOf's answers, valid while its stamp holds: a node's version or epoch changes only in an event, an update,
   * or when a node leaves or comes back (hostsChanged counts those). A create adds a node of the very epoch it was
   * given, so a run of creates scans the nodes once, not once per node (that scan made building n nodes O(n^2)).
   */
  private epochMemo: { readonly stamp: string; readonly epochs: Map<string, number> } = { stamp: "", epochs: new Map() };
  private hostsChanged = 0;
  /** Every node's simulated disk: it survives crash(). */
  private readonly disks = new Map<NodeId, SimulatedDisk>();
  /** Crashed nodes (not in `runtimes`), with what their last commit left of them. */
  private readonly down = new Map<NodeId, { readonly version: string; readonly epoch: number }>();
  /** Partitioned links, "a|b" with a < b. */
  private readonly partitions = new Set<string>();
  /**
   * The update coordinators, each in its root's process (its journal on the root's disk beside its node record):
   * they stop with their root and recover at its restart. Their channels to the nodes are numbered like a node's and
   * resent after either end restarts.
   */
  private readonly coordinators: RootCoordinators;
  /** Every node's coordinator journal (the simulated disk's second file): it survives crash(). */
  private readonly journals = new Map<NodeId, SimulatedJournal>();
  /**
   * Per node, how far the control plane took its reports (link 0, one channel to whichever coordinator runs): a
   * coordinator's, journaled, or acknowledged with no update running (every coordinator left is over). A node
   * resends from here after a restart of either end; what is before it was taken, what is after was lost.
   */
  private readonly reportsTaken = new Map<NodeId, number>();
  /** Per node, the coordinator links made before it was created: their envelopes were for an earlier node of its id. */
  private readonly linksBefore = new Map<NodeId, number>();
  private readonly groupCommit: { readonly min: number; readonly max: number };
  private readonly commitRng: Rng;
  /** Nodes with a group commit scheduled. */
  private readonly commitDue = new Set<NodeHost>();
  /** An update given up in prepare, whose abort is still on its way to nodes that prepared (see finishUpdate). */
  private aborting: { readonly a: ActiveUpdate; readonly outcome: { readonly error: Error } } | undefined;
  /**
   * Application messages lost on the wire (to a crashed node, or over a partitioned link), by link "a|b": their
   * senders' outboxes send them again when the link is back; if the link is removed first nothing ever will, and
   * they are dropped then (traced as "unlinked", as a node drops what arrives on a removed link).
   */
  private readonly lostOnWire = new Map<string, AppEnvelope[]>();
  /**
   * Per crashed node, per neighbour: the frames it had applied at its crash beyond what it had applied durably (its
   * crash undid those steps; the sender resends them at its restart, and a forget drops them).
   */
  /**
   * Per node, the halves of its links to nodes lost for good during an update that its durable log still needs (see
   * loseNode): restored before its replay after a crash, dropped again by the replayed "gone".
   */
  private readonly keptHalves = new Map<NodeId, Map<NodeId, { readonly incarnation: number; dropped: boolean }>>();
  private readonly undoneAtCrash = new Map<NodeId, Map<NodeId, { readonly link: number; readonly durable: number; readonly applied: number }>>();
  /**
   * Per link incarnation and direction ("link:from>to"), the network's event number when the link last reconnected:
   * a copy scheduled before it was on the wire then, and the reconnection sent again everything the receiver had not
   * applied, so that copy is dropped on the wire (one live copy per frame: a copy that outlived its link's
   * reconnection would be a duplicate, which the receiver cannot tell as such once the link is gone).
   */
  private readonly reconnectedAt = new Map<string, number>();
  /** Where each node runs, and the moves under way (a moving node is in `down` too: it runs nowhere meanwhile). */
  private readonly locations = new Locations();

  constructor(options: SystemOptions = {}) {
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed)) throw new InvalidOptionError("seed", `expected an integer, got ${String(seed)}`);
    this.requestTimeout = requestTimeoutOf(options);
    const scheduler =
      options.scheduler === undefined || options.scheduler === "time"
        ? new TimeOrderedScheduler()
        : options.scheduler === "scripted"
          ? new ScriptedScheduler(options.choose)
          : options.scheduler;
    this.network = new SimulatedNetwork(seed, options.delay ?? { min: 1, max: 10 }, scheduler);
    this.tracing = options.trace ?? true;
    this.synchronizer = options.synchronizer ?? false;
    this.groupCommit = groupCommitOf(options);
    this.durable = storeOf(options, this.groupCommit.max);
    this.commitRng = new Rng(seed ^ 0x5eed);
    this.host = this.makeHost();
    this.coordinators = new RootCoordinators({
      hostEnv: (root, update) => this.coordinatorEnv(root, update),
      journal: (root) => this.journals.get(root) ?? new SimulatedJournal(),
    });
  }

  // ---- configuration (refused while an update runs) ----

  create(id: NodeId, behavior: Behavior): void {
    this.assertOpen("create");
    this.assertConfigurable("create");
    if (typeof id !== "string" || id.length === 0 || id.startsWith("@")) throw new InvalidNodeIdError(id);
    if (this.topology.hasNode(id)) throw new DuplicateNodeError(id);
    this.checkCreatable(id, behavior);
    const epoch = this.epochOf(behavior.version);
    this.topology.addNode(id);
    const rt = new NodeHost(id, behavior, epoch, ++this.incarnations, this.host, this.baseAgent(), this.messageCounters.get(id) ?? 0, this.gate());
    rt.durability = this.durable;
    this.runtimes.set(id, rt);
    this.disks.set(id, this.durable ? new SimulatedDisk() : NO_DISK);
    this.journals.set(id, new SimulatedJournal());
    this.linksBefore.set(id, this.coordinators.links);
    this.reportsTaken.delete(id);
    if (this.tracing) this.record({ kind: "create", t: this.now(), node: id, version: behavior.version, epoch });
    const out = rt.initialize();
    if (out instanceof Fault) {
      this.topology.removeNode(id);
      this.runtimes.delete(id);
      this.hostsChanged++;
      this.disks.delete(id);
      this.journals.delete(id);
      if (this.tracing) {
        this.record({ kind: "fault", t: this.now(), node: id, during: "init", error: out.error });
        this.record({ kind: "destroy", t: this.now(), node: id });
      }
      throw new InvalidOptionError("create", `init of node "${id}" (${behavior.version}) threw: ${out.error}; the node was not created`);
    }
    this.behaviors.set(behavior.version, behavior);
    this.syncDisk(id);
  }

  /**
   * A configuration command changes what a node's handlers see (its neighbours): the node commits and snapshots now,
   * so that a replay after a crash never re-runs a step under a topology it did not run under.
   */
  private syncDisk(id: NodeId): void {
    const rt = this.runtimes.get(id);
    if (rt === undefined) return;
    this.commitDue.delete(rt);
    const acks = rt.commit(this.disks.get(id) as SimulatedDisk, true);
    this.settleHalves(id);
    this.routeAcks(rt, acks);
  }

  private baseAgent(): ((port: NodePort) => NodeAgent) | undefined {
    return this.synchronizer ? (port) => new AlphaSynchronizer(port) : undefined;
  }

  private gate(): OutputGate {
    return this.groupCommit.max > 0 ? "batch" : "open";
  }

  /** A behavior, one object per version in this system, and not a version an update retired. */
  private checkCreatable(id: NodeId, behavior: Behavior): void {
    if (
      behavior === null ||
      typeof behavior !== "object" ||
      typeof behavior.version !== "string" ||
      behavior.version === "" ||
      typeof behavior.init !== "function" ||
      typeof behavior.receive !== "function"
    ) {
      throw new InvalidOptionError("create behavior", `node "${id}" needs a behavior with version, init and receive (see defineBehavior)`);
    }
    const by = this.retired.get(behavior.version);
    if (by !== undefined) throw new RetiredVersionError(id, behavior.version, by, this.currentVersions());
    const known = this.behaviors.get(behavior.version);
    if (known !== undefined && !sameBehaviorCode(known, behavior)) throw new DuplicateVersionError(behavior.version, `create "${id}"`);
  }

  /**
   * A new node's epoch counts the updates its code has taken: that of the nodes running its version now (the
   * highest, should they differ), else the system's (a version new to the system starts where the system is).
   */
  private epochOf(version: string): number {
    const stamp = `${this.eventsRun}/${this.updates}/${this.epoch}/${this.hostsChanged}`;
    if (this.epochMemo.stamp !== stamp) this.epochMemo = { stamp, epochs: new Map() };
    const known = this.epochMemo.epochs.get(version);
    if (known !== undefined) return known;
    let epoch: number | undefined;
    for (const rt of this.runtimes.values()) if (rt.version === version && (epoch === undefined || rt.epoch > epoch)) epoch = rt.epoch;
    const out = epoch ?? this.epoch;
    this.epochMemo.epochs.set(version, out);
    return out;
  }

  /** The versions nodes run now, sorted. */
  private currentVersions(): string[] {
    return [...new Set([...this.runtimes.values()].map((rt) => rt.version))].sort();
  }

  link(a: NodeId, b: NodeId): void {
    this.assertOpen("link");
    this.assertConfigurable("link");
    if (a === b) throw new SelfLinkError(a);
    if (!this.topology.hasNode(a)) throw new UnknownNodeError(a, "link");
    if (!this.topology.hasNode(b)) throw new UnknownNodeError(b, "link");
    if (this.topology.linked(a, b)) throw new DuplicateLinkError(a, b);
    this.assertUp(a, "link");
    this.assertUp(b, "link");
    this.topology.addLink(a, b);
    if (this.tracing) this.record({ kind: "link", t: this.now(), a, b });
    this.syncDisk(a);
    this.syncDisk(b);
  }

  /** In-flight messages on the removed channels are dropped (traced as "unlinked"). */
  unlink(a: NodeId, b: NodeId): void {
    this.assertOpen("unlink");
    this.assertConfigurable("unlink");
    if (!this.topology.hasNode(a)) throw new UnknownNodeError(a, "unlink");
    if (!this.topology.hasNode(b)) throw new UnknownNodeError(b, "unlink");
    if (!this.topology.linked(a, b)) throw new UnknownLinkError(a, b);
    // A crashed node's links stay as they are until it is back: its replay must see the topology it ran under.
    this.assertUp(a, "unlink");
    this.assertUp(b, "unlink");
    this.removeLink(a, b);
  }

  private removeLink(a: NodeId, b: NodeId): void {
    this.topology.removeLink(a, b);
    this.partitions.delete(pairKey(a, b));
    this.dropUnlinked(this.lostOnWire.get(pairKey(a, b)) ?? []);
    this.lostOnWire.delete(pairKey(a, b));
    if (this.tracing) this.record({ kind: "unlink", t: this.now(), a, b });
    this.syncDisk(a);
    this.syncDisk(b);
  }

  /** Removes the node and its links; its timers die with it, messages in flight to it are dropped, its open requests reject. */
  destroy(id: NodeId): void {
    this.assertOpen("destroy");
    this.assertConfigurable("destroy");
    if (!this.topology.hasNode(id)) throw new UnknownNodeError(id, "destroy");
    const moving = this.locations.transit(id);
    if (moving !== undefined) throw new NodeMovingError(id, moving.to, "destroy");
    const neighbors = [...this.topology.neighbors(id)];
    // The node itself may be down (it never comes back); its neighbours' links stay as they are while they are.
    for (const n of neighbors) this.assertUp(n, "destroy");
    this.removeNode(id, neighbors);
    if (this.tracing) this.record({ kind: "destroy", t: this.now(), node: id });
  }

  /**
   * Ours: a crashed node is lost for good (its disk is gone): it is destroyed, also while an update runs (DESIGN.md,
   * "Faults and durability"). The update stops waiting for it: in prepare it is aborted (nothing changed); past prepare
   * every live node is told, drops its link to it, and its strategy goes on without it. What was in flight to or from
   * it is dropped (traced). Refused for a running node (destroy it), for the running update's root (takeover), and
   * when the update could no longer reach some of its nodes from the root.
   */
  forget(id: NodeId): void {
    this.assertOpen("forget");
    if (!this.topology.hasNode(id)) throw new UnknownNodeError(id, "forget");
    const moving = this.locations.transit(id);
    if (moving !== undefined) throw new ForgetRefusedError(id, `it is moving to "${moving.to}" (it arrives by itself; a crash of it interrupts the move and leaves it down where it was)`);
    if (this.runtimes.has(id)) throw new ForgetRefusedError(id, `it is running; a node is forgotten once it is lost for good (crashed, its store gone); destroy("${id}") removes a running one`);
    const neighbors = [...this.topology.neighbors(id)];
    for (const n of neighbors) this.assertUp(n, "forget");
    const a = this.active;
    const run = a?.host?.run;
    if (a !== undefined && this.down.has(a.root) && a.root !== id) throw new NodeDownError(a.root, "forget (the root of the running update runs its coordinator)");
    if (a !== undefined && run !== undefined && run.running) {
      const why = forgetRefusal({ topology: this.topology, run: run.info, live: run.live() }, id);
      if (why !== undefined) throw new ForgetRefusedError(id, why);
    } else if (a !== undefined && a.root === id) {
      throw new ForgetRefusedError(id, `it is the root of update #${a.id}, which has not started; take the update over at another node (takeover)`);
    }
    this.dropUnapplied(id, neighbors);
    const inUpdate = a?.host !== undefined && run?.running === true;
    // In an update each neighbour drops its half of the link when it is told ("gone"), in a step of its own.
    if (inUpdate) this.loseNode(id);
    else this.removeNode(id, neighbors);
    if (this.tracing) this.record({ kind: "forget", t: this.now(), node: id, ...(a !== undefined ? { update: a.id } : {}) });
    if (inUpdate) {
      a?.host?.forget(id);
      this.kick();
    }
    // The last node down may be gone now: an update given up in prepare that waited for it ends.
    this.endAbortIfTaken();
  }

  /**
   * What a node lost for good applied in steps its crash undid is dropped with it (traced): those messages left the
   * wire when it took them, so neither removeLink (lost on the wire) nor the routing (in flight) will say so.
   */
  private dropUnapplied(id: NodeId, neighbors: readonly NodeId[]): void {
    const undone = this.undoneAtCrash.get(id);
    this.undoneAtCrash.delete(id);
    if (!this.tracing || undone === undefined) return;
    for (const n of neighbors) {
      const rt = this.runtimes.get(n);
      const range = undone.get(n);
      if (rt === undefined || range === undefined) continue;
      for (const env of rt.resendTo(id, range.link, range.durable)) {
        if (env.kind === "app" && env.seq !== undefined && env.seq <= range.applied) this.record({ kind: "drop", t: this.now(), node: id, from: n, msg: env.id, reason: "destroyed" });
      }
    }
  }

  /**
   * Ours: the running update's root crashed and is lost for good (its disk, with the coordinator's journal, is gone):
   * a new coordinator at `root`, a live node of the update, takes it over (DESIGN.md, "Faults and durability"). The
   * lost root is forgotten (as forget() does), every live node is asked for its part, and the update goes on from
   * what they say: aborted if some node never prepared (the protocol had not begun, nothing changed), started again
   * at `root` if it had reached no live node, else carried on. update()'s promise settles as it would have.
   */
  takeover(root: NodeId): void {
    this.assertOpen("takeover");
    const a = this.active;
    if (a === undefined) throw new TakeoverRefusedError(root, "no update is running; a takeover finishes an update whose root was lost for good");
    const lost = a.root;
    if (!this.down.has(lost)) throw new TakeoverRefusedError(root, `the root "${lost}" of update #${a.id} is running; it coordinates the update itself`);
    if (this.isMoving(lost)) throw new TakeoverRefusedError(root, `the root "${lost}" of update #${a.id} is moving; it coordinates the update again once it arrives`);
    if (!this.topology.hasNode(root)) throw new UnknownNodeError(root, "takeover");
    this.assertUp(root, "takeover");
    const neighbors = [...this.topology.neighbors(lost)];
    for (const n of neighbors) this.assertUp(n, "takeover");
    const old = a.host;
    if (old === undefined) return this.dropDeferred(a, lost, neighbors);
    const run = { ...old.run.info, root };
    if (!old.run.live().includes(root) || root === lost) throw new TakeoverRefusedError(root, `"${root}" is not a live node of update #${a.id} (its nodes: ${old.run.live().join(", ")})`);
    const why = forgetRefusal({ topology: this.topology, run, live: old.run.live() }, lost);
    if (why !== undefined) throw new TakeoverRefusedError(root, why);
    this.dropUnapplied(lost, neighbors);
    this.loseNode(lost);
    if (this.tracing) this.record({ kind: "forget", t: this.now(), node: lost, update: a.id });
    a.root = root;
    // Nodes an earlier takeover of this update forgot stay forgotten: the new coordinator awaits none of them.
    a.host = this.coordinators.takeOver(run, lost, [...old.run.forgotten].sort());
    this.kick();
  }

  /** A takeover of an update called while its root was down: it never began anywhere, so it ends, nothing changed. */
  private dropDeferred(a: ActiveUpdate, lost: NodeId, neighbors: readonly NodeId[]): void {
    this.dropUnapplied(lost, neighbors);
    this.removeNode(lost, neighbors);
    // No update id: it never began anywhere (no node was prepared), so there is nothing of it in the trace.
    if (this.tracing) this.record({ kind: "forget", t: this.now(), node: lost });
    a.deferred = undefined;
    this.finishUpdate(a, { error: new UpdateAbortedError(a.id, `its root "${lost}" was lost for good before the update began`) });
  }

  /**
   * A node lost for good during an update: it leaves, but each neighbour keeps its half of their link until it is told
   * ("gone", see dropHalf), in a step of its own, as a node over TCP does: a neighbour that crashes meanwhile replays
   * its earlier steps with the link they ran with (an armed node cannot be snapshotted when the link goes, as a
   * configuration command does). What was lost on the wire between them is dropped now.
   */
  private loseNode(id: NodeId): void {
    for (const n of this.topology.neighbors(id)) {
      const key = pairKey(id, n);
      this.partitions.delete(key);
      this.dropUnlinked(this.lostOnWire.get(key) ?? []);
      this.lostOnWire.delete(key);
      if (this.tracing) this.record({ kind: "unlink", t: this.now(), a: id, b: n });
    }
    for (const [n, incarnation] of this.topology.removeNodeKeepingHalves(id)) {
      const halves = this.keptHalves.get(n) ?? new Map<NodeId, { readonly incarnation: number; dropped: boolean }>();
      halves.set(id, { incarnation, dropped: false });
      this.keptHalves.set(n, halves);
    }
    this.forgetNodeState(id);
  }

  /** `node` is told its neighbour `gone` was lost for good: its half of their link goes, in this step. */
  private dropHalf(node: NodeId, gone: NodeId): void {
    this.topology.dropHalf(node, gone);
    // What the lost node had sent and the wire lost meanwhile (this node was down): nobody will send it again.
    const key = pairKey(node, gone);
    this.dropUnlinked(this.lostOnWire.get(key) ?? []);
    this.lostOnWire.delete(key);
    const half = this.keptHalves.get(node)?.get(gone);
    if (half !== undefined) half.dropped = true;
  }

  /**
   * After a commit of `id`: once its durable record holds no step from before a half it dropped (a snapshot emptied
   * its log), those halves are of no use to a replay any more.
   */
  private settleHalves(id: NodeId): void {
    const halves = this.keptHalves.get(id);
    if (halves === undefined || (this.disks.get(id)?.logLength ?? 0) > 0) return;
    for (const [n, h] of halves) if (h.dropped) halves.delete(n);
    if (halves.size === 0) this.keptHalves.delete(id);
  }

  /** A restarted node replays its log with the halves of links to lost nodes its steps ran with (dropHalf again). */
  private restoreHalves(id: NodeId): void {
    for (const [n, h] of this.keptHalves.get(id) ?? []) {
      this.topology.restoreHalf(id, n, h.incarnation);
      h.dropped = false;
    }
  }

  /** Remove a node, its links (in-flight messages on them dropped) and everything the simulator keeps of it. */
  private removeNode(id: NodeId, neighbors: readonly NodeId[]): void {
    for (const n of neighbors) this.removeLink(id, n);
    this.topology.removeNode(id);
    this.forgetNodeState(id);
  }

  /** Everything the simulator keeps of a node that left. */
  private forgetNodeState(id: NodeId): void {
    const rt = this.runtimes.get(id);
    if (rt !== undefined) this.messageCounters.set(id, rt.messagesSent);
    this.keptHalves.delete(id);
    this.runtimes.delete(id);
    this.hostsChanged++;
    this.down.delete(id);
    this.locations.remove(id);
    this.disks.delete(id);
    this.journals.delete(id);
    this.coordinators.destroyed(id);
    this.reportsTaken.delete(id);
    for (const [rid, r] of [...this.openRequests]) {
      if (r.node === id) this.failRequest(rid, new RequestFailedError(id, rid, "the node was destroyed"));
    }
  }

  // ---- outside requests ----

  request<R = unknown>(id: NodeId, req: unknown): Promise<R> {
    if (this.closed) return Promise.reject(new SystemClosedError("request"));
    const rt = this.runtimes.get(id);
    if (rt === undefined && !this.down.has(id)) return Promise.reject(new UnknownNodeError(id, "request"));
    if (rt !== undefined && rt.node.behavior.request === undefined) return Promise.reject(new NoRequestHandlerError(id, rt.version));
    const rid = `r${++this.requests}`;
    const promise = new Promise<R>((resolve, reject) => {
      this.openRequests.set(rid, { node: id, body: req, issued: this.now(), resolve: resolve as (v: unknown) => void, reject });
    });
    // A crashed node gets it when it restarts (the open requests are sent to it again then).
    if (rt !== undefined) this.network.injectRequest(id, rid, req);
    const timeout = this.requestTimeout;
    if (timeout !== undefined) {
      this.network.deadline(timeout, `timeout of ${rid}`, () => {
        if (this.openRequests.has(rid)) this.failRequest(rid, new RequestTimeoutError(id, rid, timeout));
      });
    }
    this.kick();
    return promise;
  }

  // ---- updates ----

  async update(u: Update | readonly Update[], opts: UpdateOptions): Promise<UpdateReport> {
    this.assertOpen("update");
    this.assertNoUpdate("update");
    const list = checkUpdateObjects(Array.isArray(u) ? u : [u]);
    this.checkSameBehaviors(list);
    const target = { topology: this.topology, synchronizer: this.synchronizer, versionOf: (n: NodeId) => this.runtimes.get(n)?.version ?? (this.down.get(n) as { version: string }).version };
    const descriptors = list.map((one) => ({ from: one.from.version, to: one.to.version }));
    const plan = planUpdate(target, descriptors, opts, this.updates + 1, this.now());
    const deadlineMs = prepareDeadlineOf(opts);
    this.updates += 1;
    for (const one of list) this.behaviors.set(one.to.version, one.to);
    const root = plan.run.root;
    const done = new Promise<UpdateReport>((resolve, reject) => {
      this.active = { id: plan.run.id, root, host: undefined, deferred: undefined, updates: list, waiter: { resolve, reject } };
    });
    const active = this.active as ActiveUpdate;
    // The update is submitted to its root, whose process runs the coordinator: a root that is down takes it when back.
    if (this.down.has(root)) active.deferred = { plan, deadlineMs };
    else active.host = this.coordinators.start(plan, { kind: "inline", updates: list }, deadlineMs);
    this.kick();
    return done;
  }

  /** The environment of update `update`'s coordinator in `root`'s process (the simulated network, the root's clock). */
  private coordinatorEnv(root: NodeId, update: number): CoordinatorHostEnvironment {
    const net = this.network;
    return {
      now: () => net.now(),
      tracing: this.tracing,
      record: (ev) => this.log.push(ev),
      send: (env) => net.transmit(env),
      // The node may forget its reports once the coordinator journaled them.
      ack: (node, seq) => this.runtimes.get(node)?.channels.ack(CONTROL, 0, seq),
      finished: (outcome) => {
        const a = this.active;
        if (a !== undefined && a.id === update && a.root === root) this.finishUpdate(a, outcome);
      },
      setTimer: (ms, fire) => {
        let armed = true;
        net.deadline(ms, `prepare deadline of update #${update}`, () => {
          if (armed) fire();
        });
        return () => {
          armed = false;
        };
      },
    };
  }

  /**
   * Finish a halted update (a transfer threw at swap time): `u` brings the same `from` and `to` behaviors (the same
   * objects) with a corrected transfer, mapping or timer mapping. Each halted node dry-runs the corrected transfer on
   * its state as it is now and retries its swap; resolves with the update's report when it completes, or rejects
   * (UpdateHaltedError again, PrepareFailedError if a dry run throws) with the update still halted: call it again.
   */
  resume(u: Update | readonly Update[]): Promise<UpdateReport> {
    this.assertOpen("resume");
    const a = this.active;
    const run = a?.host?.run;
    if (a === undefined || run === undefined || run.phase !== "halted") {
      return Promise.reject(new InvalidUpdateError(`resume: no update is halted${a !== undefined ? ` (update #${a.id} is ${run?.phase ?? "preparing"})` : ""}; resume() finishes an update whose transfer threw at swap time`));
    }
    const list: readonly Update[] = Array.isArray(u) ? u : [u as Update];
    for (const given of a.updates) {
      if (!list.some((one) => one !== null && typeof one === "object" && one.from === given.from && one.to === given.to)) {
        return Promise.reject(
          new InvalidUpdateError(`resume: no update with the halted update's behaviors ${given.from.version} -> ${given.to.version} (the same objects); pass them with the corrected transfer`),
        );
      }
    }
    // The resume is submitted to the root's process, which runs the halted update's coordinator.
    if (this.down.has(a.root)) return Promise.reject(this.notRunning(a.root, "resume"));
    const done = new Promise<UpdateReport>((resolve, reject) => {
      a.waiter = { resolve, reject };
    });
    a.host?.resume({ kind: "inline", updates: list });
    this.kick();
    return done;
  }

  /** An update's behaviors must be the very objects this system knows by their versions (one program per version). */
  private checkSameBehaviors(list: readonly Update[]): void {
    const seen = new Map(this.behaviors);
    for (const one of list) {
      for (const b of [one.from, one.to]) {
        const known = seen.get(b.version);
        if (known !== undefined && !sameBehaviorCode(known, b)) throw new DuplicateVersionError(b.version, `update ${one.from.version} -> ${one.to.version}`);
        seen.set(b.version, b);
      }
    }
  }

  // ---- time ----

  /**
   * Run until nothing is in flight, no request is open and no timer is pending. Rejects with SettleTimeoutError,
   * naming what kept the system busy, once virtual time would pass `withinMs` from now (default 1 hour), or when
   * time stops (a million events at one instant).
   */
  settle(opts: { withinMs?: number } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new SystemClosedError("settle"));
    const withinMs = opts.withinMs ?? DEFAULT_SETTLE_WITHIN_MS;
    if (!(withinMs >= 0) || !Number.isFinite(withinMs)) {
      return Promise.reject(new InvalidOptionError("settle withinMs", `expected a finite number of virtual ms >= 0, got ${String(withinMs)}`));
    }
    if (this.settlers.length === 0) this.settleActivity = new SettleActivity(this.now());
    const until = this.now() + withinMs;
    const p = new Promise<void>((resolve, reject) => this.settlers.push({ resolve, reject, until, withinMs }));
    this.kick();
    return p;
  }

  /** Let ms of virtual time pass while the system runs. */
  sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.reject(new SystemClosedError("sleep"));
    if (!(ms >= 0) || !Number.isFinite(ms)) return Promise.reject(new InvalidOptionError("sleep ms", `expected a finite number >= 0, got ${String(ms)}`));
    const until = this.now() + ms;
    const p = new Promise<void>((resolve, reject) => {
      const s: Sleeper = { until, resolve, reject };
      let i = this.sleepers.length;
      while (i > 0 && (this.sleepers[i - 1] as Sleeper).until > until) i--;
      this.sleepers.splice(i, 0, s);
    });
    this.kick();
    return p;
  }

  now(): number {
    return this.network.now();
  }

  // ---- inspection ----

  /** A crashed node's is the version of its last commit (what it will come back at). */
  version(id: NodeId): string {
    const down = this.down.get(id);
    return down !== undefined ? down.version : this.runtime(id, "version").version;
  }

  /**
   * A copy (structuredClone, which state must survive anyway): the caller may keep and change it, the node's own
   * state stays as it is, and handlers are not made to run on frozen values because somebody looked.
   */
  state(id: NodeId): unknown {
    return structuredClone(this.runtime(id, "state").node.state);
  }

  nodes(): readonly NodeId[] {
    return [...this.topology.nodes()];
  }

  links(): readonly (readonly [NodeId, NodeId])[] {
    return this.topology.links();
  }

  neighbors(id: NodeId): readonly NodeId[] {
    if (!this.topology.hasNode(id)) throw new UnknownNodeError(id, "neighbors");
    return this.topology.neighbors(id); // frozen, and replaced (not changed) when a link changes
  }

  trace(): readonly TraceEvent[] {
    return this.log.events();
  }

  /** The invariants over the trace so far; a run that is over (nothing in flight, no update) is judged complete. */
  check(): CheckReport {
    // A halted update is judged as it stands: it is not over, and the checker says so (termination).
    const complete = this.network.pendingCount === 0 && (this.active === undefined || this.active.waiter === undefined);
    return checkTrace(this.log.events(), { complete });
  }

  /** Ours: how many events (deliveries, timers, requests) the network has run so far. */
  eventsExecuted(): number {
    return this.eventsRun;
  }

  /** Ours: is an update being prepared or run? */
  updating(): boolean {
    return this.active !== undefined;
  }

  /**
   * Ours: stop a system that is being thrown away (the explorer replays
   * thousands): nothing runs any more and nothing is settled, so promises still
   * pending on it never settle. Use close() for a system whose callers wait.
   */
  abandon(): void {
    this.closed = true;
    this.openRequests.clear();
    this.sleepers.length = 0;
    this.takeSettlers();
    this.locations.takeAll();
    this.active = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failEveryWaiter(new SystemClosedError("close"));
  }

  /** Reject every promise a caller holds on this system. */
  private failEveryWaiter(err: Error): void {
    for (const rid of [...this.openRequests.keys()]) this.failRequest(rid, err);
    for (const w of this.sleepers.splice(0)) w.reject(err);
    for (const w of this.takeSettlers()) w.reject(err);
    for (const t of this.locations.takeAll()) t.reject(err);
    const a = this.active;
    if (a) {
      this.active = undefined;
      a.waiter?.reject(err);
    }
  }

  /**
   * Ours, for the explorer's fingerprint (harness/fingerprint.ts): the hosts
   * in id order, the open requests, the running update's coordinator and the
   * system's epoch. Read-only by convention: what it returns is live.
   */
  inspect(): SystemInspection {
    const coordinators = this.coordinators;
    const taken = this.reportsTaken;
    const a = this.active;
    const lost = this.lostOnWire;
    return {
      hosts: this.topology.nodes().flatMap((id) => this.runtimes.get(id) ?? []),
      openRequests: [...this.openRequests.keys()].sort(),
      coordinator: a?.host?.coordinator,
      update: a?.id,
      coordinatorDown: a !== undefined && this.down.has(a.root),
      root: a?.root,
      epoch: this.epoch,
      down: [...this.down.keys()].sort(),
      partitions: [...this.partitions].sort(),
      commitDue: [...this.commitDue].map((rt) => rt.id).sort(),
      staleOnWire: (seq, env) => this.staleOnWire(seq, env),
      // Computed when read: most readers want the hosts only.
      get plane(): ChannelsSnapshot {
        return coordinators.snapshot([...taken].map(([n, seq]) => [channelKey(n, 0), seq] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1)));
      },
      get lostOnWire(): readonly (readonly [string, readonly MessageId[]])[] {
        return [...lost].map(([k, envs]) => [k, envs.map((e) => e.id)] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
      },
    };
  }

  /** See reconnectedAt. */
  private staleOnWire(seq: number, env: Envelope): boolean {
    // A node's reports travel link 0 (one channel to whichever coordinator runs): their session restarts with the root.
    return (env.link > 0 || env.to === CONTROL) && this.reconnectedAt.size > 0 && seq < (this.reconnectedAt.get(wireKey(env.link, env.from, env.to)) ?? -1);
  }

  // ---- scripted stepping ----

  /** Events that may happen next (scripted scheduler only), earliest first. */
  pending(): readonly PendingEvent[] {
    return this.steerable("pending").enabled().map(describePending);
  }

  /** Run exactly this pending event now (scripted scheduler only). */
  step(seq: number): void {
    this.assertOpen("step");
    const ev = this.steerable("step").take(seq);
    this.network.advanceTo(ev.time);
    this.dispatch(ev);
    this.afterStep();
  }

  // ---- the run loop ----

  private kick(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(this.pump);
  }

  private readonly pump = (): void => {
    this.pumpScheduled = false;
    try {
      this.runUntilSomethingSettles();
    } catch (e) {
      // A runtime bug must not be swallowed nor crash the caller's process: every waiter learns it.
      this.failEveryWaiter(asError(e));
      return;
    }
    if (this.settledSomething) {
      this.settledSomething = false;
      if (this.hasWaiters()) this.kick();
    }
  };

  private hasWaiters(): boolean {
    return this.sleepers.length > 0 || this.settlers.length > 0 || this.openRequests.size > 0 || this.active?.waiter !== undefined || this.locations.moving();
  }

  private runUntilSomethingSettles(): void {
    const net = this.network;
    if (this.closed || !this.hasWaiters()) return;
    // Nothing the events do adds a waiter or a sleeper (only the caller's code does, between pumps), and whatever
    // settles a waiter ends this pump: the earliest sleeper and the waiters can be read once.
    const sleeper = this.sleepers[0];
    const wake = sleeper === undefined ? Number.POSITIVE_INFINITY : sleeper.until;
    // A run that never ends (a timer that always re-arms, with settle() waiting) must not hold the thread forever:
    // yield now and then so the caller's own time-outs can fire. Nothing of the run happens while yielded.
    let budget = 50_000;
    for (;;) {
      if (--budget === 0) {
        this.settledSomething = true;
        return;
      }
      const next = net.nextTime();
      if (next === undefined && this.settlers.length > 0 && this.noLiveOpenRequests()) {
        // Settled now: settle() wins over a sleep that would only let idle time pass.
        this.afterStep();
        return;
      }
      if (next !== undefined && this.settlers.length > 0 && this.expireSettlers(next, wake)) return;
      if (sleeper !== undefined && (next === undefined || next > wake)) {
        net.advanceTo(sleeper.until);
        this.sleepers.shift();
        this.settle1(sleeper.resolve);
        // Every sleeper due at this instant wakes together.
        while (this.sleepers[0] !== undefined && this.sleepers[0].until <= net.now()) this.settle1((this.sleepers.shift() as Sleeper).resolve);
        return;
      }
      if (next === undefined) {
        this.onQuiescent();
        return;
      }
      const ev = net.next() as SimEvent;
      this.settleActivity?.note(ev);
      this.dispatch(ev);
      if (this.settlers.length > 0) this.afterStep();
      if (this.settledSomething || this.closed) return;
    }
  }

  private afterStep(): void {
    if (this.settlers.length > 0 && this.network.pendingCount === 0 && this.noLiveOpenRequests()) {
      for (const w of this.takeSettlers()) this.settle1(w.resolve);
    }
  }

  /** No open request but those waiting for a crashed node (they wait for its restart, they do not keep a settle busy). */
  private noLiveOpenRequests(): boolean {
    if (this.openRequests.size === 0) return true;
    if (this.down.size === 0) return false;
    for (const r of this.openRequests.values()) if (!this.down.has(r.node)) return false;
    return true;
  }

  /** Every waiting settle(), which no longer wait; nobody settles, so nothing of the run is counted for them. */
  private takeSettlers(): Settler[] {
    this.settleActivity = undefined;
    return this.settlers.splice(0);
  }

  /**
   * Settles whose bound the next event (at `next`) would pass, unless a sleeper wakes first, reject with what kept
   * the system busy; all of them when time has stopped. True when one did (the pump ends its turn).
   */
  private expireSettlers(next: number, wake: number): boolean {
    const activity = this.settleActivity;
    const stopped = activity !== undefined && activity.sameInstant >= SETTLE_SAME_INSTANT_EVENTS;
    // The common case, every event while a settle() waits: no bound is passed (a loop, not a filtered copy).
    if (!stopped) {
      let passed = false;
      for (const w of this.settlers) if (w.until < next && w.until < wake) passed = true;
      if (!passed) return false;
    }
    const due = stopped ? this.settlers : this.settlers.filter((w) => w.until < next && w.until < wake);
    if (due.length === 0) return false;
    if (!stopped) this.network.advanceTo(Math.max(...due.map((w) => w.until)));
    const busy = [...(activity?.describe() ?? []), ...this.waitingWork()];
    for (const w of due) {
      const reason = stopped
        ? `: virtual time stopped at ${this.now()} ms (${SETTLE_SAME_INSTANT_EVENTS} events at that instant)`
        : `within ${w.withinMs} ms of virtual time (now ${this.now()} ms)`;
      this.settle1(() => w.reject(new SettleTimeoutError(w.withinMs, busy, reason)));
    }
    const left = this.settlers.filter((w) => !due.includes(w));
    this.takeSettlers();
    this.settlers.push(...left);
    if (left.length > 0 && activity !== undefined) this.settleActivity = activity;
    return true;
  }

  /** Open requests and a running update: what a settle also waits for. */
  private waitingWork(): string[] {
    const out: string[] = [];
    if (this.openRequests.size > 0) out.push(`open request(s) ${[...this.openRequests.entries()].map(([rid, r]) => `${rid} at "${r.node}"`).join(", ")}`);
    if (this.active !== undefined) out.push(`update #${this.active.id} still running`);
    const moving = this.locations.movingNodes();
    if (moving.length > 0) out.push(`move(s) of ${moving.join(", ")} under way`);
    return out;
  }

  /**
   * Nothing is pending (and no sleeper waits): settle() is done, or stuck on a request nothing can answer; a
   * running update has stalled. An open request can never be answered now (only a handler responds, and no
   * handler will run), so it rejects: awaiting it would otherwise leave the process with nothing to wait on.
   */
  private onQuiescent(): void {
    const stuck = [...this.openRequests.entries()].filter(([, r]) => !this.down.has(r.node));
    if (this.settlers.length > 0) {
      if (stuck.length === 0) {
        for (const w of this.takeSettlers()) this.settle1(w.resolve);
      } else {
        const err = new SettleStalledError(stuck.map(([rid, r]) => `${rid} at "${r.node}"`));
        for (const w of this.takeSettlers()) this.settle1(() => w.reject(err));
      }
    }
    // Requests to a crashed node wait for its restart.
    for (const [rid, r] of stuck) this.failRequest(rid, new RequestStalledError(r.node, rid));
    const a = this.active;
    // An update that reaches a crashed node waits for its restart (termination holds once every crashed node is back).
    if (a !== undefined && a.waiter !== undefined && this.down.size === 0) {
      // A halted update waits for resume() by design; one that someone waits on and nothing moves has stalled.
      this.active = undefined;
      const waiter = a.waiter;
      const run = a.host?.run;
      const err = new UpdateStalledError(a.id, run?.oldNodes() ?? [], run?.unfinishedNodes() ?? []);
      a.host?.giveUp(); // journaled: a restarted root does not take it up again
      this.afterUpdate(a.id, undefined);
      if (this.tracing) this.record({ kind: "update-end", t: this.now(), update: a.id, outcome: "failed", detail: err.message });
      this.settle1(() => waiter.reject(err));
    }
  }

  private settle1(f: () => void): void {
    this.settledSomething = true;
    f();
  }

  private dispatch(ev: SimEvent): void {
    this.eventsRun++;
    switch (ev.kind) {
      case "deliver":
        if (this.staleOnWire(ev.seq, ev.env)) return;
        return this.deliver(ev.env);
      case "timer": {
        const rt = this.runtimes.get(ev.node);
        if (rt === undefined) return;
        rt.timer(ev.tag, ev.timer, ev.incarnation);
        return this.afterInput(rt);
      }
      case "request": {
        const rt = this.runtimes.get(ev.node);
        const open = this.openRequests.get(ev.request);
        if (rt === undefined || open === undefined) return;
        rt.request(ev.request, ev.body, open.issued);
        return this.afterInput(rt);
      }
      case "deadline":
        ev.run();
        return;
    }
  }

  /**
   * The coordinator's mail, or a node's. A message to a node that no longer exists is dropped (its host would check
   * the link); one to a crashed node, or over a partitioned link, is lost on the wire and sent again from its
   * sender's outbox when the node restarts or the link heals.
   */
  private deliver(env: Envelope): void {
    if (env.to === CONTROL) return this.deliverToCoordinator(env);
    const rt = this.runtimes.get(env.to);
    if (rt !== undefined) {
      if (env.link > 0 && this.partitions.size > 0 && this.partitions.has(pairKey(env.from, env.to))) return this.loseOnWire(env);
      // A coordinator's envelope to an earlier node of this id (destroyed, then created again): not this node's.
      if (env.kind === "control" && env.from === CONTROL && env.link <= (this.linksBefore.get(env.to) ?? 0)) return;
      rt.deliver(env);
      return this.afterInput(rt);
    }
    if (this.down.has(env.to)) return this.loseOnWire(env);
    if (env.kind === "app" && this.tracing) this.record({ kind: "drop", t: this.now(), node: env.to, from: env.from, msg: env.id, reason: "destroyed" });
  }

  /** See lostOnWire: kept for its link, or dropped at once when that link is gone already. */
  private loseOnWire(env: Envelope): void {
    if (env.kind !== "app") return;
    if (this.topology.linksOf(env.to).get(env.from) !== env.link) return this.dropUnlinked([env]);
    const key = pairKey(env.from, env.to);
    const lost = this.lostOnWire.get(key);
    if (lost === undefined) this.lostOnWire.set(key, [env]);
    else lost.push(env);
  }

  private dropUnlinked(envs: readonly AppEnvelope[]): void {
    if (!this.tracing) return;
    for (const env of envs) this.record({ kind: "drop", t: this.now(), node: env.to, from: env.from, msg: env.id, reason: "unlinked" });
  }

  /**
   * A node's report reaches the running update's coordinator, in its root's process, which journals and acknowledges
   * it (a duplicate it drops). While that root is down it is lost on the wire: the node keeps it in its outbox and
   * resends it when the root is back. With no update running, every coordinator left is over and would only
   * acknowledge it: the node may forget it.
   */
  private deliverToCoordinator(env: Envelope): void {
    if (env.kind !== "control") return;
    const a = this.active;
    const link = a?.host?.link;
    if (a !== undefined && (this.down.has(a.root) || (link !== undefined && this.coordinators.isDown(link)))) return;
    const host = link !== undefined ? this.coordinators.live(link) : undefined;
    const seq = env.seq;
    if (seq !== undefined && seq > (this.reportsTaken.get(env.from) ?? 0)) this.reportsTaken.set(env.from, seq);
    if (host !== undefined) return host.report(env);
    if (seq !== undefined) this.runtimes.get(env.from)?.channels.ack(CONTROL, 0, seq);
  }

  // ---- durability: group commit, crash, restart, partition ----

  /** A node still takes part in update `id` (prepared, or loading its code), or one that may is crashed. */
  private abortInFlight(id: number): boolean {
    for (const rt of this.runtimes.values()) if (rt.updateId === id) return true;
    return this.down.size > 0;
  }

  /** A node ran a step: with no commit window it commits now; otherwise its group commit is scheduled (once per batch). */
  private afterInput(rt: NodeHost): void {
    this.endAbortIfTaken();
    if (!rt.dirty) return;
    const { min, max } = this.groupCommit;
    if (max === 0) return this.commitNode(rt);
    if (this.commitDue.has(rt)) return;
    this.commitDue.add(rt);
    const delay = min === max ? min : this.commitRng.int(min, max);
    this.network.deadline(delay, `commit of ${rt.id}`, () => {
      this.commitDue.delete(rt);
      if (this.runtimes.get(rt.id) === rt) this.commitNode(rt);
    });
  }

  /** An update given up in prepare ends once no node holds its part any more (a forget can be what ends it). */
  private endAbortIfTaken(): void {
    const aborting = this.aborting;
    if (aborting !== undefined && !this.abortInFlight(aborting.a.id)) {
      this.aborting = undefined;
      this.finishUpdate(aborting.a, aborting.outcome);
    }
  }

  /** Make a node's batch durable, let its outputs leave, and tell each sender how far this node has applied. */
  private commitNode(rt: NodeHost): void {
    const acks = rt.commit(this.disks.get(rt.id) as SimulatedDisk);
    this.settleHalves(rt.id);
    this.routeAcks(rt, acks);
  }

  private routeAcks(rt: NodeHost, acks: readonly Ack[]): void {
    for (const a of acks) {
      if (a.from === CONTROL) this.coordinators.acked(rt.id, a.link, a.seq);
      else this.runtimes.get(a.from)?.channels.ack(rt.id, a.link, a.seq);
    }
  }

  /**
   * The node stops at once: what it had not committed is gone (its trace, messages and answers never left), its
   * timers die, and what is in flight to it is lost on the wire (its senders keep it in their outboxes). Messages and
   * requests to it wait for its restart; an update waits for it.
   */
  crash(id: NodeId): void {
    this.assertOpen("crash");
    const moving = this.locations.transit(id);
    if (moving !== undefined) return this.interruptMove(id, moving);
    const rt = this.runtimes.get(id);
    if (rt === undefined) throw this.down.has(id) ? new NodeDownError(id, "crash") : new UnknownNodeError(id, "crash");
    if (this.synchronizer) {
      throw new InvalidOptionError("crash", "a synchronized system (synchronizer: true) cannot crash a node yet: its pulse machinery has no durable snapshot");
    }
    if (!this.durable) throw new InvalidOptionError("crash", `node "${id}" has no store to come back from (the system was made with store: false); leave store at its default to crash nodes`);
    const lost = rt.uncommitted;
    this.stopHost(rt);
    if (this.tracing) this.record({ kind: "crash", t: this.now(), node: id, lost });
    this.kick();
  }

  /**
   * The node's process stops: its host is gone, what it applied in steps not yet durable is noted (a forget drops
   * it), it waits in `down` at the version and epoch of its last commit; the update coordinators it runs stop with it
   * (all they did is journaled; reports to them wait in the outboxes).
   */
  private stopHost(rt: NodeHost): void {
    const id = rt.id;
    this.runtimes.delete(id);
    this.hostsChanged++;
    this.commitDue.delete(rt);
    const undone = new Map<NodeId, { readonly link: number; readonly durable: number; readonly applied: number }>();
    for (const [n, link] of this.topology.linksOf(id)) {
      const durable = rt.appliedDurably(n, link);
      const applied = rt.channels.applied(n, link);
      if (applied > durable) undone.set(n, { link, durable, applied });
    }
    this.undoneAtCrash.set(id, undone);
    this.down.set(id, { version: rt.durableVersion, epoch: rt.durableEpoch });
    this.messageCounters.set(id, rt.messagesSent);
    this.coordinators.crashed(id);
  }

  /**
   * The node comes back from its durable store: its snapshot, then its log replayed (outputs held back: they left
   * when committed), its timers re-armed for their remaining time; then every channel of it resumes where the other
   * end applied, and the requests still open at it are sent again (one it had accepted runs once). The source of an
   * interrupted move comes back where it was, fencing that move (traced).
   */
  restart(id: NodeId): Promise<void> {
    try {
      this.assertOpen("restart");
      const moving = this.locations.transit(id);
      if (moving !== undefined) throw new NodeMovingError(id, moving.to, "restart");
      if (!this.down.has(id)) throw this.runtimes.has(id) ? new NodeNotDownError(id, "restart") : new UnknownNodeError(id, "restart");
      this.startHost(id, (rt, record) => ({ kind: "restart", t: this.now(), node: id, version: rt.version, epoch: rt.epoch, replayed: record.log.length }));
      // Fenced once it runs again (a restart that threw leaves the interrupted move to the next one).
      const fenced = this.locations.fence(id);
      if (fenced !== undefined && this.tracing) this.record({ kind: "fence", t: this.now(), node: id, at: fenced.at, locationEpoch: fenced.epoch });
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(asError(e));
    }
  }

  /** A stopped node runs again from its durable record (a restart, or an arrival), `traced` once its host is up. */
  private startHost(id: NodeId, traced: (rt: NodeHost, record: StoredRecord) => TraceEvent): void {
    const record = (this.disks.get(id) as SimulatedDisk).load();
    if (record === undefined) throw new InternalError(`node "${id}" has an empty store`);
    this.restoreHalves(id);
    const rt = NodeHost.recover(id, record, ++this.incarnations, this.host, (v) => this.behaviorOf(v), this.baseAgent(), this.gate());
    this.down.delete(id);
    this.undoneAtCrash.delete(id);
    this.runtimes.set(id, rt);
    this.hostsChanged++;
    if (this.tracing) this.record(traced(rt, record));
    for (const n of this.topology.neighbors(id)) this.reconnect(id, n);
    const recovered = this.recoverCoordinator(id);
    this.reconnectPlane(rt, recovered);
    for (const [rid, r] of this.openRequests) if (r.node === id) this.network.injectRequest(id, rid, r.body);
    this.afterInput(rt);
    this.kick();
  }

  /**
   * Ours (Polylith's change of geometry): the node continues at location `to`. It commits and snapshots what it ran
   * (its outputs leave), stops, and its durable record travels for one message delay drawn from the seed; meanwhile
   * it runs nowhere and what is sent to it waits in its senders' outboxes (requests wait too). It then runs at `to`
   * from that record: same identity, links, version, state, channel positions, timers (overdue ones fire at once)
   * and part in a halted update; its channels resume where it left them, so nothing is lost, duplicated or
   * reordered. Refused while an update runs (a halted one does not block a move: draining a location must stay
   * possible). A crash of the node while it travels is a crash of its source before the destination committed: the
   * move rejects with MoveInterruptedError and the node is down where it was; its restart brings it back there.
   */
  move(id: NodeId, to: string): Promise<void> {
    try {
      this.assertOpen("move");
      const rt = this.movable(id, to);
      this.syncDisk(id);
      this.stopHost(rt);
      const promise = new Promise<void>((resolve, reject) => {
        const t = this.locations.leave(id, to, { resolve, reject });
        if (this.tracing) this.record({ kind: "move", t: this.now(), node: id, from: t.from, to, locationEpoch: t.locationEpoch });
        this.network.deadline(this.network.drawDelay(), `move of ${id} to ${to}`, () => this.arrive(id, t));
      });
      this.kick();
      return promise;
    } catch (e) {
      return Promise.reject(asError(e));
    }
  }

  /** The running node a move may take to `to`, or the error that says why not. */
  private movable(id: NodeId, to: string): NodeHost {
    if (typeof to !== "string" || to.trim() === "") throw new MoveRefusedError(id, `the destination must be a location label (a non-empty string), got ${JSON.stringify(to) ?? String(to)}`);
    if (!this.topology.hasNode(id)) throw new UnknownNodeError(id, "move");
    const rt = this.runtime(id, "move");
    const a = this.active;
    if (a !== undefined && a.host?.run.phase !== "halted") throw new UpdateInProgressError("move", a.id);
    if (this.synchronizer) throw new MoveRefusedError(id, "a synchronized system (synchronizer: true) cannot move a node yet: its pulse machinery has no durable snapshot");
    if (!this.durable) throw new MoveRefusedError(id, "a node travels as its durable record, and the system was made with store: false; leave store at its default to move nodes");
    const here = this.locations.of(id);
    if (here.at === to) throw new MoveRefusedError(id, `it is at "${to}" already`);
    return rt;
  }

  /** The record reached the destination, which commits it: the node runs there now, one life with its past. */
  private arrive(id: NodeId, t: Transit): void {
    if (this.closed || !this.locations.arrive(id, t)) return;
    this.startHost(id, (rt) => ({ kind: "arrive", t: this.now(), node: id, at: t.to, locationEpoch: t.locationEpoch, version: rt.version, epoch: rt.epoch }));
    this.settle1(t.resolve);
  }

  /** The source crashed while its record travelled: the destination never commits it; the node is down where it was. */
  private interruptMove(id: NodeId, t: Transit): void {
    this.locations.interrupt(id);
    if (this.tracing) this.record({ kind: "crash", t: this.now(), node: id, lost: 0 });
    const err = new MoveInterruptedError(id, t.from, t.to, `its source crashed before "${t.to}" committed its record`);
    this.settle1(() => t.reject(err));
    this.kick();
  }

  /** Where the node runs now (a location label; every node starts at "origin") and under which location epoch. */
  location(id: NodeId): Location {
    if (!this.topology.hasNode(id)) throw new UnknownNodeError(id, "location");
    return this.locations.of(id);
  }

  /** Both channels of the link stop delivering (what is in flight is lost on the wire and kept in the outboxes). */
  partition(a: NodeId, b: NodeId): void {
    this.assertOpen("partition");
    for (const n of [a, b]) if (!this.topology.hasNode(n)) throw new UnknownNodeError(n, "partition");
    if (!this.topology.linked(a, b)) throw new UnknownLinkError(a, b);
    if (this.partitions.has(pairKey(a, b))) throw new PartitionError(a, b, true);
    this.partitions.add(pairKey(a, b));
    if (this.tracing) this.record({ kind: "partition", t: this.now(), a, b });
  }

  /** The link delivers again: each side sends what the other has not applied, in order. */
  heal(a: NodeId, b: NodeId): void {
    this.assertOpen("heal");
    if (!this.partitions.delete(pairKey(a, b))) throw new PartitionError(a, b, false);
    if (this.tracing) this.record({ kind: "heal", t: this.now(), a, b });
    this.reconnect(a, b);
    this.kick();
  }

  /** A link's two channels resume: each live, connected end resends what the other has not applied. */
  private reconnect(a: NodeId, b: NodeId): void {
    const ra = this.runtimes.get(a);
    const rb = this.runtimes.get(b);
    const link = this.topology.linksOf(a).get(b);
    if (ra === undefined || rb === undefined || link === undefined || this.partitions.has(pairKey(a, b))) return;
    this.lostOnWire.delete(pairKey(a, b)); // sent again below, from the outboxes
    const now = this.network.nextSeq;
    this.reconnectedAt.set(wireKey(link, a, b), now);
    this.reconnectedAt.set(wireKey(link, b, a), now);
    // From each receiver's committed position: what it applied in a step not yet durable, a crash may still undo.
    for (const env of ra.resendTo(b, link, rb.appliedDurably(a, link))) this.network.transmit(env);
    for (const env of rb.resendTo(a, link, ra.appliedDurably(b, link))) this.network.transmit(env);
  }

  /**
   * The coordinators' channels to a restarted node, both ways (but `recovered`'s, which resumed with every node):
   * each running coordinator resends what the node has not applied, and the node resends its reports beyond what
   * the control plane took (unless the running update's root is down: they wait for its restart).
   */
  private reconnectPlane(rt: NodeHost, recovered: CoordinatorHost | undefined): void {
    for (const host of this.coordinators.running()) {
      if (host === recovered) continue;
      for (const env of this.unackedTo(host, rt)) this.network.transmit(env);
    }
    const a = this.active;
    if (a !== undefined && (a.host === recovered || this.down.has(a.root))) return;
    for (const env of rt.resendTo(CONTROL, 0, this.reportsTaken.get(rt.id) ?? 0)) this.network.transmit(env);
  }

  /** What `host` must send `rt` again (nothing of a coordinator older than the node: it was for an earlier node of its id). */
  private unackedTo(host: CoordinatorHost, rt: NodeHost): readonly Envelope[] {
    if (host.link <= (this.linksBefore.get(rt.id) ?? 0)) return [];
    const out = host.unacked(rt.id, rt.appliedDurably(CONTROL, host.link));
    this.coordinators.forgetIfSettled(host.link);
    return out;
  }

  /**
   * The root is back: the update it was coordinating resumes from its journal (one called while it was down starts
   * now). A new session with every node: what was on the wire between them before is dropped, and each side resends
   * what the other has not applied, from its position.
   */
  private recoverCoordinator(root: NodeId): CoordinatorHost | undefined {
    const a = this.active;
    if (a !== undefined && a.root === root && a.deferred !== undefined) {
      const { plan, deadlineMs } = a.deferred;
      a.deferred = undefined;
      this.coordinators.recover(root); // an earlier update's, if its journal still held one, is replaced
      a.host = this.coordinators.start(plan, { kind: "inline", updates: a.updates }, deadlineMs);
      return undefined;
    }
    const host = this.coordinators.recover(root);
    if (host === undefined) return undefined;
    const running = a !== undefined && a.id === host.run.id;
    if (running) a.host = host;
    const mark = this.network.nextSeq;
    for (const n of this.topology.nodes()) {
      this.reconnectedAt.set(wireKey(host.link, CONTROL, n), mark);
      if (running) this.reconnectedAt.set(wireKey(0, n, CONTROL), mark);
      const rt = this.runtimes.get(n);
      if (rt === undefined) continue;
      for (const env of this.unackedTo(host, rt)) this.network.transmit(env);
      if (running) for (const env of rt.resendTo(CONTROL, 0, this.reportsTaken.get(n) ?? 0)) this.network.transmit(env);
    }
    return host;
  }

  /** The behavior object of a version this system has run (a restarted node's code). */
  private behaviorOf(version: string): Behavior {
    const b = this.behaviors.get(version);
    if (b === undefined) throw new InternalError(`no behavior of version "${version}" is known to this system`);
    return b;
  }

  /** Is the node crashed (and not restarted yet)? */
  isDown(id: NodeId): boolean {
    return this.down.has(id) && this.locations.transit(id) === undefined;
  }

  /** Is the node moving (it runs nowhere until it arrives)? */
  isMoving(id: NodeId): boolean {
    return this.locations.transit(id) !== undefined;
  }

  // ---- plumbing ----

  private makeHost(): HostEnvironment {
    const sys = this;
    const topology = this.topology;
    const net = this.network;
    return {
      tracing: this.tracing,
      transmit: (env) => net.transmit(env),
      startTimer: (node, incarnation, delayMs, tag, timer) => net.startTimer(node, incarnation, delayMs, tag, timer),
      // In one process the update's code travels as itself; prepare checks it like a loaded package.
      loadCode: (code) => {
        if (code.kind !== "inline") throw new InvalidUpdateError("a simulated system takes update objects, not packages");
        return code.updates;
      },
      now: () => net.now(),
      neighbors: (node) => topology.neighbors(node),
      linksOf: (node) => topology.linksOf(node),
      dropNeighbor: (node, gone) => sys.dropHalf(node, gone),
      hasOpenRequest: (node, rid) => sys.openRequests.get(rid)?.node === node,
      record: (ev) => sys.log.push(ev),
      traceEnvelope: (kind, t, env) => (kind === "send" ? sys.log.send(t, env) : sys.log.deliver(t, env)),
      answer: (_node, rid, result) => {
        const r = sys.openRequests.get(rid);
        if (r === undefined) return;
        sys.openRequests.delete(rid);
        sys.settle1(() => r.resolve(result));
      },
      fail: (node, rid, reason) => sys.failRequest(rid, new RequestFailedError(node, rid, reason)),
      expired: (node, rid) => sys.failRequest(rid, new RequestExpiredError(node, rid, "it was issued before the oldest request the node forgot")),
    };
  }

  /** The update completed, failed, or halted: a halted one stays (configuration and updates wait for its resume). */
  private finishUpdate(a: ActiveUpdate, outcome: { readonly report: UpdateReport } | { readonly error: Error }): void {
    if (this.active !== a) return;
    // An update given up in prepare ends once every prepared node has taken the abort: until then such a node still
    // holds its part, and a configuration command accepted meanwhile could not snapshot it (a crash would then
    // replay its earlier steps under the new topology).
    if ("error" in outcome && a.host?.run.phase === "aborted" && this.abortInFlight(a.id)) {
      this.aborting = { a, outcome };
      return;
    }
    const waiter = a.waiter;
    a.waiter = undefined;
    if (a.host?.run.phase !== "halted") {
      this.active = undefined;
      this.afterUpdate(a.id, "report" in outcome ? a.host?.run.info.from : undefined);
    }
    if (waiter === undefined) return;
    if ("report" in outcome) this.settle1(() => waiter.resolve(outcome.report));
    else this.settle1(() => waiter.reject(outcome.error));
  }

  /**
   * After an update ended, completed (`replaced`: each node's version before it) or not. The system's epoch
   * follows the nodes: a failed update that turned some nodes new moved them a step, and a node created later at
   * an unrelated version must not start behind them. A completed update retires what it replaced, except what
   * still runs (an update list may convert v1 -> v2 and v2 -> v3) and what it made current again (a back-out).
   */
  private afterUpdate(id: number, replaced: Readonly<Record<NodeId, string>> | undefined): void {
    let highest = replaced !== undefined ? this.epoch + 1 : this.epoch;
    for (const rt of this.runtimes.values()) highest = Math.max(highest, rt.epoch);
    this.epoch = highest;
    if (replaced === undefined) return;
    const running = new Set(this.currentVersions());
    for (const v of new Set(Object.values(replaced))) if (!running.has(v)) this.retired.set(v, id);
    for (const v of running) this.retired.delete(v);
  }

  private failRequest(rid: RequestId, err: Error): void {
    const r = this.openRequests.get(rid);
    if (r === undefined) return;
    this.openRequests.delete(rid);
    this.settle1(() => r.reject(err));
  }

  private record(ev: TraceEvent): void {
    this.log.push(ev);
  }

  private runtime(id: NodeId, where: string): NodeHost {
    const rt = this.runtimes.get(id);
    if (rt === undefined) throw this.down.has(id) ? this.notRunning(id, where) : new UnknownNodeError(id, where);
    return rt;
  }

  private steerable(where: string): SteerableScheduler {
    const s = this.network.scheduler;
    if (!isSteerable(s)) throw new SchedulerError(`${where}() needs new System({ scheduler: "scripted" })`);
    return s;
  }

  /** Links of a crashed node are left as they are until it is back (its replay must see the topology it ran under). */
  private assertUp(id: NodeId, operation: string): void {
    if (this.down.has(id)) throw this.notRunning(id, operation);
  }

  /** Why a node in `down` cannot take part: it is crashed, or moving. */
  private notRunning(id: NodeId, operation: string): Error {
    const t = this.locations.transit(id);
    return t !== undefined ? new NodeMovingError(id, t.to, operation) : new NodeDownError(id, operation);
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new SystemClosedError(operation);
  }

  private assertNoUpdate(operation: string): void {
    const a = this.active;
    if (a === undefined) return;
    if (a.host?.run.phase === "halted") throw new UpdateHaltedInProgressError(operation, a.id);
    throw new UpdateInProgressError(operation, a.id);
  }

  /** Configuration commands: no update running, and a synchronized system still before its first pulse. */
  private assertConfigurable(operation: string): void {
    this.assertNoUpdate(operation);
    if (this.synchronizer) {
      // Neighbours must stay within one pulse of each other: a link made between nodes at different pulses would break it.
      for (const rt of this.runtimes.values()) {
        const pulse = (rt.baseAgent as AlphaSynchronizer).pulse;
        if (pulse !== 0) throw new SynchronizerConfigurationError(operation, rt.id, pulse);
      }
    }
  }
}


/** requestTimeoutMs (the API's name) or requestTimeout (ours, older): one of them, or both the same. */
function requestTimeoutOf(options: SystemOptions): number | undefined {
  const { requestTimeoutMs: ms, requestTimeout: alias } = options;
  if (ms !== undefined && alias !== undefined && ms !== alias) {
    throw new InvalidOptionError("requestTimeoutMs", `requestTimeout (${String(alias)}) is its older name and says otherwise; give one of them`);
  }
  const timeout = ms ?? alias;
  if (timeout !== undefined && !(timeout > 0)) {
    throw new InvalidOptionError(ms !== undefined ? "requestTimeoutMs" : "requestTimeout", `expected virtual ms > 0, got ${String(timeout)}`);
  }
  return timeout;
}

function describePending(ev: SimEvent): PendingEvent {
  switch (ev.kind) {
    case "deliver": {
      const env = ev.env;
      return env.kind === "app"
        ? { seq: ev.seq, kind: ev.kind, time: ev.time, node: env.to, from: env.from, msg: env.id, body: env.body }
        : { seq: ev.seq, kind: ev.kind, time: ev.time, node: env.to, from: env.from, signal: env.msg.kind };
    }
    case "timer":
      return { seq: ev.seq, kind: ev.kind, time: ev.time, node: ev.node, signal: ev.tag };
    case "request":
      return { seq: ev.seq, kind: ev.kind, time: ev.time, node: ev.node, body: ev.body };
    case "deadline":
      return { seq: ev.seq, kind: ev.kind, time: ev.time, node: CONTROL, signal: ev.label };
  }
}

export type { Strategy };

/** A link's key in the set of partitions, the same for (a, b) and (b, a). */
function pairKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** One direction of one link incarnation, as reconnectedAt keys it. */
function wireKey(link: number, from: NodeId, to: NodeId): string {
  return `${link}:${from}>${to}`;
}

/** prepareDeadlineMs, checked: none (prepare waits for every node, a crashed one included) or virtual ms > 0. */
function prepareDeadlineOf(opts: UpdateOptions): number | undefined {
  const ms = opts.prepareDeadlineMs;
  if (ms !== undefined && !(typeof ms === "number" && ms > 0 && Number.isFinite(ms))) {
    throw new InvalidOptionError("prepareDeadlineMs", `expected virtual ms > 0, got ${String(ms)} (leave it out to let prepare wait for every node)`);
  }
  return ms;
}

/** options.store (default true); a group-commit window needs the store it commits to. */
function storeOf(options: SystemOptions, groupCommitMax: number): boolean {
  const store = options.store ?? true;
  if (typeof store !== "boolean") throw new InvalidOptionError("store", `expected true or false, got ${JSON.stringify(store)}`);
  if (!store && groupCommitMax > 0) throw new InvalidOptionError("store", "store: false leaves nothing for groupCommitMs to commit; drop groupCommitMs or keep the store");
  return store;
}

/**
 * The disk of a node of a system without a store (store: false): it keeps nothing. A node with durability off logs
 * nothing and numbers nothing, so its only commit is the first (its creation's snapshot), which this discards.
 */
const NO_DISK = new (class NoDisk extends SimulatedDisk {
  override commit(): void {
    // Nothing is kept: there is no crash to come back from.
  }
})();

/** groupCommitMs as a range of whole virtual ms (0: commit every step as it ends). */
function groupCommitOf(options: SystemOptions): { readonly min: number; readonly max: number } {
  const g = options.groupCommitMs ?? 0;
  const range = typeof g === "number" ? { min: g, max: g } : g;
  if (range === null || typeof range !== "object" || !Number.isInteger(range.min) || !Number.isInteger(range.max) || range.min < 0 || range.max < range.min) {
    throw new InvalidOptionError("groupCommitMs", `expected whole virtual ms >= 0, or { min, max } with 0 <= min <= max, got ${JSON.stringify(g)}`);
  }
  return range;
}

