/**
 * A running lifetime's mutable side: the system, its generation, the load,
 * what each step did, the faults in force (crashed nodes are the system's;
 * partitions are tracked here, as only the lifetime makes them), and a
 * detached update still running with what finishes it.
 */
import type { NodeId } from "../core/ids.js";
import { Rng } from "../core/rng.js";
import type { Strategy } from "../core/update.js";
import type { System } from "../system.js";
import type { LifetimeLoad, LifetimeSupport } from "./scenario.js";

/** A detached update: awaited at the next join (see lifetime-run.ts). */
export interface RunningUpdate {
  /** Awaits the update's outcome (and resumes a halt), and says how it ended. */
  readonly finish: () => Promise<string>;
}

export class LifetimeRun {
  gen = 1;
  created = 0;
  stopped = false;
  readonly steps: string[] = [];
  readonly errors: string[] = [];
  /** Partitioned links, "a|b" with a < b. */
  readonly partitions = new Set<string>();
  /** The update started by a detached step and not awaited yet. */
  running: RunningUpdate | undefined;
  /** Moves started and not landed yet (awaited at the next join): the node, where to, and how it ended. */
  readonly moves: { readonly id: NodeId; readonly to: string; readonly outcome: Promise<unknown> }[] = [];
  /** Requests issued in the background while a detached update runs (awaited at its join). */
  readonly background: Promise<void>[] = [];

  constructor(
    readonly sys: System,
    readonly life: LifetimeSupport,
    readonly strategy: Strategy,
    readonly load: LifetimeLoad,
    /** A synchronized system refuses crash (documented): its crash steps are skipped. */
    readonly synchronized: boolean,
    /** The lifetime has faults or a commit window: awaiting its updates is bounded (a stuck recovery is reported, not hung on). */
    readonly faulty: boolean,
  ) {}

  /** The nodes by name, so that an index means the same node on every run. */
  nodes(): NodeId[] {
    return [...this.sys.nodes()].sort();
  }

  nodeAt(i: number): NodeId {
    const ns = this.nodes();
    return ns[i % ns.length] as NodeId;
  }

  /** Crashed nodes, by name. */
  down(): NodeId[] {
    return this.nodes().filter((n) => this.sys.isDown(n));
  }

  isDown(id: NodeId): boolean {
    return this.sys.isDown(id);
  }

  isPartitioned(a: NodeId, b: NodeId): boolean {
    return this.partitions.has(pairKey(a, b));
  }

  /** Something no step expected: recorded, and the lifetime stops (the system may be mid-update). */
  unexpected(what: string): void {
    this.errors.push(what);
    this.stopped = true;
  }

  async issue(count: number, seed: number): Promise<void> {
    const rng = new Rng(seed);
    for (let i = 0; i < count; i++) {
      await this.sys.sleep(rng.int(0, 3));
      this.load.issue(rng.pick(this.nodes()), rng);
    }
  }
}

/** A link's key, the same for (a, b) and (b, a). */
export function pairKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

export function splitPair(key: string): readonly [NodeId, NodeId] {
  const bar = key.indexOf("|");
  return [key.slice(0, bar), key.slice(bar + 1)];
}
