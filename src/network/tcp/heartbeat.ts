/**
 * Failure detection on the TCP network. Every connection (node to node, and a control session, both ways) writes a
 * tiny heartbeat frame every `intervalMs`; a side that hears nothing at all from the other (no frame, not even a
 * heartbeat) for `suspectAfterMs` suspects it and closes the connection, and a neighbour's channel redials and
 * resends what the other side has not applied (nothing is lost). Without this, a partition that outlasts TCP's
 * own timers, or a neighbour that died without a FIN, left a connection marked connected for minutes.
 *
 * Why "anything heard" and not "a heartbeat heard": under load the heartbeat sits in the socket's buffer behind
 * data, but the data itself proves the peer alive. Why a heartbeat at all when data flows: a quiet link must still
 * prove itself, and an idle connection is what TCP keepalive (or a middlebox) drops first.
 */
import { LiveswapError } from "../../core/errors.js";

export interface HeartbeatOptions {
  /** How often each side writes a heartbeat frame (ms). */
  readonly intervalMs: number;
  /** How long a side may be silent before the other suspects it and closes the connection (ms). */
  readonly suspectAfterMs: number;
}

/**
 * Defaults: one heartbeat a second (23 bytes on the wire), suspicion after 10 s of silence: within TCP's own ~14 s
 * idle drop, and 10 missed beats. 5 s was tried first: on a loaded machine (5 durable nodes, 2 cores, slow fsyncs)
 * live nodes went silent that long, and each false suspicion costs a reconnect and a resend of everything
 * unacknowledged, which loads the machine further.
 */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 1000, suspectAfterMs: 10_000 };

/** Bounds the cluster file enforces (a heartbeat every ms would be a load, a suspicion after an hour no detection). */
export const HEARTBEAT_LIMITS = { minIntervalMs: 10, maxIntervalMs: 60_000, maxSuspectAfterMs: 600_000 } as const;

/** Heartbeat options that cannot work; the message names the field and what to write instead. */
export class HeartbeatOptionsError extends LiveswapError {
  readonly code = "HEARTBEAT_OPTIONS";
}

/** What is wrong with these options, or undefined; the cluster file and programs share these words. */
export function heartbeatProblem(o: HeartbeatOptions): { readonly field: keyof HeartbeatOptions; readonly message: string } | undefined {
  const { minIntervalMs, maxIntervalMs, maxSuspectAfterMs } = HEARTBEAT_LIMITS;
  if (!Number.isInteger(o.intervalMs) || o.intervalMs < minIntervalMs || o.intervalMs > maxIntervalMs) {
    return { field: "intervalMs", message: `must be a whole number of ms from ${minIntervalMs} to ${maxIntervalMs} (default ${DEFAULT_HEARTBEAT.intervalMs}), not ${String(o.intervalMs)}` };
  }
  if (!Number.isInteger(o.suspectAfterMs) || o.suspectAfterMs > maxSuspectAfterMs) {
    return { field: "suspectAfterMs", message: `must be a whole number of ms up to ${maxSuspectAfterMs} (default ${DEFAULT_HEARTBEAT.suspectAfterMs}), not ${String(o.suspectAfterMs)}` };
  }
  // One late or lost beat must not be enough: a peer is suspected only after at least two intervals of silence.
  if (o.suspectAfterMs < 2 * o.intervalMs) {
    return { field: "suspectAfterMs", message: `must be at least twice intervalMs (${2 * o.intervalMs} ms for an interval of ${o.intervalMs} ms), not ${o.suspectAfterMs}: a single late heartbeat would suspect a live peer` };
  }
  return undefined;
}

/** Throws HeartbeatOptionsError naming the field; `where` says whose options they are. */
export function checkHeartbeatOptions(o: HeartbeatOptions, where = "heartbeat"): HeartbeatOptions {
  const p = heartbeatProblem(o);
  if (p !== undefined) throw new HeartbeatOptionsError(`${where}.${p.field} ${p.message}`);
  return o;
}

/**
 * The clock of one connection's heartbeats: writes one every interval and, after the event loop had its chance to
 * read what arrived, asks whether the other side was silent too long. The check runs from setImmediate (after the
 * poll phase), and a tick that came more than an interval late is not judged: a process whose event loop was blocked
 * (a long step, a GC pause, SIGSTOP) has bytes waiting in the kernel that it has not read yet, and must not suspect
 * its peers for its own stall.
 */
export class HeartbeatClock {
  private lastHeard = performance.now();
  private lastTick = performance.now();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly o: HeartbeatOptions,
    beat: () => void,
    onSilent: (silentMs: number) => void,
  ) {
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - this.lastTick - this.o.intervalMs;
      this.lastTick = now;
      beat();
      if (late > this.o.intervalMs) return;
      setImmediate(() => {
        if (this.stopped) return;
        const silent = this.silentMs;
        if (silent > this.o.suspectAfterMs) onSilent(silent);
      });
    }, this.o.intervalMs);
    this.timer.unref();
  }

  /** Something arrived from the other side. */
  heard(): void {
    this.lastHeard = performance.now();
  }

  /** When the other side was last heard (performance.now() ms). */
  get heardAt(): number {
    return this.lastHeard;
  }

  get silentMs(): number {
    return performance.now() - this.lastHeard;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}

/** What status shows of a neighbour: suspected or not, and how long since it was last heard. */
export interface Liveness {
  readonly suspected: boolean;
  readonly silentMs: number;
}

/**
 * A node's view of each neighbour across its connections: when it was last heard (on any connection whose hello was
 * taken), whether it is suspected now, and the transitions, which the node logs and traces. A neighbour that is not
 * connected at all (killed, partitioned, refusing us) is silent too: it becomes suspected after the same timeout.
 */
export class PeerLiveness {
  /** `lastBefore`: while suspected, when the neighbour was last heard before the suspicion. */
  private readonly peers = new Map<string, { heardAt: number; lastBefore: number | undefined }>();

  constructor(
    private readonly o: HeartbeatOptions,
    private readonly onChange: (peer: string, suspected: boolean, silentMs: number) => void,
  ) {}

  /** Start watching a neighbour (its channel was opened): its silence counts from now. */
  watch(peer: string): void {
    if (!this.peers.has(peer)) this.peers.set(peer, { heardAt: performance.now(), lastBefore: undefined });
  }

  forget(peer: string): void {
    this.peers.delete(peer);
  }

  /** The neighbour spoke (a hello taken, or a connection's last heard time when it closes). */
  heard(peer: string, at = performance.now()): void {
    const p = this.peers.get(peer);
    if (p === undefined) return;
    p.heardAt = Math.max(p.heardAt, at);
    this.judge(peer, p.heardAt);
  }

  /** `live`: when the neighbour's current connection last heard from it, if it has one. */
  status(peer: string, live: number | undefined): Liveness {
    const p = this.peers.get(peer);
    if (p === undefined) return { suspected: false, silentMs: 0 };
    const heardAt = Math.max(p.heardAt, live ?? 0);
    const silentMs = Math.max(0, Math.round(performance.now() - heardAt));
    return { suspected: p.lastBefore !== undefined, silentMs };
  }

  /** Judge every neighbour now; `live` gives each one's current connection's last heard time. */
  tick(live: (peer: string) => number | undefined): void {
    for (const [peer, p] of this.peers) this.judge(peer, Math.max(p.heardAt, live(peer) ?? 0));
  }

  private judge(peer: string, heardAt: number): void {
    const p = this.peers.get(peer);
    if (p === undefined) return;
    const now = performance.now();
    const silent = now - heardAt;
    if (p.lastBefore === undefined && silent > this.o.suspectAfterMs) {
      p.lastBefore = heardAt;
      this.onChange(peer, true, Math.round(silent));
    } else if (p.lastBefore !== undefined && silent <= this.o.suspectAfterMs) {
      // How long the neighbour was out of reach: from the last time it was heard before the suspicion, to now.
      const out = Math.round(now - p.lastBefore);
      p.lastBefore = undefined;
      this.onChange(peer, false, out);
    }
  }
}
