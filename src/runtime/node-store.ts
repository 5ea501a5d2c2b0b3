/**
 * A node's durable store: what survives a crash. The host keeps its durable
 * record as the last snapshot plus the log of the inputs it committed since
 * (DESIGN.md, "Faults and durability": an input log plus periodic snapshots,
 * not a state per event). Recovery restores the snapshot and replays the log;
 * everything else (channel positions, the outbox, pending timers, request
 * records, a strategy agent's state) is rebuilt by that replay.
 *
 * Two implementations behind this one interface, as Effect's cluster has a
 * memory and a SQL message storage: a simulated disk (runtime/simulated-disk.ts)
 * and a real embedded database for `liveswap node` (deploy/). Values are plain
 * data (what msgpackr carries with `structuredClone: true`: Map, Set,
 * undefined); a real store encodes them with its record codec, which carries
 * a format version.
 */
export interface StoredRecord {
  /** The last snapshot committed, or undefined when the node has none yet (its log then starts at its creation). */
  readonly snapshot: unknown;
  /** The inputs committed after that snapshot, in order. */
  readonly log: readonly unknown[];
  /** The bookmark of the last commit that carried one (see CommitBatch.mark). */
  readonly mark?: unknown;
}

/** One group commit: many events, one durable write. */
export interface CommitBatch {
  /** Log entries to append, in order. */
  readonly entries: readonly unknown[];
  /**
   * A snapshot of the node after `entries`: when given, it replaces the stored snapshot and the log is emptied
   * (what the snapshot covers is no longer needed).
   */
  readonly snapshot?: unknown;
  /**
   * The network's bookmark, committed atomically with the batch (over TCP: the length of the node's trace file once
   * the batch's trace lines are written, so that a recovery cuts the file back to what was committed).
   */
  readonly mark?: unknown;
}

export interface NodeStore {
  /** "simulated", "sqlite", "lmdb": shown by `ctl status` and the benchmarks. */
  readonly kind: string;
  /** What was committed; undefined for an empty (new) store. */
  load(): StoredRecord | undefined;
  /**
   * Make the batch durable before returning (one fsync). An error is fatal: the caller stops the node and never
   * retries (a failed fsync may have dropped the dirty pages it was to write, as PostgreSQL learned).
   */
  commit(batch: CommitBatch): void;
  /** Remove everything: the node was destroyed (a node later created with its id starts empty). */
  clear(): void;
  close(): void;
}
