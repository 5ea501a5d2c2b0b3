/**
 * What the console page shows, one value a refresh: a cluster's (cluster-source.ts) or a simulated run's
 * (sim-source.ts). The page draws it and nothing else, so both sources look the same to an operator.
 */
import type { UpdateView } from "../network/tcp/protocol.js";

export type NodeHealth = "up" | "suspected" | "down" | "moving";

export interface ConsoleNode {
  readonly id: string;
  readonly version: string;
  readonly epoch: number;
  readonly health: NodeHealth;
  /** Why it is not up (the error a status gave, a crash), for a tooltip. */
  readonly why?: string;
  /** Its part in the running update: prepared (still old), new, or halted there. */
  readonly part?: "preparing" | "prepared" | "new" | "halted";
  /** Messages a second it sent and received, and outside requests a second it settled (since the last refresh). */
  readonly sentPerSec: number;
  readonly receivedPerSec: number;
  readonly requestsPerSec: number;
  readonly openRequests: number;
  /** Messages to its neighbours not acknowledged yet. */
  readonly outbox: number;
  /** Where it runs (an address, or a simulated location label). */
  readonly at?: string;
}

export interface ConsoleLink {
  readonly a: string;
  readonly b: string;
  /** down: a side says it is not connected or suspects the other. */
  readonly state: "up" | "down";
}

/** The running update (or the last one) as its root's control plane shows it (a simulated run's is built alike). */
export type ConsoleUpdate = Pick<UpdateView, "id" | "root" | "strategy" | "phase" | "nodes" | "prepared" | "new" | "halted" | "waiting">;

export interface ConsoleState {
  readonly source: "cluster" | "simulation";
  readonly title: string;
  /** Wall ms (a cluster) or virtual ms (a simulation) of this state. */
  readonly at: number;
  readonly nodes: readonly ConsoleNode[];
  readonly links: readonly ConsoleLink[];
  /** The running update, or the last one (with its outcome phase). */
  readonly update: ConsoleUpdate | null;
  /** Cluster-wide: messages and settled requests a second. */
  readonly messagesPerSec: number;
  readonly requestsPerSec: number;
  /** A space-time diagram of the last seconds (SVG, drawn by viz), or why there is none. */
  readonly diagram: string;
  /** What the buttons may do now. */
  readonly actions: { readonly abort: boolean; readonly resume: boolean };
  /** A simulation's playback: virtual ms played, of the run's total, at this speed. */
  readonly playback?: { readonly playedMs: number; readonly totalMs: number; readonly speed: number };
}

/** What the console server reads and asks of its source. */
export interface ConsoleSource {
  state(): Promise<ConsoleState>;
  /** Abort the running update (refused by the root when it cannot be). */
  abort(): Promise<string>;
  /** Resume a halted update with a package (a cluster's signed package text). */
  resume(pkg: string): Promise<string>;
  /** Nobody watches any more: let go of what costs the watched (a cluster's control sessions); state() takes them again. */
  idle?(): void;
  close(): Promise<void>;
}
