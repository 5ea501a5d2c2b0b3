/**
 * The wall-clock cost of a node process's store commits (one fsync each), kept for `ctl status` and the durable
 * benchmark: the last WINDOW commits' durations, their median and 99th percentile. Bounded memory however long the
 * node runs; the counts of commits and entries are the group commit's own.
 */
import type { CommitBatch, NodeStore } from "../runtime/node-store.js";

const WINDOW = 4096;

export class CommitLatency {
  private readonly samples = new Float64Array(WINDOW);
  private size = 0;
  private next = 0;

  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % WINDOW;
    this.size = Math.min(WINDOW, this.size + 1);
  }

  /** Median and 99th percentile (ms) of the commits in the window; 0 when none was made. */
  percentiles(): { readonly p50Ms: number; readonly p99Ms: number } {
    if (this.size === 0) return { p50Ms: 0, p99Ms: 0 };
    const sorted = this.samples.slice(0, this.size).sort();
    const at = (q: number): number => sorted[Math.min(this.size - 1, Math.ceil(q * this.size) - 1)] as number;
    return { p50Ms: at(0.5), p99Ms: at(0.99) };
  }

  /** `store` whose commits are timed into this window (load, clear and close pass through). */
  timing(store: NodeStore): NodeStore {
    return {
      kind: store.kind,
      load: () => store.load(),
      commit: (batch: CommitBatch) => {
        const t0 = performance.now();
        store.commit(batch);
        this.add(performance.now() - t0);
      },
      clear: () => store.clear(),
      close: () => store.close(),
    };
  }
}
