/**
 * A lifetime's data: what the lifetime fuzzer draws from a seed (lifetime.ts)
 * and the shrinker edits. It is plain data (a case file is its JSON), and
 * every reference to a node or a link is an index taken modulo what exists
 * when the step runs, so any subsequence of a lifetime's steps is itself a
 * valid lifetime: that is what lets the shrinker drop steps freely.
 */
export type LifetimeStep =
  /** Issue `requests` outside requests, 0..3 ms apart, at nodes drawn from `seed`; their answers are not awaited. */
  | { readonly kind: "load"; readonly requests: number; readonly seed: number }
  | { readonly kind: "sleep"; readonly ms: number }
  /**
   * Update every node from the current generation to generation `to` (lower: a back-out), from root
   * `root` (an index), with `during` requests issued while it runs (drawn from `seed`). `refuse`: first
   * offer a transfer that throws in prepare's dry run (it must be refused), then retry with the real one.
   * `halt`: the transfer throws at swap time at that node (an index), then sys.resume() with the real one.
   * `detached`: the steps after it run while it runs (faults within the update); it is awaited at the next join
   * (an update or configuration step, or the end of the lifetime).
   */
  | {
      readonly kind: "update";
      readonly to: number;
      readonly root: number;
      readonly during: number;
      readonly seed: number;
      readonly refuse: boolean;
      readonly halt: number | null;
      readonly detached?: boolean;
      /** With `halt`: while the update is halted, the halted node moves (to the location this indexes), then resume. */
      readonly moveHalted?: number;
    }
  /** A node at the current generation, of family `family` (an index), linked to the nodes `links` (indices). */
  | { readonly kind: "create"; readonly family: number; readonly links: readonly number[] }
  | { readonly kind: "link"; readonly a: number; readonly b: number }
  /** Remove link `link` (an index into the sorted links), unless that disconnects the graph. */
  | { readonly kind: "unlink"; readonly link: number }
  | { readonly kind: "destroy"; readonly node: number }
  /** Crash node `node` (an index into every node, as an update's root is: the same index crashes the root). */
  | { readonly kind: "crash"; readonly node: number }
  /** Restart a crashed node: `node` indexes the crashed ones, so the step stays meaningful whatever the shrinker drops. */
  | { readonly kind: "restart"; readonly node: number }
  /**
   * A crashed node is lost for good (`node` indexes the crashed ones): forgotten; the running update's root is taken
   * over instead at a live node (`node` also picks it). Where the system refuses (a forget would cut nodes off from
   * the root, a neighbour is down too) or the application cannot lose a node (its scenario does not destroy nodes),
   * the node is restarted instead, saying so.
   */
  | { readonly kind: "lose"; readonly node: number }
  /**
   * Move node `node` (an index into every node) to another location (`to` indexes the locations it is not at). Not
   * awaited: it lands at the next join, so a crash of the same node drawn right after it interrupts it, and one drawn
   * while an update runs is refused (expected).
   */
  | { readonly kind: "move"; readonly node: number; readonly to: number }
  /** Partition a link (`link` indexes the links not partitioned), or heal one (`link` indexes the partitioned ones). */
  | { readonly kind: "partition" | "heal"; readonly link: number };

/** A step that injects a fault or ends one. */
export type FaultStep = Extract<LifetimeStep, { kind: "crash" | "restart" | "lose" | "partition" | "heal" }>;

export const isFaultStep = (s: LifetimeStep): s is FaultStep => s.kind === "crash" || s.kind === "restart" || s.kind === "lose" || s.kind === "partition" || s.kind === "heal";

/** A group-commit window (System's groupCommitMs): absent or 0, every step commits as it ends. */
export type CommitWindow = number | { readonly min: number; readonly max: number };

export interface Lifetime {
  /** The system's seed (message delays) and the first nodes' draws. */
  readonly seed: number;
  readonly nodes: number;
  readonly steps: readonly LifetimeStep[];
  /** The system's group-commit window (a crash loses what ran since the last commit). Absent: 0. */
  readonly groupCommitMs?: CommitWindow;
}

