import { RequestExpiredError, RequestIdReusedError } from "../core/errors.js";

/** What a node knows of one outside request id. */
export type RequestRecord =
  | { readonly status: "open" }
  | { readonly status: "answered"; readonly answer: unknown }
  | { readonly status: "failed"; readonly reason: string };

/** How long a node remembers settled requests: the oldest go first once either bound is passed. */
export interface RetentionOptions {
  /** Records kept at most (open ones count but are never forgotten). */
  readonly maxRecords?: number;
  /** A settled record is forgotten this long (ms) after its request was accepted. */
  readonly maxAgeMs?: number;
  /** How far (ms) a client's clock may run ahead of this node's: the margin of the expiry test, on the safe side. */
  readonly clockSkewMs?: number;
}

/**
 * 10,000 records and 10 minutes: a client's own retries (backoff of seconds) and an operator's re-run of a command
 * are well inside; at 10,000 answered requests a second the count bound makes the window one second, and a retry
 * older than that is refused, not run again. Answers are kept in memory, so the count bounds the memory too.
 */
export const DEFAULT_RETENTION: Required<RetentionOptions> = { maxRecords: 10_000, maxAgeMs: 10 * 60_000, clockSkewMs: 1_000 };

interface Entry {
  record: RequestRecord;
  readonly acceptedAt: number;
  readonly fingerprint: string | undefined;
}

/**
 * The requests one node accepted: id -> open | answered(answer) | failed(reason), so that a retry (same id) waits
 * for the one execution or gets the recorded outcome, and is never executed twice. Records are forgotten past the
 * retention window; a retry that may be of a forgotten request is refused with RequestExpiredError.
 *
 * Why a retry carries `since` (the client's clock when it first sent the id): an unknown id is either a request
 * whose first attempt never arrived (safe to run) or one forgotten here (must not run). Every forgotten record was
 * accepted at or before `horizon`, and a request is accepted after it is sent, so a first send later than the
 * horizon (plus the clock margin) cannot be a forgotten one. The horizon starts at this object's creation: records
 * of an earlier life of the node (before a restart) are forgotten too.
 *
 * Self-contained (a clock in, no I/O) so that it can move into a durable store.
 */
export class RequestRecords {
  private readonly entries = new Map<string, Entry>();
  private readonly options: Required<RetentionOptions>;
  private readonly startedAt: number;
  private horizon: number;
  private forgotten = 0;
  private openCount = 0;

  constructor(
    readonly node: string,
    private readonly now: () => number,
    options: RetentionOptions = {},
  ) {
    this.options = { ...DEFAULT_RETENTION, ...options };
    this.startedAt = now();
    this.horizon = this.startedAt;
  }

  /** Requests accepted and not yet answered or failed. */
  get open(): number {
    return this.openCount;
  }

  /** Records held (open and settled). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * What is known of `id`: undefined when it may run (then `accept` it). `since` is given by a retry: when its
   * client first sent this id. `fingerprint` (of the body) tells a retry from another request under a used id.
   * Throws RequestExpiredError or RequestIdReusedError.
   */
  lookup(id: string, since?: number, fingerprint?: string): RequestRecord | undefined {
    this.prune();
    const e = this.entries.get(id);
    if (e !== undefined) {
      if (fingerprint !== undefined && e.fingerprint !== undefined && fingerprint !== e.fingerprint) throw new RequestIdReusedError(this.node, id);
      return e.record;
    }
    if (since !== undefined && since <= this.horizon + this.options.clockSkewMs) throw new RequestExpiredError(this.node, id, this.windowText());
    return undefined;
  }

  /** The request is running now. */
  accept(id: string, fingerprint?: string): void {
    if (this.entries.get(id)?.record.status === "open") return;
    this.entries.delete(id); // a re-accepted id goes to the end: the order stays the order of acceptance
    this.entries.set(id, { record: { status: "open" }, acceptedAt: this.now(), fingerprint });
    this.openCount++;
    this.prune();
  }

  /** The request was answered; false when it was not open (unknown, or already settled). */
  answer(id: string, answer: unknown): boolean {
    return this.settle(id, { status: "answered", answer });
  }

  /** The request cannot be answered (its handler threw); false when it was not open. */
  fail(id: string, reason: string): boolean {
    return this.settle(id, { status: "failed", reason });
  }

  private settle(id: string, record: RequestRecord): boolean {
    const e = this.entries.get(id);
    if (e === undefined || e.record.status !== "open") return false;
    e.record = record;
    this.openCount--;
    this.prune();
    return true;
  }

  /** Forget settled records past either bound, oldest first; the map's order is the order of acceptance. */
  private prune(): void {
    const oldest = this.now() - this.options.maxAgeMs;
    let excess = this.entries.size - this.options.maxRecords;
    for (const [id, e] of this.entries) {
      if (excess <= 0 && e.acceptedAt >= oldest) return;
      if (e.record.status === "open") continue;
      this.entries.delete(id);
      excess--;
      this.forgotten++;
      if (e.acceptedAt > this.horizon) this.horizon = e.acceptedAt;
    }
  }

  private windowText(): string {
    const { maxRecords, maxAgeMs } = this.options;
    const kept = `it keeps the last ${maxRecords} requests for at most ${maxAgeMs / 1000} s`;
    if (this.forgotten === 0) return `${kept}, and remembers none from before it started at ${new Date(this.startedAt).toISOString()}`;
    return `${kept} and has forgotten ${this.forgotten}, the newest accepted at ${new Date(this.horizon).toISOString()}`;
  }
}
