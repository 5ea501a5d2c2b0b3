/**
 * A second process for the store's tests (src/deploy/store/sqlite-store.test.ts), run with node and tsx:
 *
 *   store-child.ts hold <dir>               opens the store, prints "open", then waits to be killed
 *   store-child.ts crash <dir> <entries>    commits batches of <entries> entries forever, numbered on from what the
 *                                           store holds, printing each batch's number once commit() returned;
 *                                           every fifth batch carries a snapshot { upTo } instead of being logged
 *
 * A log entry is { batch, index, of, pad }, so a reader can tell a whole batch from a torn one.
 */
import { writeSync } from "node:fs";
import { openNodeStore } from "../../src/deploy/store/open-node-store.js";
import type { StoredRecord } from "../../src/runtime/node-store.js";

export interface CrashEntry {
  readonly batch: number;
  readonly index: number;
  readonly of: number;
  readonly pad: string;
}

/** The last batch a record covers (snapshot or log), -1 for none. */
export function lastBatch(record: StoredRecord | undefined): number {
  if (record === undefined) return -1;
  const last = record.log.at(-1) as CrashEntry | undefined;
  if (last !== undefined) return last.batch;
  return (record.snapshot as { upTo: number } | undefined)?.upTo ?? -1;
}

function crash(dir: string, entries: number): void {
  const store = openNodeStore(dir);
  for (let batch = lastBatch(store.load()) + 1; ; batch++) {
    const list: CrashEntry[] = [];
    for (let index = 0; index < entries; index++) list.push({ batch, index, of: entries, pad: "x".repeat(150) });
    store.commit(batch % 5 === 4 ? { entries: list, snapshot: { upTo: batch } } : { entries: list });
    writeSync(1, `${batch}\n`);
  }
}

const [mode, dir, entries] = process.argv.slice(2);
if (mode === "hold" && dir !== undefined) {
  openNodeStore(dir);
  writeSync(1, "open\n");
  setInterval(() => undefined, 60_000);
} else if (mode === "crash" && dir !== undefined) {
  crash(dir, Number(entries ?? 10));
}
