import { randomUUID } from "node:crypto";
import type { UpdateCode } from "../core/control.js";
import type { Envelope } from "../core/envelope.js";
import { asError } from "../core/errors.js";
import { CONTROL, type NodeId } from "../core/ids.js";
import type { Update } from "../core/update.js";
import type { HostSnapshot, LogEntry } from "../runtime/host-record.js";
import type { NodeHost } from "../runtime/node-host.js";
import type { NodeStore, StoredRecord } from "../runtime/node-store.js";
import type { TcpNetwork } from "../network/tcp/tcp-network.js";
import type { StoreStatus } from "../network/tcp/protocol.js";
import { CommitLatency } from "./commit-latency.js";

/** What a node process keeps in its snapshots beside the host's record: its store's instance and its links. */
export interface DaemonExtra {
  /** The store's instance: its channels' instance across the process's restarts (a wiped store is a new one). */
  readonly instance: string;
  /** Its links now (peer, incarnation, address): `ctl link`/`unlink` change them, a restart must keep them. */
  readonly links: readonly (readonly [NodeId, number, string])[];
}

/** A new store's instance id. */
export function newInstance(): string {
  return randomUUID();
}

/** The daemon's extra data in a recovered record (its snapshot's), if it has any. */
export function extraOf(record: StoredRecord): DaemonExtra | undefined {
  const s = record.snapshot as HostSnapshot | undefined;
  const extra = s?.extra as DaemonExtra | undefined;
  return extra !== undefined && typeof extra.instance === "string" && Array.isArray(extra.links) ? extra : undefined;
}

/**
 * Every update code a recovery will need, in the order it first appears: the code that brought the snapshot's
 * version, then each prepare's and resume's in the log. A process loads them all before it replays, so the replay
 * runs as the original steps ran (the live path also loads a prepare's code before the host sees the prepare).
 */
export function codesOf(record: StoredRecord): UpdateCode[] {
  const out: UpdateCode[] = [];
  const s = record.snapshot as HostSnapshot | undefined;
  if (s?.kind === "quiet" && s.code !== null && s.code !== undefined) out.push(s.code as UpdateCode);
  for (const e of record.log as readonly LogEntry[]) {
    const code = e.kind === "deliver" ? codeIn(e.env) : undefined;
    if (code !== undefined) out.push(code);
  }
  return out;
}

/** The update code a control envelope carries (a prepare or a resume), if any. */
export function codeIn(env: Envelope): UpdateCode | undefined {
  if (env.kind !== "control") return undefined;
  const msg = env.msg;
  return msg.kind === "prepare" || msg.kind === "resume" ? msg.code : undefined;
}

/** A key for a loaded package (its text). */
export function codeKey(code: UpdateCode): string | undefined {
  return code.kind === "package" ? code.text : undefined;
}

/**
 * Group commit for a node process (DESIGN.md, "Faults and durability"): every input of one turn of the event loop
 * is made durable with one fsync at the end of the turn, then what those steps produced leaves (messages, answers,
 * reports), then the acknowledgements of what they applied. A commit that fails stops the node: never retried.
 */
export class GroupCommit {
  private scheduled = false;
  private failed = false;
  commits = 0;
  entries = 0;
  /** Each store commit's wall time (its fsync and encoding), for `status`. */
  private readonly latency = new CommitLatency();
  /** Log entries in the store after its last snapshot: what a recovery now would replay (a recovered node sets it). */
  sinceSnapshot = 0;
  private readonly store: NodeStore;

  constructor(
    store: NodeStore,
    private readonly host: () => NodeHost,
    private readonly net: TcpNetwork,
    private readonly linkOf: (peer: NodeId) => number | undefined,
    private readonly fatal: (e: Error) => void,
  ) {
    const timed = this.latency.timing(store);
    this.store = {
      ...timed,
      commit: (batch) => {
        timed.commit(batch);
        this.sinceSnapshot = batch.snapshot !== undefined ? 0 : this.sinceSnapshot + batch.entries.length;
      },
    };
  }

  /** What `status` shows of the store: group commits, entries committed, commit latency. */
  status(kind: string): StoreStatus {
    const { p50Ms, p99Ms } = this.latency.percentiles();
    return { kind, commits: this.commits, entries: this.entries, logEntries: this.sinceSnapshot, fsyncP50Ms: p50Ms, fsyncP99Ms: p99Ms };
  }

  /** Something ran: commit at the end of this turn of the event loop (with whatever else runs in it). */
  schedule(): void {
    if (this.scheduled || this.failed) return;
    this.scheduled = true;
    setImmediate(() => this.now());
  }

  /** Commit now (a configuration change snapshots at once: `snapshot`). */
  now(snapshot = false): void {
    this.scheduled = false;
    const host = this.host();
    if (this.failed || (!host.dirty && !snapshot)) return;
    let acks;
    try {
      const before = host.uncommitted;
      acks = host.commit(this.store, snapshot);
      this.commits++;
      this.entries += before;
    } catch (e) {
      this.failed = true;
      this.fatal(asError(e));
      return;
    }
    for (const a of acks) {
      if (a.from === CONTROL) this.net.ackPlane(a.link, a.seq);
      else if (this.linkOf(a.from) === a.link) this.net.ackPeer(a.from, a.seq);
    }
  }
}

/** The updates loaded for a recovery, by package text. */
export type CodeCache = Map<string, readonly Update[] | Error>;
