/**
 * Where each node runs, and the moves under way (docs/design.md "Moving a node"; the paper's section 2, Polylith's change
 * of geometry). A location is a label on the simulated network (an address over TCP). Every location a node takes
 * gets a higher location epoch: a move to D under epoch e+1 that is interrupted before D committed the node's record
 * is fenced when the source comes back (it takes e+2 where it is), so that move's record can never start a second
 * copy of the node. Pure bookkeeping: the network stops and starts the node's host.
 */
import type { NodeId } from "../core/ids.js";

/** Where every node starts. */
export const ORIGIN = "origin";

export interface Location {
  readonly at: string;
  readonly epoch: number;
}

/** A move under way: the node runs nowhere until it arrives (or its source crashes first). */
export interface Transit {
  readonly from: string;
  readonly to: string;
  readonly locationEpoch: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class Locations {
  private readonly where = new Map<NodeId, Location>();
  private readonly moving_ = new Map<NodeId, Transit>();
  /** Moves interrupted by a crash of their source, until the source comes back (its restart fences them). */
  private readonly interrupted = new Map<NodeId, Transit>();

  of(id: NodeId): Location {
    return this.where.get(id) ?? { at: ORIGIN, epoch: 0 };
  }

  /** Is some move under way (its caller waits on the system)? */
  moving(): boolean {
    return this.moving_.size > 0;
  }

  /** The nodes moving now, by name, with where to. */
  movingNodes(): string[] {
    return [...this.moving_.entries()].map(([id, t]) => `"${id}" to "${t.to}"`).sort();
  }

  transit(id: NodeId): Transit | undefined {
    return this.moving_.get(id);
  }

  /** The node leaves its location for `to` under the next location epoch. */
  leave(id: NodeId, to: string, waiter: Pick<Transit, "resolve" | "reject">): Transit {
    const here = this.of(id);
    const t: Transit = { from: here.at, to, locationEpoch: here.epoch + 1, ...waiter };
    this.moving_.set(id, t);
    return t;
  }

  /** The record reached `t.to` and was committed there: the node lives there now. False: the move was called off. */
  arrive(id: NodeId, t: Transit): boolean {
    if (this.moving_.get(id) !== t) return false;
    this.moving_.delete(id);
    this.where.set(id, { at: t.to, epoch: t.locationEpoch });
    return true;
  }

  /** The source crashed before the destination committed: the node is down where it was. */
  interrupt(id: NodeId): Transit | undefined {
    const t = this.moving_.get(id);
    if (t === undefined) return undefined;
    this.moving_.delete(id);
    this.interrupted.set(id, t);
    return t;
  }

  /**
   * The source of an interrupted move is back: it stays where it was, under an epoch above the move's, which the
   * destination refuses from now on. Undefined when no move of it was interrupted.
   */
  fence(id: NodeId): Location | undefined {
    const t = this.interrupted.get(id);
    if (t === undefined) return undefined;
    this.interrupted.delete(id);
    const fenced = { at: t.from, epoch: t.locationEpoch + 1 };
    this.where.set(id, fenced);
    return fenced;
  }

  /** The node is gone (destroyed or forgotten): a node created later under its id starts at the origin. */
  remove(id: NodeId): void {
    this.where.delete(id);
    this.interrupted.delete(id);
  }

  /** Every move under way, taken (the system closes). */
  takeAll(): Transit[] {
    const all = [...this.moving_.values()];
    this.moving_.clear();
    return all;
  }
}
