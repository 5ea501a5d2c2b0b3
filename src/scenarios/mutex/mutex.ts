/**
 * The paper's mutex example (section 5.3): distributed mutual exclusion over a
 * complete graph of N nodes (every pair linked), in two versions, and the
 * update from the first to the second while the system runs.
 *
 * - mutex@1: Lamport's algorithm. Lamport clocks; request / reply / release; a
 *   request queue ordered by (timestamp, node id). A node enters the critical
 *   section (CS) when its own request heads its queue and it has received a
 *   message with a later timestamp from every other node.
 * - mutex@2: Ricart-Agrawala. A request is answered at once unless the receiver
 *   is in the CS or has an earlier request of its own, in which case the reply
 *   is deferred until it leaves; a node enters with a reply from every other
 *   node; there is no release message.
 *
 * Both versions assume `ctx.neighbors()` is every other node (complete graph).
 * State and messages are plain immutable values: no classes, Maps or Sets.
 *
 * ## Who wants the CS, and how every entry and exit is observable
 *
 * A node runs one CS session at a time; wanting the CS while a session is open
 * queues the want (`wants`, FIFO). Sessions come from:
 * - an outside request `{kind: "acquire"}`: answered when the node ENTERS the
 *   CS, with `{session, node, enteredAt}`; the client leaves with
 *   `{kind: "release", session}`, answered once the node has left;
 * - an outside request `{kind: "auto", rounds, gap, hold}`: a timer-driven
 *   loop. `gap` ms after the request (and after each exit) a timer makes the
 *   node want the CS; once in, a second timer (`hold` ms) makes it leave; after
 *   `rounds` sessions the node answers the auto request with every session's
 *   (enter, exit) times.
 *
 * Observability. A client session is visible in the trace: `respond` to the
 * acquire (entry), `request` of the release (exit), `respond` to the release.
 * A timer-driven session's exit is the `timer` event tagged `exit:<session>`,
 * and the loop ends with a `respond` to the auto request the driver issued.
 * Its entry is a `deliver` (the last reply) whose content the trace does not
 * show, so every node also keeps a bounded history of its sessions in its
 * state, `(enter, exit)` in virtual time plus the request ids, and the safety
 * checker reads the final states as well as the trace. Why state rather than,
 * say, a 0 ms "entered" timer: under the rollback strategy an old node's events
 * after the update's cut are undone; a trace event (a timer firing) of an
 * undone entry would stay in the trace although that entry never happened in
 * the execution that survives, whereas the final state is exactly the
 * surviving execution and `respond` is output-committed (an undone answer
 * never leaves). So "the CS" that the checker judges is: what the final states
 * record, cross-checked against what left the system (responses) and the
 * trace's release requests and exit timers.
 *
 * ## The update mutex@1 -> mutex@2
 *
 * Every consistent strategy (conservative, rollback, snapshot, cut, ...)
 * makes the run equivalent to one in which the state transfer is applied to
 * every node at a consistent cut and every message in a channel of that cut is
 * replaced by its new-equivalent. So the transfer and the mapping must turn any
 * reachable (Lamport states + Lamport channel contents) into a (RA states + RA
 * channel contents) from which Ricart-Agrawala is safe and live. Write R_i for
 * i's request and order requests by (ts, id).
 *
 * The RA picture of the pair (requester i, other node j): j has granted R_i
 * (a reply is in flight or has arrived), or holds R_i deferred (it is in the
 * CS or has an earlier request of its own), or has not received R_i yet.
 *
 * What i may take from its Lamport state as a certain permission from j:
 *   seen[j] > R_i.ts and no request of j precedes R_i in i's queue.
 * That is exactly Lamport's entry condition restricted to j. It implies that j
 * is not in the CS and that every request j has or will have is later than R_i
 * (a j message stamped after R_i.ts was sent after any j request stamped
 * before it, and FIFO delivered that request first), so in RA terms j has
 * granted R_i or will grant it as soon as it sees it. Every other j is
 * "unsure": j may still be in the CS, may hold R_i deferred, or may have left
 * the CS with its Lamport `release` still in flight.
 *
 * That last case is why the transfer alone cannot be enough. Following the
 * paper, a Lamport `release` has no new-equivalent (zero messages), but a
 * release in flight at the cut is exactly j's "you may go now" to an i whose
 * request was behind j's; after the mapping erases it, nobody in the RA world
 * owes i a reply (j is idle and will never send one) and i would wait forever.
 * A state transfer cannot send messages, and the runtime offers no hook that
 * runs the new code right after the swap. So mutex@1 keeps a `tick` timer
 * pending whenever it waits for the CS (it only counts waiting ticks in
 * mutex@1); timers survive the swap, and the first tick in mutex@2 re-sends
 * the same request R_i (same timestamp) to every unsure node. In RA, receiving
 * a request again is harmless: the receiver grants it or defers it exactly as
 * RA says for its current state (deferrals are deduplicated), and a reply
 * names the request it answers (`for`), so a duplicate or stale reply never
 * counts for another request. One re-send suffices: after it, j knows R_i
 * under RA rules.
 *
 * So the state transfer, per node:
 * - clock: the Lamport clock (RA's "highest sequence number seen");
 * - in the CS: stays in the CS, requesting with its own timestamp; every queued
 *   request of another node is deferred (all are later: its own heads the queue);
 * - waiting (own request queued, not in the CS): requesting with the same
 *   timestamp (its request is queued at others already; re-stamping it would
 *   reorder priorities that others have acted on); `granted` = the certain
 *   permissions above, `unsure` = everybody else (re-asked at the first tick);
 *   queued requests later than its own are deferred (it acknowledged them
 *   with `clear: false`, which granted nothing), earlier ones are granted;
 * - idle: nothing deferred; queued requests of others were acknowledged with
 *   `clear: true` (a grant) or, if this node had an earlier request then, its
 *   release, and if that release is erased in flight the requester is unsure
 *   of this node and re-asks;
 * - the session bookkeeping (wants, open session, auto loops, history) is the
 *   same in both versions and is copied; pending timers keep their tags.
 *
 * And the message mapping, per channel:
 * - request(ts) -> RA request(ts): it is the same request;
 * - reply -> RA reply(for) when it is a grant, else nothing. A Lamport reply
 *   is only an acknowledgement; mutex@1 stamps it `clear` when the replier had
 *   no request of its own preceding the requester's (then it never will: its
 *   later requests are stamped later). A clear reply is an RA grant. A reply
 *   that is not clear grants nothing: its RA equivalent is a deferral, which
 *   is state at the replier (it still has its earlier request, so the transfer
 *   defers the requester) or, if the replier has left since, the requester is
 *   unsure of it and re-asks.
 * - release -> nothing (the paper's example); the re-ask above covers it.
 *
 * Safety after the swap: for requests R_i < R_j, j can get i's permission only
 * from a certain permission (impossible: R_i precedes R_j in j's queue or is
 * in flight to j, where j's seen[i] < R_i.ts), from a clear reply (impossible:
 * i's request preceded R_j when it replied), or from an RA reply, which i
 * withholds while requesting R_i or in the CS (R_j queued at i is deferred by
 * the transfer; R_j in flight or re-sent is deferred by RA's rule). Liveness:
 * every waiting node's unsure nodes are re-asked once, after which each pair
 * is in an RA situation (granted, deferred by an earlier request, or request
 * in flight).
 *
 * Under the naive strategy nothing of this holds: mutex@2 code receives
 * Lamport replies (which carry `for` too) and takes a mere acknowledgement for
 * a grant, which is the kind of old/new mix-up the paper's update algorithms
 * exist to prevent.
 */
import { defineBehavior, defineUpdate, type Context, type NodeId, type RequestId } from "../../index.js";

// ---- the outside world's view ----

export type MutexRequest =
  | { readonly kind: "acquire" }
  | { readonly kind: "release"; readonly session: string }
  | { readonly kind: "auto"; readonly rounds: number; readonly gap: number; readonly hold: number };

export interface Granted {
  readonly session: string;
  readonly node: NodeId;
  readonly enteredAt: number;
}

export interface Released {
  readonly session: string;
  readonly node: NodeId;
  readonly enteredAt: number;
  readonly exitedAt: number;
}

export interface AutoDone {
  readonly loop: string;
  readonly node: NodeId;
  readonly sessions: readonly SessionRecord[];
}

export type MutexResponse = Granted | Released | AutoDone;

// ---- state shared by both versions: the sessions ----

export interface Session {
  readonly id: string;
  readonly via: "client" | "auto";
  /** client: the acquire request answered at entry. */
  readonly acquire: RequestId | null;
  /** auto: the loop it belongs to. */
  readonly loop: string | null;
  readonly wantedAt: number;
  readonly enteredAt: number | null;
  readonly enteredIn: string | null;
}

/** One finished CS session, as the node recorded it (virtual ms). */
export interface SessionRecord {
  readonly session: string;
  readonly node: NodeId;
  readonly via: "client" | "auto";
  readonly wantedAt: number;
  readonly enter: number;
  readonly exit: number;
  readonly acquire: RequestId | null;
  readonly release: RequestId | null;
  readonly loop: string | null;
  /** The versions that entered and left: they differ for a session that spans the swap. */
  readonly enteredIn: string;
  readonly exitedIn: string;
}

export interface AutoLoop {
  readonly id: string;
  readonly request: RequestId;
  readonly left: number;
  readonly gap: number;
  readonly hold: number;
  readonly sessions: readonly SessionRecord[];
}

export interface SessionState {
  /** Sessions and loops opened here (ids). */
  readonly counter: number;
  /** The session being requested or in the CS. */
  readonly current: Session | null;
  readonly inCS: boolean;
  /** Sessions waiting for the current one to end, FIFO. */
  readonly wants: readonly Session[];
  readonly loops: readonly AutoLoop[];
  /** Finished sessions, the latest HISTORY_LIMIT. */
  readonly history: readonly SessionRecord[];
  /** Records that fell off the history. */
  readonly dropped: number;
}

/** A request of the queue, or any (timestamp, node) pair; ordered by (ts, node). */
export interface Stamp {
  readonly ts: number;
  readonly node: NodeId;
}

export const HISTORY_LIMIT = 1000;
/** mutex@1's waiting tick (virtual ms). */
export const TICK_MS = 10;
export const MAX_ROUNDS = 1000;

export function before(a: Stamp, b: Stamp): boolean {
  return a.ts < b.ts || (a.ts === b.ts && a.node < b.node);
}

function insert(queue: readonly Stamp[], e: Stamp): Stamp[] {
  const out = queue.filter((q) => !(q.node === e.node && q.ts === e.ts));
  let i = out.length;
  while (i > 0 && before(e, out[i - 1] as Stamp)) i--;
  out.splice(i, 0, e);
  return out;
}

function emptySessions(): SessionState {
  return { counter: 0, current: null, inCS: false, wants: [], loops: [], history: [], dropped: 0 };
}

type Ctx = Context<unknown, MutexResponse>;

/** What each version supplies to the session machinery. */
interface Protocol<S extends SessionState> {
  readonly version: string;
  /** `current` was just set and the node is not in the CS: start asking (may enter at once). */
  ask(s: S, ctx: Ctx): S;
  /** The node just left the CS (`inCS` false, `current` null): let the others go. */
  leave(s: S, ctx: Ctx): S;
}

function newSession<S extends SessionState>(s: S, via: "client" | "auto", acquire: RequestId | null, loop: string | null, ctx: Ctx): [S, Session] {
  const counter = s.counter + 1;
  const session: Session = { id: `${ctx.self}#${counter}`, via, acquire, loop, wantedAt: ctx.now, enteredAt: null, enteredIn: null };
  return [{ ...s, counter }, session];
}

/** Ask for the CS at once if no session is open, else queue the want behind the open one. */
function begin<S extends SessionState>(p: Protocol<S>, s: S, session: Session, ctx: Ctx): S {
  return s.current === null ? p.ask({ ...s, current: session }, ctx) : { ...s, wants: [...s.wants, session] };
}

/** Called by the protocol when the node may enter. */
function enterCS<S extends SessionState>(p: Protocol<S>, s: S, ctx: Ctx): S {
  const cur = s.current;
  if (cur === null || s.inCS) throw new Error(`${p.version} at "${ctx.self}": enter without a waiting session`);
  const session: Session = { ...cur, enteredAt: ctx.now, enteredIn: p.version };
  if (cur.via === "client") {
    ctx.respond(cur.acquire as RequestId, { session: cur.id, node: ctx.self, enteredAt: ctx.now });
  } else {
    const loop = s.loops.find((l) => l.id === cur.loop);
    ctx.setTimer(loop?.hold ?? 1, `exit:${cur.id}`);
  }
  return { ...s, current: session, inCS: true };
}

function recordOf(version: string, cur: Session, release: RequestId | null, ctx: Ctx): SessionRecord {
  return {
    session: cur.id,
    node: ctx.self,
    via: cur.via,
    wantedAt: cur.wantedAt,
    enter: cur.enteredAt as number,
    exit: ctx.now,
    acquire: cur.acquire,
    release,
    loop: cur.loop,
    enteredIn: cur.enteredIn as string,
    exitedIn: version,
  };
}

/** A round of loop `loopId` is over: want the CS again after the gap, or answer the loop's request after its last round. */
function roundDone<S extends SessionState>(s: S, loopId: string, rec: SessionRecord, ctx: Ctx): S {
  const loop = s.loops.find((l) => l.id === loopId);
  if (loop === undefined) return s;
  const done: AutoLoop = { ...loop, left: loop.left - 1, sessions: [...loop.sessions, rec] };
  if (done.left > 0) {
    ctx.setTimer(done.gap, `want:${done.id}`);
    return { ...s, loops: s.loops.map((l) => (l.id === done.id ? done : l)) };
  }
  ctx.respond(done.request, { loop: done.id, node: ctx.self, sessions: done.sessions });
  return { ...s, loops: s.loops.filter((l) => l.id !== done.id) };
}

/** Leave the CS: record, run the protocol's exit, close the session, start the next want. */
function exitCS<S extends SessionState>(p: Protocol<S>, s: S, release: RequestId | null, ctx: Ctx): [S, SessionRecord] {
  const cur = s.current as Session;
  const rec = recordOf(p.version, cur, release, ctx);
  const over = s.history.length + 1 - HISTORY_LIMIT;
  let next: S = {
    ...s,
    current: null,
    inCS: false,
    history: over > 0 ? [...s.history.slice(over), rec] : [...s.history, rec],
    dropped: s.dropped + Math.max(over, 0),
  };
  next = p.leave(next, ctx);
  if (cur.loop !== null) next = roundDone(next, cur.loop, rec, ctx);
  if (next.current === null && next.wants.length > 0) {
    const [head, ...rest] = next.wants as [Session, ...Session[]];
    next = p.ask({ ...next, current: head, wants: rest }, ctx);
  }
  return [next, rec];
}

function releaseRequest<S extends SessionState>(p: Protocol<S>, s: S, session: string, id: RequestId, ctx: Ctx): S {
  const cur = s.current;
  if (cur === null || !s.inCS || cur.id !== session || cur.via !== "client") {
    throw new Error(
      `${p.version} at "${ctx.self}": release of session ${JSON.stringify(session)}, but ` +
        (cur !== null && s.inCS ? `the CS is held by session ${cur.id}` : "this node is not in the CS"),
    );
  }
  const [s1, rec] = exitCS(p, s, id, ctx);
  ctx.respond(id, { session: rec.session, node: ctx.self, enteredAt: rec.enter, exitedAt: rec.exit });
  return s1;
}

function autoRequest<S extends SessionState>(s: S, req: Extract<MutexRequest, { kind: "auto" }>, id: RequestId, ctx: Ctx): S {
  const { rounds, gap, hold } = req;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) throw new RangeError(`auto: rounds must be a whole number in 1..${MAX_ROUNDS}, got ${rounds}`);
  if (!(gap >= 0) || !(hold >= 0)) throw new RangeError(`auto: gap and hold must be >= 0 ms, got ${gap} and ${hold}`);
  const counter = s.counter + 1;
  const loop: AutoLoop = { id: `${ctx.self}~${counter}`, request: id, left: rounds, gap, hold, sessions: [] };
  ctx.setTimer(gap, `want:${loop.id}`);
  return { ...s, counter, loops: [...s.loops, loop] };
}

function sessionRequest<S extends SessionState>(p: Protocol<S>, s: S, req: MutexRequest, id: RequestId, ctx: Ctx): S {
  switch (req?.kind) {
    case "acquire": {
      const [s1, session] = newSession(s, "client", id, null, ctx);
      return begin(p, s1, session, ctx);
    }
    case "release":
      return releaseRequest(p, s, req.session, id, ctx);
    case "auto":
      return autoRequest(s, req, id, ctx);
    default:
      throw new TypeError(`${p.version}: unknown request ${JSON.stringify(req)}`);
  }
}

/** The session timers; undefined if the tag is not one of them. */
function sessionTimer<S extends SessionState>(p: Protocol<S>, s: S, tag: string, ctx: Ctx): S | undefined {
  if (tag.startsWith("want:")) {
    const loopId = tag.slice("want:".length);
    if (!s.loops.some((l) => l.id === loopId)) return s;
    const [s1, session] = newSession(s, "auto", null, loopId, ctx);
    return begin(p, s1, session, ctx);
  }
  if (tag.startsWith("exit:")) {
    const sessionId = tag.slice("exit:".length);
    if (s.current?.id !== sessionId || !s.inCS) return s;
    return exitCS(p, s, null, ctx)[0];
  }
  return undefined;
}

/** The session machinery, the same in both versions, bound to one version's protocol. */
function sessionsOf<S extends SessionState>(p: Protocol<S>) {
  return {
    enter: (s: S, ctx: Ctx): S => enterCS(p, s, ctx),
    request: (s: S, req: MutexRequest, id: RequestId, ctx: Ctx): S => sessionRequest(p, s, req, id, ctx),
    timer: (s: S, tag: string, ctx: Ctx): S | undefined => sessionTimer(p, s, tag, ctx),
  };
}

// ---- mutex@1: Lamport ----

export type LamportMessage =
  | { readonly t: "request"; readonly ts: number }
  /** An acknowledgement of request `for`; `clear`: the replier had no request of its own preceding it. */
  | { readonly t: "reply"; readonly ts: number; readonly for: number; readonly clear: boolean }
  /** The sender left the CS it entered with request `of`. */
  | { readonly t: "release"; readonly ts: number; readonly of: number };

export interface LamportState extends SessionState {
  readonly clock: number;
  /** Requests known and not released, own included, ordered by (ts, node). */
  readonly queue: readonly Stamp[];
  /** Highest timestamp received from each node. */
  readonly seen: Readonly<Record<NodeId, number>>;
  /** Own request's timestamp while requesting or in the CS. */
  readonly mine: number | null;
  /** A `tick` timer is pending (always, while waiting for the CS). */
  readonly ticking: boolean;
  readonly waitTicks: number;
}

function lamportTryEnter(s: LamportState, ctx: Ctx, enter: (s: LamportState, ctx: Ctx) => LamportState): LamportState {
  if (s.mine === null || s.inCS) return s;
  const head = s.queue[0];
  if (head === undefined || head.node !== ctx.self || head.ts !== s.mine) return s;
  const mine = s.mine;
  if (!ctx.neighbors().every((j) => (s.seen[j] ?? 0) > mine)) return s;
  return enter(s, ctx);
}

function makeLamport() {
  const proto: Protocol<LamportState> = {
    version: "mutex@1",
    ask(s, ctx) {
      const clock = s.clock + 1;
      for (const j of ctx.neighbors()) ctx.send(j, { t: "request", ts: clock } satisfies LamportMessage);
      let ticking = s.ticking;
      if (!ticking) {
        ctx.setTimer(TICK_MS, "tick");
        ticking = true;
      }
      const next: LamportState = { ...s, clock, mine: clock, queue: insert(s.queue, { ts: clock, node: ctx.self }), ticking };
      return lamportTryEnter(next, ctx, sessions.enter);
    },
    leave(s, ctx) {
      const mine = s.mine as number;
      const clock = s.clock + 1;
      for (const j of ctx.neighbors()) ctx.send(j, { t: "release", ts: clock, of: mine } satisfies LamportMessage);
      return { ...s, clock, mine: null, queue: s.queue.filter((e) => !(e.node === ctx.self && e.ts === mine)) };
    },
  };
  const sessions = sessionsOf(proto);

  return defineBehavior<LamportState, LamportMessage, MutexRequest, MutexResponse>({
    version: proto.version,
    init: () => ({ ...emptySessions(), clock: 0, queue: [], seen: {}, mine: null, ticking: false, waitTicks: 0 }),
    receive(s, msg, from, ctx) {
      if (msg === null || typeof msg !== "object" || typeof msg.ts !== "number") {
        throw new TypeError(`mutex@1 cannot read ${JSON.stringify(msg)} from "${from}"`);
      }
      const clock = Math.max(s.clock, msg.ts) + 1;
      let next: LamportState = { ...s, clock, seen: { ...s.seen, [from]: Math.max(s.seen[from] ?? 0, msg.ts) } };
      switch (msg.t) {
        case "request": {
          const entry: Stamp = { ts: msg.ts, node: from };
          const clear = !(s.mine !== null && before({ ts: s.mine, node: ctx.self }, entry));
          ctx.send(from, { t: "reply", ts: clock, for: msg.ts, clear });
          next = { ...next, queue: insert(next.queue, entry) };
          break;
        }
        case "reply":
          break;
        case "release":
          next = { ...next, queue: next.queue.filter((e) => !(e.node === from && e.ts === msg.of)) };
          break;
        default:
          throw new TypeError(`mutex@1 cannot read ${JSON.stringify(msg)} from "${from}"`);
      }
      return lamportTryEnter(next, ctx, sessions.enter);
    },
    request: (s, req, id, ctx) => sessions.request(s, req, id, ctx),
    timer(s, tag, ctx) {
      if (tag === "tick") {
        if (s.mine !== null && !s.inCS) {
          ctx.setTimer(TICK_MS, "tick");
          return { ...s, waitTicks: s.waitTicks + 1 };
        }
        return { ...s, ticking: false };
      }
      const out = sessions.timer(s, tag, ctx);
      if (out === undefined) throw new Error(`mutex@1: unknown timer "${tag}"`);
      return out;
    },
  });
}

// ---- mutex@2: Ricart-Agrawala ----

export type RaMessage =
  | { readonly t: "request"; readonly ts: number; readonly g?: number }
  /** Permission for request `for` (its timestamp). */
  | { readonly t: "reply"; readonly for: number; readonly g?: number };

export interface RaState extends SessionState {
  /** Highest timestamp seen (RA's "highest sequence number"). */
  readonly clock: number;
  /** Own request's timestamp while requesting or in the CS. */
  readonly myTs: number | null;
  /** Nodes that granted the current request. */
  readonly granted: readonly NodeId[];
  /** After the update only: nodes whose grant is uncertain, re-asked at the next tick. */
  readonly unsure: readonly NodeId[];
  /** Requests to answer on leaving the CS. */
  readonly deferred: readonly Stamp[];
  /** A `tick` timer set by mutex@1 is still pending. */
  readonly ticking: boolean;
  /** Requests re-sent after the update (the repair of erased releases). */
  readonly reasked: number;
}

function raTryEnter(s: RaState, ctx: Ctx, enter: (s: RaState, ctx: Ctx) => RaState): RaState {
  if (s.myTs === null || s.inCS) return s;
  if (!ctx.neighbors().every((j) => s.granted.includes(j))) return s;
  return enter(s, ctx);
}

/**
 * Ricart-Agrawala as `version`. With a generation `gen` (the lifetime
 * fuzzer's mutex@3, mutex@4, ...) every message carries it and a message of
 * another generation is refused (a fault): the same protocol, but a mix-up of
 * generations cannot pass unnoticed. mutex@2 carries none, as it always has.
 */
export function makeRicartAgrawala(version = "mutex@2", gen?: number) {
  const withGen = (m: RaMessage): RaMessage => (gen === undefined ? m : { ...m, g: gen });
  const proto: Protocol<RaState> = {
    version,
    ask(s, ctx) {
      const ts = s.clock + 1;
      for (const j of ctx.neighbors()) ctx.send(j, withGen({ t: "request", ts }));
      return raTryEnter({ ...s, clock: ts, myTs: ts, granted: [], unsure: [] }, ctx, sessions.enter);
    },
    leave(s, ctx) {
      for (const d of s.deferred) ctx.send(d.node, withGen({ t: "reply", for: d.ts }));
      return { ...s, myTs: null, granted: [], unsure: [], deferred: [] };
    },
  };
  const sessions = sessionsOf(proto);

  return defineBehavior<RaState, RaMessage, MutexRequest, MutexResponse>({
    version: proto.version,
    init: () => ({ ...emptySessions(), clock: 0, myTs: null, granted: [], unsure: [], deferred: [], ticking: false, reasked: 0 }),
    receive(s, msg, from, ctx) {
      if (msg?.g !== gen) throw new TypeError(`${version} cannot read ${JSON.stringify(msg)} from "${from}" (another generation)`);
      if (msg?.t === "request" && typeof msg.ts === "number") {
        const clock = Math.max(s.clock, msg.ts);
        const theirs: Stamp = { ts: msg.ts, node: from };
        if (s.inCS || (s.myTs !== null && before({ ts: s.myTs, node: ctx.self }, theirs))) {
          const known = s.deferred.some((d) => d.node === from && d.ts === msg.ts);
          return { ...s, clock, deferred: known ? s.deferred : [...s.deferred, theirs] };
        }
        ctx.send(from, withGen({ t: "reply", for: msg.ts }));
        return { ...s, clock };
      }
      if (msg?.t === "reply" && typeof msg.for === "number") {
        // A reply names the request it grants: a late or duplicate one for another request is ignored.
        if (s.myTs === null || s.inCS || msg.for !== s.myTs || s.granted.includes(from)) return s;
        const next: RaState = { ...s, granted: [...s.granted, from], unsure: s.unsure.filter((j) => j !== from) };
        return raTryEnter(next, ctx, sessions.enter);
      }
      throw new TypeError(`mutex@2 cannot read ${JSON.stringify(msg)} from "${from}"`);
    },
    request: (s, req, id, ctx) => sessions.request(s, req, id, ctx),
    timer(s, tag, ctx) {
      if (tag === "tick") {
        // mutex@1's waiting tick, first firing after the swap: re-ask the nodes whose grant the transfer could not establish.
        if (s.myTs === null || s.inCS || s.unsure.length === 0) return { ...s, ticking: false, unsure: [] };
        for (const j of s.unsure) ctx.send(j, withGen({ t: "request", ts: s.myTs }));
        return { ...s, ticking: false, unsure: [], reasked: s.reasked + s.unsure.length };
      }
      const out = sessions.timer(s, tag, ctx);
      if (out === undefined) throw new Error(`mutex@2: unknown timer "${tag}"`);
      return out;
    },
  });
}

export const mutexV1 = makeLamport();
export const mutexV2 = makeRicartAgrawala();

// ---- the update ----

function sessionPart(old: SessionState): SessionState {
  const { counter, current, inCS, wants, loops, history, dropped } = old;
  return { counter, current, inCS, wants, loops, history, dropped };
}

/** Lamport's state at the cut as Ricart-Agrawala's (see the file's comment for why). */
export function transferState(old: LamportState, info: { readonly self: NodeId; readonly neighbors: readonly NodeId[] }): RaState {
  const { self, neighbors } = info;
  const base = { ...sessionPart(old), clock: old.clock, ticking: old.ticking, reasked: 0 };
  if (old.mine === null) {
    if (old.inCS || old.current !== null) throw new Error(`mutex@1 -> mutex@2 at "${self}": a session is open but no request is (inconsistent state)`);
    return { ...base, myTs: null, granted: [], unsure: [], deferred: [] };
  }
  const mine: Stamp = { ts: old.mine, node: self };
  // Later requests than ours that we acknowledged: RA holds them until we leave.
  const deferred = old.queue.filter((e) => e.node !== self && before(mine, e));
  if (old.inCS) return { ...base, myTs: old.mine, granted: [...neighbors], unsure: [], deferred };
  if (!old.ticking) throw new Error(`mutex@1 -> mutex@2 at "${self}": waiting for the CS without a pending tick; nothing would re-ask after the swap`);
  const granted = neighbors.filter((j) => (old.seen[j] ?? 0) > mine.ts && !old.queue.some((e) => e.node === j && before(e, mine)));
  const unsure = neighbors.filter((j) => !granted.includes(j));
  return { ...base, myTs: old.mine, granted, unsure, deferred };
}

/** The new-equivalent of a Lamport message: a request stays a request, a clear reply is a grant, a release is nothing. */
export function transferMessage(old: LamportMessage): RaMessage[] {
  switch (old.t) {
    case "request":
      return [{ t: "request", ts: old.ts }];
    case "reply":
      return old.clear ? [{ t: "reply", for: old.for }] : [];
    case "release":
      return [];
  }
}

export const mutexUpdate = defineUpdate<LamportState, LamportMessage, RaState, RaMessage>({
  from: mutexV1,
  to: mutexV2,
  state: transferState,
  message: (old) => transferMessage(old),
});

/**
 * Contrast 1, to show why a Lamport reply is not simply an RA reply: "replies
 * map across" read literally. The state transfer is the right one, but every
 * Lamport reply in flight becomes an RA grant, including acknowledgements sent
 * while the replier had an earlier request of its own (or was in the CS). The
 * checkers catch it: two nodes end up in the CS together.
 */
export const everyReplyIsAGrantUpdate = defineUpdate<LamportState, LamportMessage, RaState, RaMessage>({
  from: mutexV1,
  to: mutexV2,
  state: transferState,
  message: (old) => (old.t === "reply" ? [{ t: "reply", for: old.for }] : transferMessage(old)),
});

/**
 * Contrast 2, to show why the re-ask is needed: the right transfer and mapping,
 * but nobody re-asks the unsure nodes. A release erased in flight leaves its
 * addressee waiting for a grant nobody owes it: the checkers catch requests
 * that are never answered.
 */
export const noReaskUpdate = defineUpdate<LamportState, LamportMessage, RaState, RaMessage>({
  from: mutexV1,
  to: mutexV2,
  state: (old, info) => ({ ...transferState(old, info), unsure: [] }),
  message: (old) => transferMessage(old),
});

export function isSessionState(x: unknown): x is SessionState {
  if (x === null || typeof x !== "object") return false;
  const s = x as Partial<SessionState>;
  return typeof s.counter === "number" && typeof s.inCS === "boolean" && Array.isArray(s.history) && Array.isArray(s.wants) && Array.isArray(s.loops);
}
