/**
 * The console's view of a simulated run: the paper's experiment (the replicated database updated under load, from
 * the far end of a line) run once on the simulated network, then played to the page at a chosen speed (virtual ms
 * a wall second), so a new user sees an update happen before running a cluster. The run is the seed's: the same
 * seed plays the same run.
 */
import type { Strategy } from "../core/update.js";
import { runExperiment } from "../scenarios/replicated-db/experiment.js";
import type { ConsoleSource, ConsoleState } from "./console-state.js";
import { TracePlayer } from "./trace-player.js";

export interface SimSourceOptions {
  readonly strategy: Strategy;
  readonly seed: number;
  readonly nodes?: number;
  readonly entries?: number;
  /** Virtual ms played a wall second (default 50: a twentieth of real time). */
  readonly speed?: number;
  /** The wall clock (ms); a test gives its own. */
  readonly now?: () => number;
}

/** How long the end of a run stays on screen before it plays again (wall ms). */
const HOLD_MS = 5_000;

export class SimSource implements ConsoleSource {
  /** When the current playback began: at the first look (a page opened), not when the run was made. */
  private startedAt: number | undefined;
  private player: TracePlayer;

  private constructor(
    private readonly makePlayer: () => TracePlayer,
    private readonly speed: number,
    private readonly now: () => number,
  ) {
    this.player = makePlayer();
  }

  /** Run the experiment (virtual time: a second or so of wall time), ready to play from its start. */
  static async start(o: SimSourceOptions): Promise<SimSource> {
    const result = await runExperiment({ strategy: o.strategy, seed: o.seed, ...(o.nodes !== undefined ? { nodes: o.nodes } : {}), ...(o.entries !== undefined ? { entries: o.entries } : {}) });
    const title = `the paper's experiment: ${result.nodes} replicas, ${o.strategy}, seed ${o.seed}`;
    const trace = result.system.trace();
    await result.system.close();
    return new SimSource(() => new TracePlayer(trace, { title, diagramMs: 60 }), o.speed ?? 50, o.now ?? Date.now);
  }

  get totalMs(): number {
    return this.player.totalMs;
  }

  /** The state at the playback's point; once the run's end has been shown for a while, it plays again from the start. */
  async state(): Promise<ConsoleState> {
    const now = this.now();
    this.startedAt ??= now;
    const endsAt = this.startedAt + (this.player.totalMs * 1000) / this.speed;
    if (now > endsAt + HOLD_MS) {
      this.player = this.makePlayer();
      this.startedAt = now;
    }
    const played = Math.min(this.player.totalMs, ((now - this.startedAt) * this.speed) / 1000);
    return this.player.stateAt(played, { playedMs: played, totalMs: this.player.totalMs, speed: this.speed });
  }

  abort(): Promise<string> {
    return Promise.reject(new Error("a simulated run plays what happened: there is nothing to abort"));
  }

  resume(): Promise<string> {
    return Promise.reject(new Error("a simulated run plays what happened: there is nothing to resume"));
  }

  async close(): Promise<void> {
    // Nothing runs: the run was over before it played.
  }
}
