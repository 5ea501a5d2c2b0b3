/**
 * The mutex scenario's load: acquire/release client sessions and timer-driven
 * loops against a system, the failures its clients saw, and the mutex
 * checker's verdict. Shared by the single-update scenario (run) and the
 * lifetime fuzzer (issue, finish).
 *
 * Determinism: the whole load is drawn from the rng it is given while it is
 * issued, and every step of it awaits the system only.
 */
import { describeError } from "../../core/errors.js";
import type { Rng } from "../../core/rng.js";
import type { NodeId, System } from "../../index.js";
import { isSessionState, mutexV1, type AutoDone, type Granted, type MutexRequest, type Released } from "./mutex.js";
import { checkMutex } from "./safety.js";
import { mutexNode } from "./scenario.js";

/** Virtual ms after which an unanswered request rejects: far beyond any healthy wait (a few hundred ms at most). */
export const REQUEST_TIMEOUT = 5_000;

/** How long a stuck run waits for the update to turn its waiting mutex@1 nodes new, and in what steps (virtual ms). */
const GUARD_LIMIT = 10 * REQUEST_TIMEOUT;
const GUARD_STEP = 100;

/** One unit of load, drawn before it is issued. Sessions cost two requests (acquire, release), loops one. */
type Load =
  | { readonly kind: "client"; readonly i: number; readonly at: NodeId; readonly hold: number }
  | { readonly kind: "auto"; readonly i: number; readonly at: NodeId; readonly req: Extract<MutexRequest, { kind: "auto" }> };

/** One run's load, issued and awaited against the system, and the failures its clients saw. */
export class MutexLoad {
  readonly failures: string[] = [];
  private readonly issued: Promise<void>[] = [];

  constructor(private readonly sys: System) {}

  private fail(what: string, e: unknown): void {
    this.failures.push(`client: ${what}: ${describeError(e)}`);
  }

  /** Think, acquire, hold, release. The acquire answers when the node has entered the CS. */
  private async client({ i, at, hold }: Extract<Load, { kind: "client" }>): Promise<void> {
    const { sys, failures } = this;
    let g: Granted;
    try {
      g = await sys.request<Granted>(at, { kind: "acquire" } satisfies MutexRequest);
    } catch (e) {
      return this.fail(`session ${i} at "${at}": acquire failed`, e);
    }
    if (g.node !== at) failures.push(`client: session ${i}: acquired at "${at}" but the answer names "${g.node}"`);
    try {
      await sys.sleep(hold);
    } catch (e) {
      return this.fail(`session ${i} at "${at}": holding ${g.session}`, e);
    }
    try {
      const r = await sys.request<Released>(at, { kind: "release", session: g.session } satisfies MutexRequest);
      if (r.session !== g.session) failures.push(`client: session ${i} at "${at}": released ${g.session} but the answer names ${r.session}`);
    } catch (e) {
      this.fail(`session ${i} at "${at}": release of ${g.session} failed`, e);
    }
  }

  /** A timer-driven loop: one request, answered after its last round. */
  private async auto({ i, at, req }: Extract<Load, { kind: "auto" }>): Promise<void> {
    try {
      const r = await this.sys.request<AutoDone>(at, req);
      if (r.sessions.length !== req.rounds) this.failures.push(`client: loop ${i} at "${at}": ${req.rounds} round(s) asked, ${r.sessions.length} reported`);
    } catch (e) {
      this.fail(`loop ${i} at "${at}" (${req.rounds} round(s))`, e);
    }
  }

  /**
   * A mutex@1 node that waits for the CS keeps its tick timer pending forever, so runCase's settle() (and an
   * update that never turns it new) would never return. Once the load is over that can only be a run that has
   * already failed (a request gave up): a broken update or strategy left the node old, or stuck. Give the update
   * time to turn it new; if it stays old and waiting, say so and close the system so that the run ends and is
   * reported. Never before the update was called (runCase still sleeps until then) and never in a healthy run.
   */
  private async unstick(): Promise<void> {
    const { sys, failures } = this;
    let called = false;
    const updateCalled = (): boolean =>
      (called ||= sys.updating() || sys.trace().some((e) => e.kind === "update-start" || e.kind === "update-end" || (e.kind === "control-send" && e.update > 0)));
    const waitingOld = (): NodeId[] =>
      sys.nodes().filter((id) => {
        const s = sys.state(id);
        return sys.version(id) === mutexV1.version && isSessionState(s) && s.current !== null && !s.inCS;
      });
    let stuck = waitingOld();
    let waited = 0;
    for (; stuck.length > 0 && (!updateCalled() || sys.updating()) && waited < GUARD_LIMIT; waited += GUARD_STEP) {
      await sys.sleep(GUARD_STEP);
      stuck = waitingOld();
    }
    if (stuck.length === 0) return;
    const list = stuck.map((id) => `"${id}"`).join(", ");
    if (!updateCalled()) {
      failures.push(`stuck: the load is over but mutex@1 node(s) ${list} still wait for the CS, and no update came within ${GUARD_LIMIT} ms`);
      return;
    }
    failures.push(
      `stuck: the load is over but mutex@1 node(s) ${list} still wait for the CS at ${sys.now()} ms` +
        (sys.updating() ? `, the update still running after ${waited} more ms` : " and the update is over") +
        "; their tick would never let the run settle: the system was closed",
    );
    await sys.close();
  }

  /** Draw and issue `requests` requests' worth of load, await all of it, then unstick; never rejects. */
  async run(nodes: readonly NodeId[], rng: Rng, requests: number): Promise<void> {
    const running: Promise<void>[] = [];
    try {
      let left = requests;
      for (let i = 0; left > 0; i++) {
        await this.sys.sleep(rng.int(0, 4));
        const at = rng.pick(nodes);
        if (left >= 2 && rng.float() < 0.75) {
          left -= 2;
          running.push(this.client({ kind: "client", i, at, hold: rng.int(1, 8) }));
        } else {
          left -= 1;
          const req = { kind: "auto", rounds: rng.int(1, 3), gap: rng.int(0, 12), hold: rng.int(1, 6) } as const;
          running.push(this.auto({ kind: "auto", i, at, req }));
        }
      }
    } catch (e) {
      this.fail("issuing the load", e);
    }
    // Every task catches its own failures: this never rejects.
    await Promise.all(running);
    try {
      await this.unstick();
    } catch (e) {
      this.fail("after the load", e);
    }
  }

  /**
   * The lifetime fuzzer's load, one unit at a time: a session or a loop at `at`, drawn as run() draws them.
   * Its outcome is collected by finish(), never awaited here.
   */
  issue(at: NodeId, rng: Rng): void {
    if (rng.float() < 0.75) this.issued.push(this.client({ kind: "client", i: this.issued.length, at, hold: rng.int(1, 8) }));
    else {
      const req = { kind: "auto", rounds: rng.int(1, 3), gap: rng.int(0, 12), hold: rng.int(1, 6) } as const;
      this.issued.push(this.auto({ kind: "auto", i: this.issued.length, at, req }));
    }
  }

  /** Every unit issue() started has ended (each catches its own failures, so this never rejects). */
  async finish(): Promise<void> {
    await Promise.all(this.issued);
  }

  /** The mutex checker's verdict on the trace and the final states, then what the clients saw fail. */
  problems(): string[] {
    const { sys } = this;
    const states: Record<NodeId, unknown> = {};
    for (const id of sys.nodes()) states[id] = sys.state(id);
    return [...checkMutex(sys.trace(), states).violations, ...this.failures];
  }
}

