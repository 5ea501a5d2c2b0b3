/**
 * A bounded, open-loop client load on a replicated-db cluster over TCP: global reads from one node at a fixed rate,
 * and local reads and writes at every replica. It is the load of liveswap chaos and of the realtime bench.
 *
 * Writes: every entry has one writer (replica `entry % n`) and at most one write in flight, so the entry's last
 * acknowledged write is the value every replica must end with. A write or a global read whose answer does not come
 * (a node killed, stopped or cut off) is retried with the same request id until it is answered or the load stops:
 * the node runs it once whatever the number of attempts (Jepsen's indeterminate operation); local reads are retried
 * the same way. A new write to an entry
 * waits for the answer to the one before, since two writes on two connections could run in either order. A request
 * the node refused (it answered with an error: busy, not running) ran nothing and is not retried.
 */
import { randomUUID } from "node:crypto";
import { Rng } from "../core/rng.js";
import type { ClusterClient } from "../deploy/cluster-client.js";
import { RemoteError } from "../deploy/errors.js";

export type DbOpKind = "global-read" | "read" | "write";

/** One request of the load and what became of it; times are wall-clock ms (Date.now's scale). */
export interface DbOp {
  readonly kind: DbOpKind;
  readonly node: string;
  readonly entry: number;
  readonly value?: string;
  readonly sentAt: number;
  doneAt?: number;
  /** ok: answered (a global read with a null answer is `null`); refused: the node answered with an error (nothing ran). */
  outcome: "pending" | "ok" | "null" | "refused" | "unanswered";
  attempts: number;
  error?: string;
}

/** An answered global read (with or without a null): what throughput and latency count. Its `doneAt` is set. */
export function answeredGlobalRead(op: DbOp): boolean {
  return op.kind === "global-read" && (op.outcome === "ok" || op.outcome === "null");
}

export interface DbLoadOptions {
  readonly replicas: readonly string[];
  /** Where global reads start (default: the first replica). */
  readonly globalReader?: string;
  /** Global reads a second, open loop (one every 1000/rate ms whatever the answers); 0: none. */
  readonly globalReadsPerSec: number;
  /** Local operations a second at each replica: reads, and writes (`writeShare` of them, default 1 in 20). */
  readonly localOpsPerSec: number;
  readonly writeShare?: number;
  readonly seed: number;
  /** One attempt's bound (ms) before the same request is sent again (default 5,000). */
  readonly attemptMs?: number;
  /** Requests in flight at most; beyond it a due operation is skipped and counted (default 2,000). */
  readonly maxInFlight?: number;
  /** Entries of the database (default 38, the scenario's). */
  readonly entries?: number;
}

export interface DbLoadResult {
  readonly ops: readonly DbOp[];
  /** Each entry's last acknowledged write (entries with an unanswered write after it are left out: see `indeterminate`). */
  readonly acked: ReadonlyMap<number, string>;
  /** Entries whose last write was never answered: it may or may not have run. */
  readonly indeterminate: readonly number[];
  /** Operations skipped because `maxInFlight` were in flight. */
  readonly skipped: number;
}

export interface DbLoad {
  /** The operations so far (live: a report may read them during the run). */
  readonly ops: readonly DbOp[];
  /** Stop issuing; wait up to `drainMs` for what is in flight (retrying), then give up on the rest. */
  stop(drainMs?: number): Promise<DbLoadResult>;
}

const TICK_MS = 5;

/** Start the load; it runs until stop(). */
export function startDbLoad(client: ClusterClient, o: DbLoadOptions): DbLoad {
  return new LoadRun(client, o);
}

class LoadRun implements DbLoad {
  readonly ops: DbOp[] = [];
  private readonly rng: Rng;
  private readonly acked = new Map<number, string>();
  /** Entries with a write in flight (the next one waits). */
  private readonly writing = new Set<number>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly started = performance.now();
  private globalDue = 0;
  private readonly localDue: number[];
  private skipped = 0;
  private writes = 0;
  private stopping = false;
  private giveUpAt = Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: ClusterClient,
    private readonly o: DbLoadOptions,
  ) {
    this.rng = new Rng(o.seed);
    this.localDue = o.replicas.map(() => 0);
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Issue what is due by now at each rate (at most a second's worth at once, after a stall of this process). */
  private tick(): void {
    const elapsed = (performance.now() - this.started) / 1000;
    const dueGlobal = Math.floor(elapsed * this.o.globalReadsPerSec);
    for (let k = 0; this.globalDue < dueGlobal && k < Math.max(1, this.o.globalReadsPerSec); k++, this.globalDue++) this.globalRead();
    this.globalDue = Math.max(this.globalDue, dueGlobal);
    const dueLocal = Math.floor(elapsed * this.o.localOpsPerSec);
    this.o.replicas.forEach((node, i) => {
      for (let k = 0; (this.localDue[i] as number) < dueLocal && k < Math.max(1, this.o.localOpsPerSec); k++) {
        this.localDue[i] = (this.localDue[i] as number) + 1;
        this.localOp(node, i);
      }
      this.localDue[i] = Math.max(this.localDue[i] as number, dueLocal);
    });
  }

  private entry(): number {
    return this.rng.int(0, (this.o.entries ?? 38) - 1);
  }

  private globalRead(): void {
    if (this.o.globalReadsPerSec <= 0) return;
    const entry = this.entry();
    this.issue({ kind: "global-read", node: this.o.globalReader ?? (this.o.replicas[0] as string), entry }, { kind: "global-read", entry });
  }

  private localOp(node: string, index: number): void {
    const n = this.o.replicas.length;
    if (this.rng.float() < (this.o.writeShare ?? 0.05)) {
      // An entry this replica writes (entry % n === index), with no write in flight.
      const entries = this.o.entries ?? 38;
      const first = this.rng.int(0, Math.max(0, Math.ceil((entries - index) / n) - 1)) * n + index;
      if (first >= entries || this.writing.has(first)) return;
      const value = `w${this.o.seed}-${++this.writes}`;
      this.writing.add(first);
      this.issue({ kind: "write", node, entry: first, value }, { kind: "write", entry: first, value });
      return;
    }
    const entry = this.entry();
    this.issue({ kind: "read", node, entry }, { kind: "read", entry });
  }

  private issue(what: Pick<DbOp, "kind" | "node" | "entry"> & { readonly value?: string }, body: object): void {
    if (this.stopping) return;
    if (this.inflight.size >= (this.o.maxInFlight ?? 2000)) {
      this.skipped++;
      if (what.kind === "write") this.writing.delete(what.entry);
      return;
    }
    const op: DbOp = { ...what, sentAt: Date.now(), outcome: "pending", attempts: 0 };
    this.ops.push(op);
    const p: Promise<void> = this.run(op, body).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Send until answered (the same id each time), refused, or given up at the end of the drain. */
  private async run(op: DbOp, body: object): Promise<void> {
    const id = randomUUID();
    for (;;) {
      op.attempts++;
      try {
        const answer = await this.client.request(op.node, body, { id, timeoutMs: this.o.attemptMs ?? 5_000 });
        return this.answered(op, answer);
      } catch (e) {
        op.error = e instanceof Error ? e.message : String(e);
        if (e instanceof RemoteError || performance.now() >= this.giveUpAt) return this.failed(op, e instanceof RemoteError ? "refused" : "unanswered");
        await new Promise((r) => setTimeout(r, 200 + this.rng.int(0, 300)));
        if (performance.now() >= this.giveUpAt) return this.failed(op, "unanswered");
      }
    }
  }

  private answered(op: DbOp, answer: unknown): void {
    op.doneAt = Date.now();
    delete op.error;
    const hasNull = op.kind === "global-read" ? Object.values(answer as Record<string, string | null>).some((v) => v === null) : answer === null;
    op.outcome = hasNull ? "null" : "ok";
    if (op.kind === "write") {
      this.acked.set(op.entry, op.value as string);
      this.writing.delete(op.entry);
    }
  }

  private failed(op: DbOp, outcome: "refused" | "unanswered"): void {
    op.doneAt = Date.now();
    op.outcome = outcome;
    // A refused write ran nothing: the entry may be written again. An unanswered one stays in `writing` for good.
    if (op.kind === "write" && outcome === "refused") this.writing.delete(op.entry);
  }

  async stop(drainMs = 30_000): Promise<DbLoadResult> {
    this.stopping = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.giveUpAt = performance.now() + drainMs;
    await Promise.all([...this.inflight]);
    const indeterminate = [...new Set(this.ops.filter((o) => o.kind === "write" && o.outcome === "unanswered").map((o) => o.entry))].sort((a, b) => a - b);
    const acked = new Map([...this.acked].filter(([e]) => !indeterminate.includes(e)));
    return { ops: this.ops, acked, indeterminate, skipped: this.skipped };
  }
}
