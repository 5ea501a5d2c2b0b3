/**
 * The mutex's own checker: reads the trace and the final states of the nodes
 * (both versions keep the same session bookkeeping, see mutex.ts) and judges
 * - mutual exclusion: no two nodes in the CS at the same virtual time;
 * - every request answered: each outside request a node executed (acquire,
 *   release, auto) got exactly one response, so every acquire was granted;
 * - every session released: at the end no node is in the CS, waits for it,
 *   or has an unfinished timer-driven loop;
 * - state and trace agree: a client session entered no later than its acquire
 *   was answered and left when its release request ran; a timer-driven session
 *   left when its exit timer fired.
 *
 * Intervals are half-open [enter, exit) in virtual ms. Mutual exclusion is
 * judged twice: on the sessions the final states record (the execution that
 * survived, event times), and on what the outside saw (client sessions:
 * from the acquire's response to the release request; timer-driven ones: from
 * the recorded entry to the exit timer in the trace).
 */
import type { NodeId, TraceEvent } from "../../index.js";
import { isSessionState, type SessionRecord, type SessionState } from "./mutex.js";

export interface SafetyReport {
  readonly ok: boolean;
  /** Human readable, one per finding (overlaps are capped, with a count of the rest). */
  readonly violations: string[];
  readonly sessions: {
    readonly total: number;
    readonly client: number;
    readonly auto: number;
    /** Entered under one version, left under another. */
    readonly acrossVersions: number;
  };
  readonly requests: { readonly executed: number; readonly answered: number };
}

interface Interval {
  readonly node: NodeId;
  readonly session: string;
  readonly from: number;
  readonly to: number;
}

const MAX_OVERLAP_MESSAGES = 20;

function overlaps(intervals: readonly Interval[], what: string, out: string[]): void {
  const sorted = [...intervals].sort((a, b) => a.from - b.from || a.to - b.to);
  const active: Interval[] = [];
  let found = 0;
  for (const iv of sorted) {
    for (let i = active.length - 1; i >= 0; i--) if ((active[i] as Interval).to <= iv.from) active.splice(i, 1);
    for (const other of active) {
      if (other.node === iv.node || iv.to <= iv.from) continue;
      found++;
      if (found <= MAX_OVERLAP_MESSAGES) {
        out.push(
          `mutual exclusion (${what}): "${other.node}" (session ${other.session}, in the CS [${other.from}, ${other.to})) and ` +
            `"${iv.node}" (session ${iv.session}, [${iv.from}, ${iv.to})) were both in the CS during [${iv.from}, ${Math.min(other.to, iv.to)})`,
        );
      }
    }
    active.push(iv);
  }
  if (found > MAX_OVERLAP_MESSAGES) out.push(`mutual exclusion (${what}): ... and ${found - MAX_OVERLAP_MESSAGES} more overlapping pair(s)`);
}

function last(times: readonly number[] | undefined): number | undefined {
  return times === undefined || times.length === 0 ? undefined : times[times.length - 1];
}

/** What the trace says, indexed: executed requests, their responses, and fired timers (by node and tag). */
interface TraceIndex {
  readonly executed: ReadonlyMap<string, { readonly node: NodeId; readonly times: number[] }>;
  readonly responses: ReadonlyMap<string, number[]>;
  readonly timers: ReadonlyMap<string, number[]>;
}

const timerKey = (node: NodeId, tag: string): string => `${node}\u0000${tag}`;

function indexTrace(trace: readonly TraceEvent[]): TraceIndex {
  const executed = new Map<string, { node: NodeId; times: number[] }>();
  const responses = new Map<string, number[]>();
  const timers = new Map<string, number[]>();
  for (const ev of trace) {
    switch (ev.kind) {
      case "request": {
        const e = executed.get(ev.request);
        if (e === undefined) executed.set(ev.request, { node: ev.node, times: [ev.t] });
        else e.times.push(ev.t);
        break;
      }
      case "respond": {
        const r = responses.get(ev.request);
        if (r === undefined) responses.set(ev.request, [ev.t]);
        else r.push(ev.t);
        break;
      }
      case "timer": {
        const key = timerKey(ev.node, ev.tag);
        const r = timers.get(key);
        if (r === undefined) timers.set(key, [ev.t]);
        else r.push(ev.t);
        break;
      }
      default:
        break;
    }
  }
  return { executed, responses, timers };
}

/** Every executed request answered exactly once; returns how many were answered. */
function judgeAnswers({ executed, responses }: TraceIndex, violations: string[]): number {
  let answered = 0;
  for (const [rid, e] of executed) {
    const r = responses.get(rid);
    if (r === undefined) violations.push(`liveness: request ${rid} at "${e.node}" (run at ${e.times.join(", ")}) was never answered`);
    else {
      answered++;
      if (r.length > 1) violations.push(`request ${rid} at "${e.node}" was answered ${r.length} times (at ${r.join(", ")})`);
    }
  }
  return answered;
}

/** The finished sessions the final states record, judging on the way what is still open at the end. */
function judgeFinalStates(states: Readonly<Record<NodeId, unknown>>, violations: string[]): SessionRecord[] {
  const records: SessionRecord[] = [];
  for (const [node, raw] of Object.entries(states)) {
    if (!isSessionState(raw)) {
      violations.push(`node "${node}": its final state is not a mutex state (${JSON.stringify(raw)?.slice(0, 120)})`);
      continue;
    }
    const s: SessionState = raw;
    if (s.dropped > 0) violations.push(`node "${node}": ${s.dropped} session record(s) fell off its history; its early sessions cannot be judged`);
    records.push(...s.history);
    if (s.current !== null) {
      if (s.inCS) violations.push(`session never released: "${node}" is still in the CS at the end (session ${s.current.id}, entered at ${s.current.enteredAt})`);
      else violations.push(`liveness: "${node}" still waits for the CS at the end (session ${s.current.id}, wanted at ${s.current.wantedAt})`);
    }
    for (const w of s.wants) violations.push(`liveness: "${node}" never even asked for the CS for session ${w.id} (wanted at ${w.wantedAt})`);
    for (const l of s.loops) violations.push(`timer-driven loop ${l.id} at "${node}" never finished (${l.left} round(s) left)`);
  }
  return records;
}

/** A client session as the outside saw it (acquire answered to release run); undefined if the trace cannot show it. */
function observedClient(r: SessionRecord, { executed, responses }: TraceIndex, violations: string[]): Interval | undefined {
  const acquired = r.acquire === null ? undefined : responses.get(r.acquire)?.[0];
  const released = r.release === null ? undefined : last(executed.get(r.release)?.times);
  if (acquired === undefined) {
    violations.push(`session ${r.session} at "${r.node}": its acquire ${r.acquire ?? "?"} was never answered in the trace`);
    return undefined;
  }
  if (released === undefined || r.release === null || responses.get(r.release) === undefined) {
    violations.push(`session ${r.session} at "${r.node}": its release ${r.release ?? "?"} is not in the trace or was not answered`);
    return undefined;
  }
  if (acquired < r.enter) violations.push(`session ${r.session} at "${r.node}": acquire ${r.acquire} answered at ${acquired}, before the node entered at ${r.enter}`);
  if (released !== r.exit) violations.push(`session ${r.session} at "${r.node}": recorded exit ${r.exit}, but its release ${r.release} ran at ${released}`);
  return { node: r.node, session: r.session, from: acquired, to: released };
}

/** A timer-driven session as the outside saw it (recorded entry to exit timer); undefined if its timer is not in the trace. */
function observedAuto(r: SessionRecord, { timers }: TraceIndex, violations: string[]): Interval | undefined {
  const fired = last(timers.get(timerKey(r.node, `exit:${r.session}`)));
  if (fired === undefined) {
    violations.push(`session ${r.session} at "${r.node}": its exit timer is not in the trace`);
    return undefined;
  }
  if (fired !== r.exit) violations.push(`session ${r.session} at "${r.node}": recorded exit ${r.exit}, but its exit timer fired at ${fired}`);
  return { node: r.node, session: r.session, from: r.enter, to: fired };
}

export function checkMutex(trace: readonly TraceEvent[], states: Readonly<Record<NodeId, unknown>>): SafetyReport {
  const violations: string[] = [];
  const index = indexTrace(trace);
  const answered = judgeAnswers(index, violations);
  const records = judgeFinalStates(states, violations);
  overlaps(
    records.map((r) => ({ node: r.node, session: r.session, from: r.enter, to: r.exit })),
    "recorded sessions",
    violations,
  );

  const observed: Interval[] = [];
  for (const r of records) {
    const iv = r.via === "client" ? observedClient(r, index, violations) : observedAuto(r, index, violations);
    if (iv !== undefined) observed.push(iv);
  }
  overlaps(observed, "as observed: responses, release requests, exit timers", violations);

  const client = records.filter((r) => r.via === "client").length;
  return {
    ok: violations.length === 0,
    violations,
    sessions: {
      total: records.length,
      client,
      auto: records.length - client,
      acrossVersions: records.filter((r) => r.enteredIn !== r.exitedIn).length,
    },
    requests: { executed: index.executed.size, answered },
  };
}
