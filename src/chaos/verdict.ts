/**
 * The verdict of a chaos run, Jepsen's way: a history recorded under faults, checked after the fact.
 *  - the merged trace of every node and the control plane through the checker (no message executed by the wrong
 *    epoch, none lost, every update terminated);
 *  - per channel, FIFO and exactly-once, read from the trace alone (a rollback or a crash restarts a receiver's
 *    count: it executes again what it undid or lost, by design);
 *  - the load's answers: no null global read, no write dropped by a replica, every request answered;
 *  - the replicas: every acknowledged write on every replica, and the replicas identical;
 *  - every update completed, with its G / H / completion and the throughput it cost beside the faults that hit it;
 *  - every move completed, and each moved node at exactly its last location (answering there, at that location
 *    epoch, the old location gone).
 */
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Violation } from "../check/violation.js";
import type { Strategy } from "../core/update.js";
import type { ChaosCluster, ChaosMove } from "./chaos-cluster.js";
import { answeredGlobalRead, type DbLoadResult, type DbOp } from "./db-load.js";
import type { AppliedFault, UpdateOutcome } from "./outcome.js";

export interface UpdateFigures {
  readonly index: number;
  readonly strategy: Strategy;
  readonly root: string;
  readonly completed: boolean;
  readonly attempts: number;
  readonly submittedAt: number;
  /** When the root took the update (its `requestedAt`): the submission's ctl start-up and resubmissions before it. */
  readonly requestedAt?: number;
  /** G, H and completion (wall ms), when the update completed. */
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly completedAt?: number;
  readonly durationMs?: number;
  /** Completed global reads a second in the 2 s before the root took the update, and from then to the completion. */
  readonly throughputBefore: number;
  readonly throughputDuring: number;
  /** Null global reads issued after this update completed and before the next one was submitted. */
  readonly nullsAfter: number;
  /** The median and the longest latency of the global reads issued from the root taking it to its completion (ms). */
  readonly readLatencyMs: { readonly p50: number; readonly max: number };
}

export interface ChaosVerdict {
  readonly ok: boolean;
  /** Every finding, in words; empty when the run is clean. */
  readonly findings: readonly string[];
  readonly checker: { readonly events: number; readonly violations: readonly Violation[] };
  readonly fifo: { readonly channels: number; readonly deliveries: number; readonly outOfOrder: readonly string[] };
  readonly exactlyOnce: { readonly sent: number; readonly duplicates: readonly string[] };
  readonly writes: { readonly acknowledged: number; readonly indeterminate: number; readonly missing: readonly string[]; readonly dropped: number };
  readonly replicas: { readonly identical: boolean; readonly divergent: readonly string[]; readonly unreachable: readonly string[] };
  readonly requests: { readonly byKind: Readonly<Record<string, { issued: number; answered: number; nulls: number; refused: number; unanswered: number }>>; readonly skipped: number };
  readonly updates: readonly UpdateFigures[];
  /** Moves made, and what is wrong with where moved nodes ended (empty: each at its last location only). */
  readonly moves: { readonly made: number; readonly failed: number; readonly misplaced: readonly string[] };
}

export interface JudgeInput {
  readonly cluster: ChaosCluster;
  readonly nodes: readonly string[];
  readonly load: DbLoadResult;
  readonly updates: readonly UpdateOutcome[];
  /** Updates the plan has: those after one that did not complete were not run. */
  readonly planned: number;
  strategyOf(index: number): Strategy | undefined;
  /** The moves that completed, and every move attempted (a failed one carries its error). */
  readonly moves?: readonly ChaosMove[];
  readonly moveFaults?: readonly AppliedFault[];
}

/** Judge a finished run (the faults healed, every node up). */
export async function judge(input: JudgeInput): Promise<ChaosVerdict> {
  const findings: string[] = [];
  // Every node answering with no open request and nothing unacknowledged on its channels (30 s at most).
  await input.cluster.untilEvery((s) => s.openRequests === 0 && s.neighbors.every((n) => n.unacked === 0 && n.connected), 30_000, 250);
  const trace = await input.cluster.client.trace();
  const checked = await input.cluster.client.check();
  for (const v of checked.violations.slice(0, 20)) findings.push(`checker (${v.invariant}): ${v.message}`);
  if (checked.violations.length > 20) findings.push(`checker: ${checked.violations.length - 20} more violations`);
  const fifo = fifoOf(trace);
  findings.push(...fifo.outOfOrder.slice(0, 10).map((x) => `FIFO: ${x}`), ...fifo.duplicates.slice(0, 10).map((x) => `exactly-once: ${x}`));
  const replicas = await compareReplicas(input.cluster, input.nodes, input.load.acked);
  findings.push(...replicas.missing.slice(0, 10).map((x) => `lost acknowledged write: ${x}`), ...replicas.divergent.slice(0, 10).map((x) => `replicas differ: ${x}`));
  findings.push(...replicas.unreachable.map((x) => `replica unreachable at the end: ${x}`));
  if (replicas.dropped > 0) findings.push(`${replicas.dropped} write(s) dropped by replicas that did not have the key (old and new nodes mixed)`);
  const requests = tally(input.load.ops);
  for (const [kind, t] of Object.entries(requests)) {
    if (t.nulls > 0) findings.push(`${t.nulls} ${kind}(s) answered null`);
    if (t.unanswered > 0) findings.push(`${t.unanswered} ${kind}(s) never answered (retried until 20 s after the load stopped)`);
  }
  const updates = input.updates.map((u, i) => updateFigures(u, input.updates[i + 1]?.submittedAt, input.load.ops, input.strategyOf(u.index) ?? u.planned.strategy));
  for (const u of updates) if (!u.completed) findings.push(`update ${u.index + 1} (${u.strategy}) did not complete`);
  if (updates.length < input.planned) findings.push(`updates ${updates.length + 1} to ${input.planned} were not run (the run's bound, or an update before them not completed)`);
  const failedMoves = (input.moveFaults ?? []).filter((f) => f.error !== undefined);
  for (const f of failedMoves) findings.push(`move failed (${f.text}): ${f.error ?? ""}`);
  const misplaced = await placement(input.cluster, input.moves ?? []);
  findings.push(...misplaced.map((x) => `moved node misplaced: ${x}`));
  return {
    ok: findings.length === 0,
    findings,
    checker: { events: trace.length, violations: checked.violations },
    fifo: { channels: fifo.channels, deliveries: fifo.deliveries, outOfOrder: fifo.outOfOrder },
    exactlyOnce: { sent: fifo.sent, duplicates: fifo.duplicates },
    writes: { acknowledged: input.load.acked.size, indeterminate: input.load.indeterminate.length, missing: replicas.missing, dropped: replicas.dropped },
    replicas: { identical: replicas.divergent.length === 0 && replicas.unreachable.length === 0, divergent: replicas.divergent, unreachable: replicas.unreachable },
    requests: { byKind: requests, skipped: input.load.skipped },
    updates,
    moves: { made: input.moves?.length ?? 0, failed: failedMoves.length, misplaced },
  };
}

/**
 * Each moved node where its last move took it, once: its status there names that location epoch and nothing of
 * moving, and its old locations accept nothing (their processes retired).
 */
async function placement(cluster: ChaosCluster, moves: readonly ChaosMove[]): Promise<string[]> {
  const last = new Map(moves.map((m) => [m.node, m]));
  const out: string[] = [];
  for (const m of last.values()) {
    const st = await cluster.client.status(m.node).then(
      (s) => s,
      (e: unknown) => new Error(e instanceof Error ? e.message : String(e)),
    );
    if (st instanceof Error) out.push(`"${m.node}" does not answer (${st.message})`);
    else if (st.location?.epoch !== m.locationEpoch || st.location.moving !== undefined || st.location.moved !== undefined) {
      out.push(`"${m.node}" answers at location ${JSON.stringify(st.location)}, not at epoch ${m.locationEpoch} where its last move took it`);
    }
    const at = cluster.client.cluster.nodes.find((n) => n.id === m.node)?.address;
    if (at !== m.to) out.push(`"${m.node}" is reached at ${at ?? "nowhere"}, not at ${m.to} where its last move took it`);
    for (const pid of cluster.oldLocationsRunning(m.node)) out.push(`"${m.node}": the process of an old location (pid ${pid}) still runs`);
  }
  return out;
}

interface FifoResult {
  channels: number;
  deliveries: number;
  sent: number;
  outOfOrder: string[];
  duplicates: string[];
}

/**
 * Per channel (sender, receiver), the messages its receiver executes must come in the order they were sent, each
 * once. A receiver that rolls back, crashes or restarts starts a new life of its own: it executes again, in order,
 * what it undid or lost, so its channels' positions start over. Messages a transform made (new ids) have no send
 * of their own on the channel and are not counted.
 */
export function fifoOf(trace: readonly TraceEvent[]): FifoResult {
  const position = new Map<string, { readonly channel: string; readonly index: number }>();
  const sentOn = new Map<string, number>();
  const last = new Map<string, { readonly index: number; readonly msg: string }>();
  const executed = new Map<string, number>(); // msg -> life of the receiver that executed it
  const life = new Map<string, number>();
  const out: FifoResult = { channels: 0, deliveries: 0, sent: 0, outOfOrder: [], duplicates: [] };
  for (const e of trace) {
    if (e.kind === "send") {
      const channel = `${e.node} -> ${e.to}`;
      const index = sentOn.get(channel) ?? 0;
      sentOn.set(channel, index + 1);
      position.set(e.msg, { channel, index });
      out.sent++;
    } else if (e.kind === "rollback" || e.kind === "crash" || e.kind === "restart") {
      life.set(e.node, (life.get(e.node) ?? 0) + 1);
      for (const k of [...last.keys()]) if (k.endsWith(` -> ${e.node}`)) last.delete(k);
    } else if (e.kind === "deliver") {
      const p = position.get(e.msg);
      if (p === undefined) continue;
      out.deliveries++;
      const lifeNow = life.get(e.node) ?? 0;
      if (executed.get(e.msg) === lifeNow) out.duplicates.push(`${e.msg} (${p.channel}) executed twice by "${e.node}" in one life (t=${e.t})`);
      executed.set(e.msg, lifeNow);
      const before = last.get(p.channel);
      if (before !== undefined && before.index > p.index) out.outOfOrder.push(`${p.channel}: ${e.msg} (sent #${p.index}) executed after ${before.msg} (sent #${before.index}) (t=${e.t})`);
      last.set(p.channel, { index: p.index, msg: e.msg });
    }
  }
  out.channels = sentOn.size;
  return out;
}

interface ReplicaComparison {
  missing: string[];
  divergent: string[];
  unreachable: string[];
  dropped: number;
}

/** Read every entry at every replica: identical, and holding each entry's last acknowledged write. */
async function compareReplicas(cluster: ChaosCluster, nodes: readonly string[], acked: ReadonlyMap<number, string>): Promise<ReplicaComparison> {
  const out: ReplicaComparison = { missing: [], divergent: [], unreachable: [], dropped: 0 };
  for (const node of nodes) {
    try {
      const stats = (await cluster.client.request(node, { kind: "stats" }, { timeoutMs: 10_000 })) as { unknownWrites: number };
      out.dropped += stats.unknownWrites;
    } catch (e) {
      out.unreachable.push(`${node}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (out.unreachable.length > 0) return out;
  for (let entry = 0; entry < 38; entry++) {
    const seen = await Promise.all(nodes.map((n) => cluster.client.request(n, { kind: "read", entry }, { timeoutMs: 10_000 }).catch((e: unknown) => `<${String(e)}>`)));
    if (new Set(seen.map((v) => JSON.stringify(v))).size > 1) out.divergent.push(`entry ${entry}: ${nodes.map((n, i) => `${n}=${JSON.stringify(seen[i])}`).join(" ")}`);
    const want = acked.get(entry);
    if (want !== undefined) {
      const without = nodes.filter((_, i) => seen[i] !== want);
      if (without.length > 0) out.missing.push(`entry ${entry} = ${want} (acknowledged) is not on ${without.join(", ")}`);
    }
  }
  return out;
}

function tally(ops: readonly DbOp[]): Record<string, { issued: number; answered: number; nulls: number; refused: number; unanswered: number }> {
  const out: Record<string, { issued: number; answered: number; nulls: number; refused: number; unanswered: number }> = {};
  for (const op of ops) {
    const t = (out[op.kind] ??= { issued: 0, answered: 0, nulls: 0, refused: 0, unanswered: 0 });
    t.issued++;
    if (op.outcome === "ok" || op.outcome === "null") t.answered++;
    if (op.outcome === "null") t.nulls++;
    if (op.outcome === "refused") t.refused++;
    if (op.outcome === "unanswered" || op.outcome === "pending") t.unanswered++;
  }
  return out;
}

/** Completed global reads a second over [from, to). */
export function throughput(ops: readonly DbOp[], from: number, to: number): number {
  if (!(to > from)) return 0;
  let n = 0;
  for (const op of ops) if (answeredGlobalRead(op) && (op.doneAt as number) >= from && (op.doneAt as number) < to) n++;
  return n / ((to - from) / 1000);
}

function updateFigures(u: UpdateOutcome, nextSubmittedAt: number | undefined, ops: readonly DbOp[], strategy: Strategy): UpdateFigures {
  const r = u.report;
  const end = r?.completedAt ?? u.endedAt ?? u.submittedAt;
  const from = r?.requestedAt ?? u.submittedAt;
  const nullsAfter = r === undefined ? 0 : ops.filter((o) => o.kind === "global-read" && o.outcome === "null" && o.sentAt > r.completedAt && (nextSubmittedAt === undefined || o.sentAt < nextSubmittedAt)).length;
  return {
    index: u.index,
    strategy,
    root: u.planned.root,
    completed: u.completed,
    attempts: u.attempts,
    submittedAt: u.submittedAt,
    ...(r !== undefined ? { requestedAt: r.requestedAt, startedAt: r.startedAt, finishedAt: r.finishedAt, completedAt: r.completedAt, durationMs: r.completedAt - r.requestedAt } : {}),
    throughputBefore: throughput(ops, from - 2_000, from),
    throughputDuring: throughput(ops, from, Math.max(end, from + 1)),
    nullsAfter,
    readLatencyMs: latency(ops, from, Math.max(end, from + 1)),
  };
}

/** The median and longest latency of the answered global reads sent in [from, to) (ms; 0 when none). */
export function latency(ops: readonly DbOp[], from: number, to: number): { readonly p50: number; readonly max: number } {
  const l = ops
    .filter((o) => answeredGlobalRead(o) && o.sentAt >= from && o.sentAt < to)
    .map((o) => (o.doneAt as number) - o.sentAt)
    .sort((a, b) => a - b);
  return { p50: l[Math.floor(l.length / 2)] ?? 0, max: l.at(-1) ?? 0 };
}
