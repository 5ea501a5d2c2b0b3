/** What became of a chaos run's updates and faults, as the run records them and the verdict reads them. */
import type { UpdateReport } from "../core/update.js";
import type { ChaosFault, PlannedUpdate } from "./schedule.js";

export interface AppliedFault {
  readonly update: number;
  readonly fault: ChaosFault;
  text: string;
  readonly at: number;
  until?: number;
  error?: string;
}

export interface UpdateOutcome {
  readonly planned: PlannedUpdate;
  readonly index: number;
  readonly submittedAt: number;
  endedAt?: number;
  /** Submissions (a second after an abort, or when the first never reached the root). */
  attempts: number;
  /** Ids the root gave the update's submissions. */
  readonly ids: number[];
  report?: UpdateReport;
  /** Why an attempt did not complete (aborted, ctl's own error), in order. */
  readonly notes: string[];
  completed: boolean;
}
