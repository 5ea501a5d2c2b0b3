export type Invariant = "correctness" | "awareness" | "termination";

export interface Violation {
  invariant: Invariant;
  /** Human readable: which message, which nodes, which versions. */
  message: string;
  at: number;
}

export interface CheckReport {
  ok: boolean;
  violations: Violation[];
}
