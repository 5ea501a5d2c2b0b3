/**
 * One opener per store. The lock itself is SQLite's exclusive lock on the
 * database file, taken at open and held until close: the kernel drops it when
 * its process dies (even by SIGKILL), so a dead owner never leaves a stale
 * lock, and two openers racing for a dead one's store cannot both win (a pid
 * file alone can do neither, and cannot tell a reused pid). SQLite also counts
 * its own connections, so a second opener in the same process is refused too.
 *
 * Beside it, `lock.pid` names the owner, for the error a refused opener gets;
 * the pid of an owner that died is simply overwritten by the next one.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { StoreLockedError } from "../../core/errors.js";
import { processAlive } from "../../core/process-alive.js";

export const LOCK_FILE = "lock.pid";

/**
 * Takes the store's lock on `db` (a connection opened with no busy timeout, so a held lock fails at once), with WAL
 * and synchronous=FULL: every commit fsyncs the WAL before it returns. A held lock throws StoreLockedError; any
 * other SQLite error is the caller's to name.
 */
export function lockStore(db: Database.Database, dir: string): void {
  try {
    // Exclusive before WAL: the WAL index then lives in this process's memory (no -shm file another process could map).
    db.pragma("locking_mode = EXCLUSIVE");
    const mode: unknown = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") throw new Error(`journal_mode is "${String(mode)}", not "wal"`);
    db.pragma("synchronous = FULL");
    // The exclusive locking mode takes the lock at the first write and keeps it: take it now, not at the first commit.
    db.exec("BEGIN EXCLUSIVE; COMMIT");
  } catch (e) {
    if (isBusy(e)) throw new StoreLockedError(dir, storeOwner(dir));
    throw e;
  }
  writeFileSync(join(dir, LOCK_FILE), `${process.pid}\n`);
}

/** Before closing the connection (after it another process may own the store and have written its own pid). */
export function forgetOwner(dir: string): void {
  if (storeOwner(dir) === process.pid) rmSync(join(dir, LOCK_FILE), { force: true });
}

/** The pid recorded as the store's owner, if any is recorded and still alive. */
export function storeOwner(dir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, LOCK_FILE), "utf8");
  } catch {
    return undefined; // the owner is between taking the lock and writing its pid
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}
