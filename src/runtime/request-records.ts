import type { RequestId } from "../core/ids.js";

/** What a node knows of an outside request it accepted. */
export type RequestRecord =
  | { readonly status: "open" }
  | { readonly status: "answered"; readonly result: unknown }
  | { readonly status: "failed"; readonly reason: string };

/** What to do with a request that arrives (perhaps again: a client retries after a crash or a lost connection). */
export type RequestVerdict =
  | { readonly kind: "run" }
  /** Accepted before and not answered yet: the retry waits for the one execution. */
  | { readonly kind: "wait" }
  | { readonly kind: "answer"; readonly result: unknown }
  | { readonly kind: "fail"; readonly reason: string }
  /** Older than the retention window and no longer known: it may or may not have run; it must not run again. */
  | { readonly kind: "expired"; readonly horizon: number };

/** Closed requests a node remembers by default: a retry within this many later requests gets the recorded answer. */
export const DEFAULT_REQUEST_RETENTION = 10_000;

/**
 * The accepted request ids of a node with their status and answers (DESIGN.md,
 * "Requests"): part of the node's durable record, so that a retried request is
 * never executed twice. Open requests are always kept; closed ones for a
 * retention window of the last `retention` closed, after which a retry issued
 * before the oldest forgotten one is refused as expired.
 */
export class RequestRecords {
  /** Both maps start as the shared empty ones and are made on the first accept: most nodes never take a request. */
  private records: Map<RequestId, RequestRecord> = NO_RECORDS;
  /** Closed ids in the order they closed (the oldest is forgotten first). */
  private closed: RequestId[] = [];
  private closedHead = 0;
  /** The issue time of the newest request forgotten: an unknown request issued at or before it has expired. */
  private horizon = Number.NEGATIVE_INFINITY;
  private issuedAt: Map<RequestId, number> = NO_ISSUED;

  constructor(private readonly retention = DEFAULT_REQUEST_RETENTION) {}

  /** `issued`: when the client first sent it (a retry keeps that time). */
  arrive(request: RequestId, issued: number): RequestVerdict {
    const r = this.records.get(request);
    if (r === undefined) return issued <= this.horizon ? { kind: "expired", horizon: this.horizon } : { kind: "run" };
    if (r.status === "open") return { kind: "wait" };
    return r.status === "answered" ? { kind: "answer", result: r.result } : { kind: "fail", reason: r.reason };
  }

  accept(request: RequestId, issued: number): void {
    this.own();
    this.records.set(request, { status: "open" });
    this.issuedAt.set(request, issued);
  }

  isOpen(request: RequestId): boolean {
    return this.records.get(request)?.status === "open";
  }

  answered(request: RequestId, result: unknown): void {
    this.close(request, { status: "answered", result });
  }

  failed(request: RequestId, reason: string): void {
    this.close(request, { status: "failed", reason });
  }

  get size(): number {
    return this.records.size;
  }

  private close(request: RequestId, record: RequestRecord): void {
    if (this.records.get(request)?.status !== "open") return;
    this.records.set(request, record);
    this.closed.push(request);
    while (this.closed.length - this.closedHead > this.retention) this.forget(this.closed[this.closedHead++] as RequestId);
    if (this.closedHead > 1024 && this.closedHead * 2 > this.closed.length) {
      this.closed = this.closed.slice(this.closedHead);
      this.closedHead = 0;
    }
  }

  private forget(request: RequestId): void {
    this.records.delete(request);
    const issued = this.issuedAt.get(request) ?? Number.NEGATIVE_INFINITY;
    this.issuedAt.delete(request);
    if (issued > this.horizon) this.horizon = issued;
  }

  snapshot(): RequestRecordsSnapshot {
    // A node that never took a request (most, and every node at every link made while a system is built) shares the
    // empty lists: a snapshot is immutable, and restore copies them.
    const none = this.records.size === 0 && this.closed.length === this.closedHead;
    return {
      retention: this.retention,
      horizon: this.horizon,
      records: none ? NO_ENTRIES : [...this.records.entries()].map(([id, r]) => [id, r, this.issuedAt.get(id) ?? 0] as const),
      closed: none ? NO_IDS : this.closed.slice(this.closedHead),
    };
  }

  /** This node's own maps in place of the shared empty ones, before a first write. */
  private own(): void {
    if (this.records !== NO_RECORDS) return;
    this.records = new Map();
    this.issuedAt = new Map();
  }

  static restore(s: RequestRecordsSnapshot): RequestRecords {
    const out = new RequestRecords(s.retention);
    out.horizon = s.horizon;
    if (s.records.length > 0) out.own();
    for (const [id, r, issued] of s.records) {
      out.records.set(id, r);
      out.issuedAt.set(id, issued);
    }
    out.closed = [...s.closed];
    return out;
  }
}

// Never written: every write goes through own() first (a write to them would be one node's records in every node).
const NO_RECORDS = new Map<RequestId, RequestRecord>();
const NO_ISSUED = new Map<RequestId, number>();
const NO_ENTRIES: readonly (readonly [RequestId, RequestRecord, number])[] = Object.freeze([]);
const NO_IDS: readonly RequestId[] = Object.freeze([]);

export interface RequestRecordsSnapshot {
  readonly retention: number;
  readonly horizon: number;
  readonly records: readonly (readonly [RequestId, RequestRecord, number])[];
  readonly closed: readonly RequestId[];
}
