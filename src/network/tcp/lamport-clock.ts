/** A Lamport clock: every process stamps what it traces, so merged traces keep every send before its delivery. */
export class LamportClock {
  value = 0;
  tick(): number {
    return ++this.value;
  }
  observe(remote: number): void {
    if (remote > this.value) this.value = remote;
  }
}

/** Wall-clock ms shared by the processes of one machine (fractional; monotonic within a process). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
