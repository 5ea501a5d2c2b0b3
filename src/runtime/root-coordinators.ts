import type { RunInfo, UpdateCode } from "../core/control.js";
import type { NodeId } from "../core/ids.js";
import type { ChannelsSnapshot } from "./channels.js";
import type { UpdatePlan } from "./control-plane.js";
import { CoordinatorHost, type CoordinatorHostEnvironment, type CoordinatorInput, type CoordinatorJournal } from "./coordinator-host.js";

/** A coordinator where it lives: in its root's process, stopped while that root is down. */
export interface PlacedCoordinator {
  readonly root: NodeId;
  readonly host: CoordinatorHost;
  /** Its root runs: it takes reports and acknowledgements (down: what its journal holds, waiting for the restart). */
  up: boolean;
}

/** What the process that holds the roots gives their coordinators. */
export interface RootsEnvironment {
  /** The environment of the coordinator of update `update` in `root`'s process. */
  hostEnv(root: NodeId, update: number): CoordinatorHostEnvironment;
  /** `root`'s journal, beside its node record on its durable store. */
  journal(root: NodeId): CoordinatorJournal;
}

/**
 * The update coordinators of a simulated system, each in its root's process (DESIGN.md, "Faults and durability"):
 * the running update's, and those of ended updates whose last envelopes some node has not acknowledged yet (an abort
 * to a node that was down). Each has its own link: the numbered channels of one coordinator instance, from 1, so a
 * node tells a later coordinator's envelopes from an earlier one's. A root's crash stops its coordinators (their
 * timers too); its restart rebuilds the one its journal holds.
 */
export class RootCoordinators {
  private readonly byLink = new Map<number, PlacedCoordinator>();
  private lastLink = 0;

  constructor(private readonly env: RootsEnvironment) {}

  /** How many coordinator links were ever made: a node created now has none of them. */
  get links(): number {
    return this.lastLink;
  }

  /** A new update's coordinator at its (running) root: its begin journaled, its prepares sent. */
  start(plan: UpdatePlan, code: UpdateCode, deadlineMs: number | undefined): CoordinatorHost {
    const root = plan.run.root;
    const link = ++this.lastLink;
    const opts = { link, numbered: true, ...(deadlineMs !== undefined ? { deadlineMs } : {}) };
    const host = CoordinatorHost.start(this.env.hostEnv(root, plan.run.id), new OwnJournal(this.env.journal(root), link, false), plan, code, opts);
    this.byLink.set(link, { root, host, up: true });
    return host;
  }

  /**
   * A running update whose root was lost for good, taken over by a coordinator at the run's new root (`run.root`),
   * on a new link: it forgets the lost root and rebuilds the update from the nodes' parts.
   */
  takeOver(run: RunInfo, lost: NodeId, earlier: readonly NodeId[] = []): CoordinatorHost {
    const link = ++this.lastLink;
    const host = CoordinatorHost.takeOver(this.env.hostEnv(run.root, run.id), new OwnJournal(this.env.journal(run.root), link, false), run, lost, { link, numbered: true, earlier });
    this.byLink.set(link, { root: run.root, host, up: true });
    return host;
  }

  /** The root stops: its coordinators with it (what they did is journaled; their timers are cancelled). */
  crashed(root: NodeId): void {
    for (const c of this.byLink.values()) {
      if (c.root !== root || !c.up) continue;
      c.up = false;
      c.host.close();
    }
  }

  /** The root is back: the coordinator its journal holds, rebuilt by replay (undefined: it holds none). */
  recover(root: NodeId): CoordinatorHost | undefined {
    // Its other coordinators were of earlier updates, which its journal no longer holds: gone with the process.
    for (const [link, c] of this.byLink) if (c.root === root) this.byLink.delete(link);
    const journal = this.env.journal(root);
    const first = journal.load()[0];
    if (first?.kind !== "begin") return undefined;
    const host = CoordinatorHost.recover(this.env.hostEnv(root, first.run.id), new OwnJournal(journal, first.link, true));
    if (host !== undefined) this.byLink.set(host.link, { root, host, up: true });
    return host;
  }

  /** The root was destroyed: its coordinators are gone (they are all over: a configuration command waits for an update). */
  destroyed(root: NodeId): void {
    for (const [link, c] of this.byLink) if (c.root === root) this.byLink.delete(link);
  }

  /** The running coordinator of `link`, if its root is up. */
  live(link: number): CoordinatorHost | undefined {
    const c = this.byLink.get(link);
    return c?.up === true ? c.host : undefined;
  }

  /** Is the coordinator of `link` stopped with its root? */
  isDown(link: number): boolean {
    return this.byLink.get(link)?.up === false;
  }

  /** The running coordinators, oldest first (an earlier update's abort reaches a node before a later prepare). */
  running(): readonly CoordinatorHost[] {
    return [...this.byLink.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, c]) => (c.up ? [c.host] : []));
  }

  /** `node` applied the envelopes of coordinator `link` up to `seq`; an ended coordinator nobody owes anything is forgotten. */
  acked(node: NodeId, link: number, seq: number): void {
    const host = this.live(link);
    if (host === undefined) return; // its root is down: the node's position is asked again at the restart
    host.acked(node, seq);
    this.forgetIfSettled(link);
  }

  /** After a resend from the nodes' positions: an ended coordinator with nothing unacknowledged is of no use. */
  forgetIfSettled(link: number): void {
    const c = this.byLink.get(link);
    if (c !== undefined && c.up && c.host.ended && c.host.run.live().every((n) => c.host.pending(n) === 0)) this.byLink.delete(link);
  }

  /** Every coordinator's channels to the nodes (frames on every link), for the explorer; `inbound`: the report positions. */
  snapshot(inbound: ChannelsSnapshot["inbound"]): ChannelsSnapshot {
    const links = [...this.byLink.entries()].sort((a, b) => a[0] - b[0]);
    return { outbound: links.flatMap(([, c]) => c.host.channelsSnapshot().outbound), inbound };
  }
}

/**
 * One coordinator's hold on its root's journal. The journal holds the root's latest update; an earlier update's
 * coordinator still waiting for acknowledgements (an abort to a node that was down) must not clear it once settled.
 */
class OwnJournal implements CoordinatorJournal {
  constructor(
    private readonly journal: CoordinatorJournal,
    private readonly link: number,
    /** The journal holds this coordinator's begin (false: it is about to write it, after clearing what was there). */
    private began: boolean,
  ) {}

  load(): readonly CoordinatorInput[] {
    return this.journal.load();
  }

  append(input: CoordinatorInput): void {
    if (input.kind === "begin") this.began = true;
    this.journal.append(input);
  }

  clear(): void {
    const first = this.journal.load()[0];
    if (this.began && first?.kind === "begin" && first.link !== this.link) return; // a later update's now
    this.journal.clear();
  }
}
