/**
 * A node process's inputs while update code loads. A prepare or resume carries a package that must be loaded
 * (verified, imported) before the node host takes the envelope, in one step, as a replay of the node's log will.
 *
 * What waits meanwhile: only the coordinator's later envelopes. Its plane is one FIFO channel, so they must follow the
 * prepare; the neighbours' messages, requests and timers go on, as if the prepare had arrived when its code was ready
 * (another channel: any interleaving is one the network could have made, and nothing can depend on the prepare
 * before the host took it, since the update starts only once every node reported prepared). Holding every input
 * stalled each replica for its package's load, and every global read crossing it (the realtime bench's prepare dip).
 * Code that comes any other way (not on the plane) still holds every input, as before.
 */
import type { Envelope } from "../core/envelope.js";

export interface CodeGateHooks {
  /** The code this envelope carries that is not loaded yet: a promise that settles once it is (or failed). */
  readonly loading: (env: Envelope) => Promise<void> | undefined;
  /** Hand an envelope to the host (one input). */
  readonly deliver: (env: Envelope) => void;
  /** Every input waited: the ones run now are one batch (a durable node commits them). */
  readonly drained: () => void;
  readonly stopped: () => boolean;
}

interface Wait {
  /** Only the coordinator's plane waits (the code came on it). */
  readonly planeOnly: boolean;
  readonly inputs: (() => void)[];
  readonly plane: Envelope[];
}

export class CodeGate {
  private wait: Wait | undefined;

  constructor(private readonly hooks: CodeGateHooks) {}

  /** Does an input other than an envelope (a request, a timer) wait now? */
  get holdsAll(): boolean {
    return this.wait !== undefined && !this.wait.planeOnly;
  }

  /** Queue an input behind the code that loads (only when holdsAll). */
  hold(run: () => void): void {
    this.wait?.inputs.push(run);
  }

  /** An envelope: to the host now, or behind the code that loads, or the first to wait for its own code. */
  offer(env: Envelope): void {
    const plane = env.kind === "control" && env.plane;
    const w = this.wait;
    if (w !== undefined && (plane || !w.planeOnly)) {
      if (plane && w.planeOnly) w.plane.push(env);
      else w.inputs.push(() => this.hooks.deliver(env));
      return;
    }
    const loading = this.hooks.loading(env);
    if (loading === undefined) return this.hooks.deliver(env);
    const wait: Wait = { planeOnly: plane, inputs: [() => this.hooks.deliver(env)], plane: [] };
    this.wait = wait;
    void loading.then(() => this.drain(wait));
  }

  /** Run what waited, in order; one of them may start another wait, which the rest then join. */
  private drain(w: Wait): void {
    this.wait = undefined;
    while (w.inputs.length > 0 && !this.hooks.stopped()) {
      (w.inputs.shift() as () => void)();
      const again = this.wait as Wait | undefined;
      if (again !== undefined) {
        again.inputs.push(...w.inputs);
        for (const env of w.plane) this.offer(env);
        return;
      }
    }
    this.hooks.drained();
    // A node stopped meanwhile takes nothing more (the loop above ran none of what waited either).
    if (this.hooks.stopped()) return;
    for (const env of w.plane) this.offer(env);
  }
}
