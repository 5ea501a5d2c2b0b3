/**
 * A replica's pending global reads by id, as a persistent map in plain data.
 *
 * Why not one record: the state is an immutable value (rollback keeps earlier states, the explorer compares them),
 * so every read and echo copied the whole record of pending reads, and a replica paid more per message the more
 * reads were pending. In real time that turned any stall into a collapse: a backlog of a second made each message
 * cost milliseconds (8.5 ms with 1,000 pending), so the backlog grew instead of draining. Here the reads are spread
 * over BUCKETS small records by a hash of their id: a change copies the bucket list and one bucket.
 *
 * Why not a class or a Map: the state must stay plain data that every codec carries (the TCP wire, the durable
 * store, snapshots and checkpoints) and that the checker and the explorer can compare as it is.
 */
import type { NodeId, RequestId } from "../../core/ids.js";

/** A global read this replica takes part in, waiting for its neighbours' echoes. */
export interface PendingRead {
  /** Null at the node that started the read. */
  readonly parent: NodeId | null;
  /** The outside request to answer, at the origin. */
  readonly request: RequestId | null;
  readonly waiting: readonly NodeId[];
  readonly results: Readonly<Record<NodeId, string | null>>;
}

export interface PendingReads {
  readonly size: number;
  readonly buckets: readonly Readonly<Record<string, PendingRead>>[];
}

/** Enough that a bucket stays small up to thousands of pending reads; few enough that copying the list is cheap. */
const BUCKETS = 32;

/** FNV-1a over the id's UTF-16 units: cheap and stable across processes (the same bucket on every replica and replay). */
function bucketOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BUCKETS;
}

export function emptyPendingReads(): PendingReads {
  return { size: 0, buckets: Array.from({ length: BUCKETS }, () => ({})) };
}

export function getPendingRead(p: PendingReads, id: string): PendingRead | undefined {
  const bucket = p.buckets[bucketOf(id)];
  return bucket !== undefined && Object.hasOwn(bucket, id) ? bucket[id] : undefined;
}

/** A copy of `p` with `id` set to `read` (added or replaced). */
export function setPendingRead(p: PendingReads, id: string, read: PendingRead): PendingReads {
  const b = bucketOf(id);
  const bucket = p.buckets[b] ?? {};
  const buckets = p.buckets.slice();
  buckets[b] = { ...bucket, [id]: read };
  return { size: Object.hasOwn(bucket, id) ? p.size : p.size + 1, buckets };
}

/** A copy of `p` without `id` (`p` itself when it has no such read). */
export function deletePendingRead(p: PendingReads, id: string): PendingReads {
  const b = bucketOf(id);
  const bucket = p.buckets[b];
  if (bucket === undefined || !Object.hasOwn(bucket, id)) return p;
  const { [id]: _gone, ...rest } = bucket;
  const buckets = p.buckets.slice();
  buckets[b] = rest;
  return { size: p.size - 1, buckets };
}
