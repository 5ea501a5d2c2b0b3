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
  /** A trace checked from a horizon (CheckOptions.horizon): what began before it and could not be judged. */
  beforeHorizon?: BeforeHorizon;
}

/** What a trace that starts mid-run leaves unjudged, counted rather than reported as violations. */
export interface BeforeHorizon {
  /** Messages ended (executed, replaced, dropped, or undone) whose send is before the horizon. */
  messages: number;
  /** Deliveries at a node whose epoch the trace had not shown yet: their correctness cannot be judged. */
  deliveries: number;
  /** Updates that started before the horizon: their termination cannot be judged. */
  updates: number;
}
