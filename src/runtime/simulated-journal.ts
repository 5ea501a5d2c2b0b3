import type { CoordinatorInput, CoordinatorJournal } from "./coordinator-host.js";

/**
 * The coordinator's journal on a root's simulated disk, beside its node record (SimulatedDisk): it survives
 * System.crash of the root, and each append is durable when it returns (one simulated fsync), so an input is on the
 * disk before anything it causes leaves. Entries are kept by reference: they are immutable (an input is built once,
 * and an update's code travels as the very update objects in one process).
 */
export class SimulatedJournal implements CoordinatorJournal {
  private entries: CoordinatorInput[] = [];
  /** Appends made (the simulated fsyncs). */
  appends = 0;

  load(): readonly CoordinatorInput[] {
    return [...this.entries];
  }

  append(input: CoordinatorInput): void {
    this.appends++;
    this.entries.push(input);
  }

  clear(): void {
    this.entries = [];
  }

  /** Inputs held (0: no update to resume at this root). */
  get length(): number {
    return this.entries.length;
  }
}
