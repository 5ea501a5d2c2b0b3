/**
 * Where a node process stands in its node's life of locations (docs/design.md "Moving a node"), kept durably in the
 * bookmark every commit carries (so it is written even while an update keeps the node from snapshotting):
 *
 * - `epoch`: this location's epoch. Every location a node takes has a higher one; neighbours accept a node's hello
 *   only at the highest epoch they know of it, so an old location can never serve again once a newer one was seen.
 * - `moving`: a move out of here was committed: the node applies nothing more here (its record travels).
 * - `moved`: the move completed: this store is an old location, and a process started on it refuses to run.
 * - `peers`: neighbours that moved, with their new address and location epoch (a restart dials them there).
 */
import type { NodeId } from "../core/ids.js";

export interface Relocation {
  readonly address: string;
  readonly epoch: number;
}

/**
 * A neighbour's location as this node knows it. `guessed`: learnt from its hello alone (the epoch is sure, the
 * address is where this node dialled it before, perhaps its old one) until ctl's relocate says where it is.
 */
export interface PeerLocation extends Relocation {
  readonly guessed?: boolean;
}

export interface LocationState {
  readonly epoch: number;
  readonly moving?: Relocation;
  readonly moved?: Relocation;
  readonly peers?: Readonly<Record<NodeId, PeerLocation>>;
  /** In a record a move carries: the address the node moved from (its start there traces an arrival). */
  readonly arrivedFrom?: string;
}

export const HOME: LocationState = { epoch: 0 };

/** The location kept in a commit's bookmark (a store record's `mark`), or HOME for a record without one. */
export function locationIn(mark: unknown): LocationState {
  const l = typeof mark === "object" && mark !== null ? (mark as { location?: unknown }).location : undefined;
  if (typeof l !== "object" || l === null || !Number.isInteger((l as { epoch?: unknown }).epoch)) return HOME;
  return l as LocationState;
}

/** A neighbour's location epoch as far as this node knows (0: it never moved). */
export function peerEpoch(l: LocationState, peer: NodeId): number {
  return l.peers?.[peer]?.epoch ?? 0;
}

/** `peer` moved to `to`: kept unless an equal or higher epoch is known already. */
export function withPeer(l: LocationState, peer: NodeId, to: PeerLocation): LocationState {
  if (to.epoch <= peerEpoch(l, peer)) return l;
  return { ...l, peers: { ...l.peers, [peer]: to } };
}
