import type { RunInfo, UpdateFigures } from "../core/control.js";
import type { ControlEnvelope } from "../core/envelope.js";
import { ForgetRefusedError, InvalidOptionError, NoUpdateError, InvalidUpdateError, PrepareFailedError, TakeoverRefusedError, UpdateFailedError, asError, messageOf } from "../core/errors.js";
import { failpoint } from "../core/failpoints.js";
import type { NodeId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Strategy } from "../core/update.js";
import { wallNow, type LamportClock } from "../network/tcp/lamport-clock.js";
import type { Command, UpdateView } from "../network/tcp/protocol.js";
import type { TlsMaterial } from "../network/tcp/sockets.js";
import { forgetRefusal, planUpdate } from "../runtime/control-plane.js";
import { CoordinatorHost, MemoryJournal, type CoordinatorJournal, type CoordinatorOutcome, type ReplayedEnd } from "../runtime/coordinator-host.js";
import { ClusterClient, NodeNotAnsweringError, NodeUnreachableError, type PlaneHandler } from "./cluster-client.js";
import type { Cluster } from "./cluster-file.js";
import { FileJournal, loadLastView, saveLastView } from "./coordinator-journal.js";
import { NodeTrace } from "./node-trace.js";
import { outcomeOfError } from "./update-outcome.js";
import { parsePackage } from "./update-package.js";

/** Prepare's deadline over TCP when `ctl update` names none. */
export const DEFAULT_PREPARE_DEADLINE_MS = 30_000;
/** How long the coordinator waits between attempts to reach a node it lost (a durable node comes back). */
const RECONNECT_MAX_MS = 1000;

export interface UpdateServiceOptions {
  readonly cluster: Cluster;
  readonly self: NodeId;
  /** The node's own TLS material: the coordinator's sessions show the node's certificate. */
  readonly tls: TlsMaterial | undefined;
  readonly clock: LamportClock;
  /** The node's store directory: the journal lives there (none: a volatile node's coordinator journals in memory). */
  readonly storeDir: string | undefined;
  readonly log: (line: string) => void;
  /** The run of the update the node takes part in now, if any (a takeover rebuilds the coordinator from it). */
  readonly partRun?: () => RunInfo | undefined;
}

/**
 * The update's coordinator inside the cluster (DESIGN.md, "Faults and durability"): the root node's daemon takes
 * `ctl update`'s submission, checks it against the cluster, journals it in its store and coordinates it over its own
 * control sessions to every node (itself included), showing its node's certificate. `ctl` only submits and watches:
 * killing it changes nothing. A root killed mid-update replays its journal when it starts again and resumes from each
 * node's position; a node lost meanwhile is waited for (the update never gives up once a node turned new).
 */
export class UpdateService implements PlaneHandler {
  private host: CoordinatorHost | undefined;
  private client: ClusterClient | undefined;
  private readonly journal: CoordinatorJournal & { close?(): void };
  private outcome: UpdateView["outcome"];
  private last: UpdateView | undefined;
  private readonly reconnecting = new Set<NodeId>();
  /**
   * The coordinator's trace (its events are the node "@control"'s): its own segments beside the node's, never cut back
   * when the node recovers (each line is written after its input is journaled and before what it explains leaves),
   * and streamed with the node's own trace.
   */
  readonly trace: NodeTrace;
  private stopped = false;

  constructor(private readonly o: UpdateServiceOptions) {
    this.journal = o.storeDir !== undefined ? new FileJournal(o.storeDir) : new MemoryJournal();
    this.last = o.storeDir !== undefined ? loadLastView(o.storeDir) : undefined;
    this.trace = NodeTrace.open({ dir: o.cluster.traceDir, id: `${o.self}~coordinator`, retention: o.cluster.traceRetention });
  }

  /** After the node listens: resume the update the journal holds, if any. */
  recover(): void {
    const host = CoordinatorHost.recover(this.environment(), this.journal);
    if (host === undefined) return;
    this.host = host;
    this.o.log(`node "${this.o.self}": resuming the coordination of update #${host.run.id} (${host.run.phase}) from its journal`);
    const end = host.replayedEnd;
    if (end !== undefined) this.sayEnd(host, end);
    for (const n of host.run.live()) this.reach(n);
  }

  /** `ctl update`: plan, journal and begin; resolves with the update's id. */
  async submit(cmd: Extract<Command, { kind: "update-submit" }>): Promise<number> {
    const h = this.host;
    if (h !== undefined && !h.ended) {
      throw new InvalidOptionError("update", `update #${h.run.id} is ${h.run.phase} at this root ("${this.o.self}"); follow it with \`ctl watch\`${h.run.phase === "preparing" ? " or give it up with `ctl abort`" : ""}`);
    }
    if (cmd.root !== undefined && cmd.root !== this.o.self) throw new InvalidOptionError("root", `the update was sent to "${this.o.self}" but names root "${cmd.root}"`);
    const pkg = parsePackage(cmd.package);
    if (pkg.manifest.kind !== "update") throw new InvalidUpdateError(`"${pkg.manifest.name}" holds behaviors, not an update`);
    const client = this.sessions();
    const target = await client.updateTarget();
    // Past every id and coordinator link this root used (a takeover's link is past its update's id).
    const id = Math.max(Math.floor(wallNow()), (this.last?.id ?? 0) + 1, (h?.run.id ?? 0) + 1, (h?.link ?? 0) + 1);
    const plan = planUpdate(target, [{ from: String(pkg.manifest.from), to: String(pkg.manifest.to) }], { strategy: cmd.strategy as Strategy, root: this.o.self }, id, wallNow());
    // Every node reachable now, or nothing is journaled and nothing sent.
    await Promise.all(plan.run.nodes.map((n) => client.connect(n)));
    if (this.host !== h) throw new InvalidOptionError("update", "another update was submitted to this root meanwhile; follow it with `ctl watch`");
    this.outcome = undefined;
    this.host = CoordinatorHost.start(this.environment(), this.journal, plan, { kind: "package", text: cmd.package }, {
      link: id,
      numbered: this.o.storeDir !== undefined,
      deadlineMs: cmd.deadlineMs ?? DEFAULT_PREPARE_DEADLINE_MS,
    });
    this.o.log(`node "${this.o.self}": coordinating update #${id} (${plan.run.strategy}, ${plan.run.nodes.length} nodes)`);
    return id;
  }

  /**
   * `ctl takeover --root SELF` (DESIGN.md, "Faults and durability"): the running update's root `lost` is lost for good
   * with its coordinator and journal; this node, still in the update, coordinates it from now on. The lost root is
   * forgotten (refused if some live node of the update could no longer be reached from here), every live node is asked
   * for its part, and the update is aborted (some node never prepared), started again here (the protocol reached no
   * live node) or carried on. Journaled here like any update this node coordinates.
   */
  async takeover(): Promise<UpdateView> {
    const self = this.o.self;
    const h = this.host;
    if (h !== undefined && !h.ended) throw new TakeoverRefusedError(self, `"${self}" coordinates update #${h.run.id} (${h.run.phase}) already; follow it with \`ctl watch\``);
    const info = this.o.partRun?.();
    if (info === undefined) throw new TakeoverRefusedError(self, `"${self}" never took part in an update; take over at a node of the update (\`ctl status\` shows them)`);
    const lost = info.root;
    if (lost === self) throw new TakeoverRefusedError(self, `"${self}" is the root of update #${info.id} itself`);
    const client = this.sessions();
    await this.assertLost(client, lost, {
      silent: () => new TakeoverRefusedError(self, `the root "${lost}" of update #${info.id} accepts connections but does not answer (a stopped or overloaded process?); kill its process first: an update is taken over once its root is lost for good`),
      running: () => new TakeoverRefusedError(self, `the root "${lost}" of update #${info.id} is running; it coordinates the update itself (\`ctl watch\` follows it)`),
    });
    const topology = await client.linkedTopology();
    const run = { ...info, root: self };
    const live = info.nodes.filter((n) => n !== lost);
    const why = forgetRefusal({ topology, run, live }, lost);
    if (why !== undefined) throw new TakeoverRefusedError(self, why);
    await Promise.all(live.map((n) => client.connect(n)));
    if (this.host !== h) throw new TakeoverRefusedError(self, "another update began at this node meanwhile; follow it with `ctl watch`");
    // A link of its own, past the update's id (the lost coordinator's) and past every id this node used.
    const link = Math.max(Math.floor(wallNow()), info.id + 1, (this.last?.id ?? 0) + 1);
    this.outcome = undefined;
    this.record({ kind: "forget", t: wallNow(), node: lost, update: info.id });
    this.host = CoordinatorHost.takeOver(this.environment(), this.journal, run, lost, { link, numbered: this.o.storeDir !== undefined });
    this.o.log(`node "${self}": took update #${info.id} (${info.strategy}) over from its lost root "${lost}"`);
    return this.view() as UpdateView;
  }

  /**
   * `ctl forget NODE` (DESIGN.md, "Faults and durability"): `node`, a node of the running update, is lost for good
   * (its process dead, its store gone). Refused when it answers (or accepts connections: kill it first), when it is
   * this root (takeover is for that), and when its loss would cut live nodes of the update off from this root. Else
   * traced and journaled: in prepare the update aborts; past it every live node is told ("gone") and drops its link.
   */
  async forgetNode(node: NodeId): Promise<UpdateView> {
    const h = this.host;
    if (h === undefined || h.ended) throw new NoUpdateError("forget", `no update is running at this root ("${this.o.self}")`);
    const run = h.run;
    if (!run.nodes.includes(node)) throw new ForgetRefusedError(node, `it is not a node of update #${run.id} (${run.nodes.join(", ")})`);
    if (run.forgotten.has(node)) return this.view() as UpdateView;
    const client = this.sessions();
    await this.assertLost(client, node, {
      silent: () => new ForgetRefusedError(node, `it accepts connections but does not answer (a stopped or overloaded process?); kill its process first: a node is forgotten once it is lost for good`),
      running: () => new ForgetRefusedError(node, `it is running (it answers the root "${this.o.self}"); a node is forgotten once it is lost for good (its process dead, its store gone); \`ctl destroy ${node}\` removes a running one`),
    });
    const why = forgetRefusal({ topology: await client.linkedTopology(), run: run.info, live: run.live() }, node);
    if (why !== undefined) throw new ForgetRefusedError(node, why);
    if (this.host !== h || h.ended) throw new NoUpdateError("forget", `update #${run.id} ended meanwhile; forget "${node}" again (outside an update it is destroyed where it lies)`);
    if (run.forgotten.has(node)) return this.view() as UpdateView;
    // Traced before its input is journaled and run: the abort or the "gone" notices it causes come after it.
    this.record({ kind: "forget", t: wallNow(), node, update: run.id });
    h.forget(node);
    this.o.log(`node "${this.o.self}": update #${run.id}: node "${node}" was forgotten (lost for good); ${run.phase === "aborted" ? "the update is aborted (it was in prepare)" : "the update goes on without it"}`);
    return this.view() as UpdateView;
  }

  /**
   * A node is lost for good only when nothing listens at its address: one that answers runs, and one that accepts
   * connections and stays silent may be a stopped process (forget and takeover refuse both, with `refuse`'s errors).
   */
  private async assertLost(client: ClusterClient, node: NodeId, refuse: { readonly silent: () => Error; readonly running: () => Error }): Promise<void> {
    try {
      await client.connect(node);
    } catch (e) {
      if (e instanceof NodeNotAnsweringError) throw refuse.silent();
      if (e instanceof NodeUnreachableError) return;
      throw e;
    }
    throw refuse.running();
  }

  /** `ctl abort`: only while the update prepares. */
  abort(reason: string): UpdateView {
    const h = this.host;
    if (h === undefined || h.ended) throw new NoUpdateError("abort", `no update is running at this root ("${this.o.self}")`);
    h.abort(reason);
    return this.view() as UpdateView;
  }

  /** `ctl resume`: the halted update's nodes take the corrected package. */
  resume(pkgText: string): void {
    const h = this.host;
    if (h === undefined || h.run.phase !== "halted") throw new NoUpdateError("resume", `no update is halted at this root ("${this.o.self}")`);
    const pkg = parsePackage(pkgText);
    const info = h.run.info;
    const from = [...new Set(Object.values(info.from))];
    if (pkg.manifest.kind !== "update" || !from.includes(String(pkg.manifest.from))) {
      throw new InvalidUpdateError(`resume: the package converts ${String(pkg.manifest.from)} -> ${String(pkg.manifest.to)}, not the halted update's versions (${from.join(", ")} -> ...)`);
    }
    this.outcome = undefined;
    h.resume({ kind: "package", text: pkgText });
    // The saved view no longer says halted: a second halt, if the root dies before saving it, is told from the first.
    this.remember();
  }

  /** The update this node coordinates and that has not ended (its journal is in this store: it does not move). */
  coordinating(): number | undefined {
    const h = this.host;
    return h !== undefined && !h.ended ? h.run.id : undefined;
  }

  /** How the update stands (the running one, or the last). */
  view(): UpdateView | null {
    const h = this.host;
    if (h === undefined) return this.last ?? null;
    const run = h.run;
    const unprepared = new Set(h.coordinator.unprepared());
    const view: UpdateView = {
      id: run.id,
      root: run.info.root,
      strategy: run.info.strategy,
      phase: run.phase,
      nodes: run.nodes,
      prepared: run.phase === "preparing" || run.phase === "aborted" ? run.nodes.filter((n) => !unprepared.has(n) && run.phase === "preparing") : run.nodes,
      new: [...run.turnedNewAt.keys()].sort(),
      halted: [...run.halted].map(([node, error]) => ({ node, error })),
      waiting: h.ended ? [] : run.live().filter((n) => !this.client?.connected(n)),
      ...(h.deadlineMs !== undefined ? { deadlineMs: h.deadlineMs } : {}),
      begunAt: run.info.requestedAt,
      ...(this.outcome !== undefined ? { outcome: this.outcome } : {}),
      ...(run.forgotten.size > 0 ? { forgotten: [...run.forgotten].sort() } : {}),
    };
    return view;
  }

  /** The node was destroyed: nothing of its coordination is kept (a node created again under its id starts empty). */
  destroyed(): void {
    this.journal.clear();
  }

  close(): void {
    this.stopped = true;
    this.host?.close();
    this.client?.close();
    this.journal.close?.();
    this.trace.close();
  }

  // ---- PlaneHandler: the coordinator's sessions to the nodes ----

  hello(node: NodeId): { readonly recv: number; readonly chan?: string } {
    const h = this.host;
    return h === undefined ? { recv: 0 } : { recv: h.applied(node), chan: String(h.link) };
  }

  opened(node: NodeId, recv: number): readonly ControlEnvelope[] {
    return this.host?.unacked(node, recv) ?? [];
  }

  plane(_node: NodeId, env: ControlEnvelope): void {
    failpoint("coordinator.report-received");
    this.host?.report(env);
  }

  planeAck(node: NodeId, link: number, seq: number): void {
    if (link === this.host?.link) this.host.acked(node, seq);
  }

  closed(node: NodeId): void {
    const h = this.host;
    if (this.stopped || h === undefined || !h.run.live().includes(node)) return;
    if (h.ended && h.pending(node) === 0) return;
    if (this.o.storeDir === undefined && !h.ended) return this.lost(h, node);
    this.reach(node);
  }

  // ---- inside ----

  /** The control sessions this coordinator uses (made on first use), showing the node's certificate. */
  private sessions(): ClusterClient {
    this.client ??= new ClusterClient(this.o.cluster, {
      ...(this.o.tls !== undefined ? { tls: this.o.tls } : {}),
      coordinator: { name: this.o.self, clock: this.o.clock, plane: this },
    });
    return this.client;
  }

  /** Keep trying to reach a node the update needs (a durable node comes back from its store), backing off. */
  private reach(node: NodeId): void {
    if (this.reconnecting.has(node)) return;
    this.reconnecting.add(node);
    void (async () => {
      for (let attempt = 1; !this.stopped; attempt++) {
        const h = this.host;
        // A forgotten node is never waited for again (its process is dead for good).
        if (h === undefined || (h.ended && h.pending(node) === 0) || h.run.forgotten.has(node)) break;
        try {
          await this.sessions().connect(node);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, Math.min(RECONNECT_MAX_MS, 50 * attempt)));
        }
      }
      this.reconnecting.delete(node);
    })();
  }

  /** A volatile node's session closed during the update: its state is gone with it, so the update cannot finish. */
  private lost(h: CoordinatorHost, node: NodeId): void {
    const why = "its connection closed, and a node without a store restarts empty";
    try {
      if (h.run.phase === "preparing") h.coordinator.abort(new PrepareFailedError(node, why));
      else {
        h.coordinator.giveUp();
        this.finished(h, { error: new UpdateFailedError(h.run.id, node, why) });
      }
    } catch (e) {
      this.o.log(`node "${this.o.self}": update #${h.run.id}: ${messageOf(e)}`);
    }
  }

  private environment() {
    return {
      now: () => wallNow(),
      tracing: true,
      record: (ev: TraceEvent) => {
        if (ev.kind === "update-end") failpoint("coordinator.before-update-end");
        this.record(ev);
      },
      send: (env: ControlEnvelope) => {
        failpoint("coordinator.before-send");
        this.client?.sendPlane(env.to, env);
      },
      ack: (node: NodeId, seq: number) => this.client?.sendPlaneAck(node, seq),
      finished: (outcome: CoordinatorOutcome) => {
        if (this.host !== undefined) this.finished(this.host, outcome);
      },
      setTimer: (ms: number, fire: () => void) => {
        const t = setTimeout(fire, ms);
        return () => clearTimeout(t);
      },
    };
  }

  private finished(h: CoordinatorHost, outcome: CoordinatorOutcome): void {
    if ("report" in outcome) {
      const figures: Record<string, UpdateFigures> = Object.fromEntries(h.run.figures);
      this.outcome = { ok: true, report: outcome.report, figures };
    } else this.outcome = outcomeOfError(asError(outcome.error));
    this.remember();
    const detail = "report" in outcome ? "completed" : messageOf(outcome.error);
    this.o.log(`node "${this.o.self}": update #${h.run.id} ${h.run.phase === "halted" ? "halted" : "ended"}: ${detail}`);
  }

  /** Keep the view as it is now as the last one (on disk for a durable root): what a restarted root compares with. */
  private remember(): void {
    const view = this.view();
    if (view === null) return;
    this.last = view;
    if (this.o.storeDir !== undefined) saveLastView(this.o.storeDir, view);
  }

  /**
   * A restarted root whose journal ended (or halted) the update: the outcome its watchers wait for is the saved one if
   * the process saved it before it died; if it died after journaling the deciding input and before that, the update-end
   * is traced now and the outcome saved (a process that died after tracing it has the update-end twice, which says the
   * same thing twice).
   */
  private sayEnd(h: CoordinatorHost, end: ReplayedEnd): void {
    const last = this.last;
    const run = h.run;
    if (last?.id === run.id && last.phase === run.phase && last.halted.length === run.halted.size && last.outcome !== undefined) {
      this.outcome = last.outcome;
      return;
    }
    if (end.event !== undefined) this.record(end.event);
    this.finished(h, end.outcome);
  }

  /** The coordinator's events, stamped by this process's clock, on disk before what they explain leaves. */
  private record(ev: TraceEvent): void {
    this.trace.record(ev, this.o.clock.tick());
    this.trace.flush();
  }

}
