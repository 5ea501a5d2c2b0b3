/**
 * liveswap chaos: a stream of updates (db@1 -> db@2 -> ...) on a real replicated-db cluster under a client load,
 * with faults drawn from the seed hitting each update: kill -9 and restart of nodes (the root included), SIGSTOP and
 * SIGCONT, links cut, a node cut from everyone, delay and jitter, kill -9 of `ctl update`. Afterwards the verdict
 * (verdict.ts) judges the history: the merged trace, the load's answers, the replicas.
 *
 * The update is submitted by a real `liveswap ctl update` process, so killing it is what an operator's ctl dying
 * is; the harness follows the update through its own client, finds it at its root when ctl died before saying its
 * id, and submits it again when it never reached the root. An update aborted (a node silent past the prepare
 * deadline) is submitted again once the faults are healed: nothing changed, so that is safe.
 *
 * Moves: before some updates (`moves`, drawn from the seed), a node moves to another host with `ctl move` under the
 * load (chaos-cluster.ts), and the update and its faults then find it there: a kill restarts it at its new location,
 * a cut drops its new links.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { UpdateAbortedError } from "../core/errors.js";
import type { Strategy } from "../core/update.js";
import { nodeCommand } from "../deploy/cluster-processes.js";
import { pack } from "../deploy/update-package.js";
import { startChaosCluster, type ChaosCluster, type ChaosMove, type ChaosNetworkKind } from "./chaos-cluster.js";
import { startDbLoad, type DbLoadResult } from "./db-load.js";
import { CONSISTENT_STRATEGIES, describeFault, drawPlan, withKillOf, type ChaosFault, type ChaosFaultKind, type ChaosPlan, type PlannedUpdate } from "./schedule.js";
import type { AppliedFault, UpdateOutcome } from "./outcome.js";
import { judge, type ChaosVerdict } from "./verdict.js";

export type { AppliedFault, UpdateOutcome };

export interface ChaosOptions {
  readonly seed: number;
  readonly nodes?: number;
  readonly updates?: number;
  /** One strategy for every update (naive allowed, to see the verdict catch it); default a mix of the consistent ones. */
  readonly strategy?: Strategy;
  /** The whole run's bound (ms); an update still running then is reported as not completed. Default 300,000. */
  readonly durationMs?: number;
  readonly network?: ChaosNetworkKind | "auto";
  /** Where the run keeps its cluster (default a new temporary directory, removed unless `keep`). */
  readonly dir: string;
  readonly faults?: readonly ChaosFaultKind[];
  readonly globalReadsPerSec?: number;
  readonly localOpsPerSec?: number;
  /** A deliberately broken run: this node's store is wiped each time it is killed, so it restarts from nothing. */
  readonly wipeStoreOf?: string;
  /** Nodes moved to another host over the run, each before a different update (default 1; 0: none). */
  readonly moves?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface ChaosRun {
  readonly options: Omit<ChaosOptions, "log">;
  readonly plan: ChaosPlan;
  readonly network: ChaosNetworkKind;
  readonly networkWhy?: string;
  readonly nodes: readonly string[];
  readonly links: readonly (readonly [string, string])[];
  readonly startedAt: number;
  readonly endedAt: number;
  readonly updates: readonly UpdateOutcome[];
  readonly faults: readonly AppliedFault[];
  /** The moves that completed, in order. */
  readonly moves: readonly ChaosMove[];
  readonly load: DbLoadResult;
  readonly verdict: ChaosVerdict;
}

/** Submissions of one update at most: the first, and again after an abort or when it never reached its root. */
const MAX_SUBMISSIONS = 6;

/** Every link's delay outside a delay fault: the paper's 1-10 ms. */
export const BASE_DELAY = { minMs: 1, maxMs: 10 } as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run chaos (see the file's note). Always cleans up its processes, proxies and namespaces. */
export async function runChaos(o: ChaosOptions): Promise<ChaosRun> {
  const n = o.nodes ?? 5;
  const nodes = Array.from({ length: n }, (_, i) => `r${i}`);
  const links = nodes.slice(1).map((id, i) => [nodes[i] as string, id] as const);
  const drawn = drawPlan({ seed: o.seed, nodes, links, updates: o.updates ?? 3, strategies: o.strategy !== undefined ? [o.strategy] : CONSISTENT_STRATEGIES, ...(o.faults !== undefined ? { faults: o.faults } : {}), moves: o.moves ?? 1, ...(o.wipeStoreOf !== undefined ? { unmovable: [o.wipeStoreOf] } : {}) });
  const plan = o.wipeStoreOf !== undefined ? withKillOf(drawn, o.wipeStoreOf) : drawn;
  const log = o.log ?? ((): void => undefined);
  mkdirSync(o.dir, { recursive: true });
  const cluster = await startChaosCluster({ nodes, links, dir: o.dir, seed: o.seed, network: o.network ?? "auto", delay: BASE_DELAY });
  log(`cluster of ${n} up (${cluster.network}${cluster.why !== undefined ? `: ${cluster.why}` : ""}) in ${o.dir}`);
  try {
    return await new Run(o, plan, cluster, nodes, links, log).go();
  } finally {
    await cluster.close();
  }
}

class Run {
  private readonly faults: AppliedFault[] = [];
  private readonly moves: ChaosMove[] = [];
  private readonly updates: UpdateOutcome[] = [];
  private readonly deadline: number;
  private readonly packages: string[] = [];

  constructor(
    private readonly o: ChaosOptions,
    private readonly plan: ChaosPlan,
    private readonly cluster: ChaosCluster,
    private readonly nodes: readonly string[],
    private readonly links: readonly (readonly [string, string])[],
    private readonly log: (line: string) => void,
  ) {
    this.deadline = Date.now() + (o.durationMs ?? 300_000);
  }

  async go(): Promise<ChaosRun> {
    const startedAt = Date.now();
    await this.packAll();
    const load = startDbLoad(this.cluster.client, { replicas: this.nodes, globalReadsPerSec: this.o.globalReadsPerSec ?? 50, localOpsPerSec: this.o.localOpsPerSec ?? 20, seed: this.o.seed, attemptMs: 3_000 });
    await sleep(1_500);
    for (const [i, u] of this.plan.updates.entries()) {
      if (Date.now() > this.deadline) break;
      if (u.moveBefore !== undefined) await this.runMove(i, u.moveBefore);
      await this.runUpdate(i, u);
      // The next update converts from this one's version: without it the stream cannot go on.
      if (!this.updates.at(-1)?.completed) {
        this.log(`the stream stops at update ${i + 1}: the later updates convert from the version it did not reach`);
        break;
      }
      await sleep(1_000);
    }
    this.log("stopping the load (its requests in flight get 20 s)");
    const result = await load.stop(20_000);
    await this.cluster.healAll();
    const verdict = await judge({ cluster: this.cluster, nodes: this.nodes, load: result, updates: this.updates, planned: this.plan.updates.length, strategyOf: (i) => this.plan.updates[i]?.strategy, moves: this.moves, moveFaults: this.faults.filter((f) => f.fault.kind === "move") });
    const { log: _log, ...options } = this.o;
    return {
      options,
      plan: this.plan,
      network: this.cluster.network,
      ...(this.cluster.why !== undefined ? { networkWhy: this.cluster.why } : {}),
      nodes: this.nodes,
      links: this.links,
      startedAt,
      endedAt: Date.now(),
      updates: this.updates,
      faults: this.faults,
      moves: this.moves,
      load: result,
      verdict,
    };
  }

  /** Move `node` to another host under the load; a failure is recorded (the verdict reports it) and the run goes on. */
  private async runMove(update: number, node: string): Promise<void> {
    const applied: AppliedFault = { update, fault: { kind: "move", node, atMs: 0 }, text: `ctl move ${node} to another host`, at: Date.now() };
    this.faults.push(applied);
    try {
      // A node that has not heard its last update's end yet (its root reported it) refuses to move: wait for all.
      await this.cluster.untilEvery((s) => s.update === null, 30_000, 200);
      const m = await this.cluster.move(node);
      this.moves.push(m);
      applied.text = `ctl move ${node}: ${m.from} -> ${m.to} (host ${m.host}, location epoch ${m.locationEpoch})`;
      this.log(`before update ${update + 1}: ${applied.text}`);
    } catch (e) {
      applied.error = e instanceof Error ? e.message : String(e);
      this.log(`before update ${update + 1}: ctl move ${node} FAILED: ${applied.error}`);
    }
    applied.until = Date.now();
  }

  /** Sign one package per planned update: db@k -> db@(k+1) (generations.ts), with the cluster's signing key. */
  private async packAll(): Promise<void> {
    const dir = join(this.o.dir, "packages");
    mkdirSync(dir, { recursive: true });
    const fromSource = import.meta.url.endsWith(".ts");
    const generations = resolve(import.meta.dirname, "..", "scenarios", "replicated-db", fromSource ? "generations.ts" : "generations.js");
    for (const u of this.plan.updates) {
      const entry = join(dir, `db-${u.from}-${u.from + 1}.mjs`);
      writeFileSync(entry, `import { databaseUpdate } from ${JSON.stringify(generations)};\nexport const update = databaseUpdate(${u.from}, ${u.from + 1}, 38);\n`);
      const file = join(dir, `db-${u.from}-${u.from + 1}.lspkg`);
      writeFileSync(file, JSON.stringify(await pack(entry, { key: join(this.cluster.keys, "signing.key") })));
      this.packages.push(file);
    }
  }

  private async runUpdate(index: number, u: PlannedUpdate): Promise<void> {
    const out: UpdateOutcome = { planned: u, index, submittedAt: Date.now(), attempts: 0, ids: [], notes: [], completed: false };
    this.updates.push(out);
    this.log(`update ${index + 1}: db@${u.from} -> db@${u.from + 1} (${u.strategy}, root ${u.root}); faults: ${u.faults.map(describeFault).join("; ") || "none"}`);
    for (let attempt = 1; attempt <= MAX_SUBMISSIONS && !out.completed && Date.now() < this.deadline; attempt++) {
      if (attempt > 1) await sleep(2_000); // a machine too busy to answer ctl in time gets a moment
      out.attempts = attempt;
      const ctl = this.submit(index, u);
      // A kill -9 of ctl from its start may hit the submission itself; the other faults count from the moment the
      // root took the update (ctl says so), so that they hit the update rather than ctl's start-up.
      const first = attempt === 1;
      const fromStart = (f: ChaosFault): boolean => f.kind === "kill-ctl" && f.from === "start";
      const ctlFaults = first ? this.inject(index, u.faults.filter(fromStart), ctl.child) : Promise.resolve();
      const said = await ctl.id;
      await Promise.all([ctlFaults, first ? this.inject(index, u.faults.filter((f) => !fromStart(f)), ctl.child) : undefined]);
      await this.cluster.healAll();
      await this.follow(out, u, said, ctl.log);
      // ctl follows the update too and exits at its end; one still following a given-up attempt is stopped.
      if (ctl.child.exitCode === null && ctl.child.signalCode === null) ctl.child.kill("SIGTERM");
    }
    out.endedAt = Date.now();
    this.log(`update ${index + 1}: ${out.completed ? "completed" : "NOT completed"} after ${out.attempts} submission(s)${out.notes.length > 0 ? ` (${out.notes.join("; ")})` : ""}`);
  }

  /** `liveswap ctl update` as a process of its own; `id` resolves with the id it printed, or undefined if it died first. */
  private submit(index: number, u: PlannedUpdate): { readonly child: ChildProcess; readonly id: Promise<number | undefined>; log(): string } {
    const { cmd, args } = nodeCommand();
    const child = spawn(cmd, [...args, "ctl", "--cluster", this.cluster.cluster.file, "update", this.packages[index] as string, "--strategy", u.strategy, "--root", u.root], { stdio: ["ignore", "pipe", "pipe"] });
    this.cluster.adopt(child);
    let text = "";
    child.stdout?.on("data", (d: Buffer) => void (text += d.toString()));
    child.stderr?.on("data", (d: Buffer) => void (text += d.toString()));
    const id = new Promise<number | undefined>((res) => {
      child.stdout?.on("data", () => {
        const m = /update #(\d+) coordinated by/.exec(text);
        if (m) res(Number(m[1]));
      });
      child.once("exit", () => res(undefined));
    });
    return { child, id, log: () => text };
  }

  /** Follow the update to its end; on abort, or when it never reached its root, note why (the caller submits again). */
  private async follow(out: UpdateOutcome, u: PlannedUpdate, said: number | undefined, ctlLog: () => string): Promise<void> {
    const id = said ?? (await this.findSubmitted(u.root, out.ids));
    if (id === undefined && (await this.atVersion(`db@${u.from + 1}`))) {
      // It ran, and the root's answer was lost (ctl killed, its view not read in time): its figures are not known.
      out.completed = true;
      out.notes.push(`submission ${out.attempts}: every node found at db@${u.from + 1} (the update's report was not seen)`);
      return;
    }
    if (id === undefined) {
      out.notes.push(`submission ${out.attempts} never reached root ${u.root} (ctl: ${lastLine(ctlLog())})`);
      return;
    }
    out.ids.push(id);
    try {
      const bound = Math.max(5_000, this.deadline - Date.now());
      out.report = await withTimeout(this.cluster.client.watch({ root: u.root, id }), bound, `update #${id} did not end within ${bound} ms`);
      out.completed = true;
    } catch (e) {
      out.notes.push(`#${id}: ${e instanceof UpdateAbortedError ? "aborted" : "failed"}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Does every node answer, at `version`? */
  private async atVersion(version: string): Promise<boolean> {
    const { up } = await this.cluster.client.statusAll().catch(() => ({ up: [] as const }));
    return up.length === this.nodes.length && up.every((s) => s.version === version && s.update === null);
  }

  /** ctl died before printing the id: did the root take the update? Its view names an id none of ours had. */
  private async findSubmitted(root: string, known: readonly number[]): Promise<number | undefined> {
    const before = Math.max(0, ...this.updates.flatMap((x) => x.ids));
    for (let i = 0; i < 20; i++) {
      const view = await this.cluster.client.updateView(root).catch(() => undefined);
      if (view === null) return undefined;
      if (view !== undefined) return view.id > before && !known.includes(view.id) ? view.id : undefined;
      await sleep(500);
    }
    return undefined;
  }

  /** Apply the update's faults at their offsets; resolves once every one is undone. */
  private inject(update: number, faults: readonly ChaosFault[], ctl: ChildProcess): Promise<void> {
    const t0 = Date.now();
    return Promise.all(
      faults.map(async (f) => {
        await sleep(Math.max(0, t0 + f.atMs - Date.now()));
        const applied: AppliedFault = { update, fault: f, text: describeFault(f), at: Date.now() };
        this.faults.push(applied);
        try {
          await this.apply(f, ctl);
        } catch (e) {
          applied.error = e instanceof Error ? e.message : String(e);
        }
        applied.until = Date.now();
      }),
    ).then(() => undefined);
  }

  private async apply(f: ChaosFault, ctl: ChildProcess): Promise<void> {
    const c = this.cluster;
    switch (f.kind) {
      case "kill":
        await c.kill(f.node);
        if (this.o.wipeStoreOf === f.node) rmSync(join(this.o.dir, "store", f.node), { recursive: true, force: true });
        await sleep(f.downMs);
        return c.startNodes([f.node]);
      case "pause":
        c.stop(f.node);
        await sleep(f.forMs);
        return c.cont(f.node);
      case "cut":
        await c.cut(f.a, f.b);
        await sleep(f.forMs);
        return c.heal(f.a, f.b);
      case "isolate":
        await c.isolate(f.node);
        await sleep(f.forMs);
        return c.rejoin(f.node);
      case "delay":
        c.setDelay(f.a, f.b, { minMs: f.minMs, maxMs: f.maxMs });
        await sleep(f.forMs);
        return c.setDelay(f.a, f.b, BASE_DELAY);
      case "kill-ctl":
        ctl.kill("SIGKILL");
        return;
    }
  }
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.slice(0, 300) ?? "nothing";
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]).finally(() => clearTimeout(timer));
}

/** The run's files: the cluster file's directory (logs under .liveswap-logs, traces, stores). */
export function readNodeLog(dir: string, node: string): string {
  try {
    return readFileSync(join(dir, ".liveswap-logs", `${node}.log`), "utf8");
  } catch {
    return "";
  }
}
