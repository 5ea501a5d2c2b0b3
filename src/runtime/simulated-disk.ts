import type { CommitBatch, NodeStore, StoredRecord } from "./node-store.js";

/**
 * The simulated network's disk: a node's durable record as plain values in
 * memory, which survives System.crash and loses what was not committed (the
 * host's uncommitted steps are simply never handed to it). Values are kept by
 * reference: they are immutable (states, envelopes, snapshots built fresh).
 */
export class SimulatedDisk implements NodeStore {
  readonly kind = "simulated";
  private snapshot: unknown = undefined;
  private log: unknown[] = [];
  private mark: unknown = undefined;
  /** Commits made (the simulated fsyncs), and entries they carried: the group-commit figures. */
  commits = 0;
  entries = 0;

  load(): StoredRecord | undefined {
    if (this.snapshot === undefined && this.log.length === 0) return undefined;
    return { snapshot: this.snapshot, log: [...this.log], ...(this.mark !== undefined ? { mark: this.mark } : {}) };
  }

  commit(batch: CommitBatch): void {
    this.commits++;
    this.entries += batch.entries.length;
    if (batch.mark !== undefined) this.mark = batch.mark;
    if (batch.snapshot !== undefined) {
      // What the snapshot covers, this batch included, is no longer needed.
      this.snapshot = batch.snapshot;
      this.log = [];
      return;
    }
    for (const e of batch.entries) this.log.push(e);
  }

  /** Entries in the log (since the last snapshot): what a recovery would replay. */
  get logLength(): number {
    return this.log.length;
  }

  clear(): void {
    this.snapshot = undefined;
    this.mark = undefined;
    this.log = [];
  }

  close(): void {
    // Nothing to release: the record lives as long as the system.
  }
}
