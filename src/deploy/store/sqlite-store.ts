/**
 * The real NodeStore of `liveswap node`: SQLite (better-sqlite3) in WAL mode
 * with synchronous=FULL, so each commit is one transaction and one fsync of the
 * WAL before commit() returns. Chosen over LMDB by measurement on the target
 * disk (STORE-CHOICE.md): about 0.7x LMDB's commit cost at batches of 1 to 100.
 *
 * Layout, in `<dir>/store.sqlite`: table `meta` holds the snapshot (key
 * "snapshot"), table `log` the entries committed since, in rowid order; every
 * value is a record-codec record (its own format version). The layout has a
 * version too, in SQLite's user_version.
 */
import { fsyncSync, mkdirSync, openSync, closeSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { StoreCommitError, StoreCorruptError, StoreFormatError, StoreOpenError, StoreLockedError } from "../../core/errors.js";
import type { CommitBatch, NodeStore, StoredRecord } from "../../runtime/node-store.js";
import { decodeRecord, encodeRecord } from "./record-codec.js";
import { forgetOwner, lockStore } from "./store-lock.js";
import { sqliteFailure } from "./sqlite-failure.js";

export const STORE_FILE = "store.sqlite";

/** The table layout this liveswap writes and reads (SQLite's user_version; 0 is a new, empty file). */
const LAYOUT_VERSION = 1;

export interface SqliteStoreOptions {
  /**
   * A cap on the store's size (bytes, rounded down to whole pages): a commit that would grow it further fails
   * with StoreCommitError, like a full disk. Default: no cap but the disk's.
   */
  readonly maxBytes?: number;
}

interface Statements {
  readonly snapshot: Database.Statement<[], { value: Buffer }>;
  readonly log: Database.Statement<[], { seq: number; value: Buffer }>;
  readonly append: Database.Statement<[Buffer]>;
  readonly putSnapshot: Database.Statement<[Buffer]>;
  readonly clearLog: Database.Statement<[]>;
  readonly clearSnapshot: Database.Statement<[]>;
  readonly mark: Database.Statement<[], { value: Buffer }>;
  readonly putMark: Database.Statement<[Buffer]>;
  readonly clearMark: Database.Statement<[]>;
}

export class SqliteStore implements NodeStore {
  readonly kind = "sqlite";
  /** The database file (named in errors). */
  readonly file: string;
  #db: Database.Database | undefined;
  readonly #sql: Statements;
  readonly #commit: (entries: readonly Buffer[], snapshot: Buffer | undefined, mark: Buffer | undefined) => void;
  readonly #clear: () => void;
  /** Set by the first failed write: the store then refuses every write (a failed commit is never retried). */
  #failed: StoreCommitError | undefined;

  private constructor(readonly dir: string, db: Database.Database) {
    this.file = join(dir, STORE_FILE);
    this.#db = db;
    this.#sql = prepare(db);
    const sql = this.#sql;
    this.#commit = db.transaction((entries: readonly Buffer[], snapshot: Buffer | undefined, mark: Buffer | undefined) => {
      if (mark !== undefined) sql.putMark.run(mark);
      if (snapshot === undefined) {
        for (const e of entries) sql.append.run(e);
        return;
      }
      // The snapshot is the state after `entries`: they and the older log are covered by it.
      sql.clearLog.run();
      sql.putSnapshot.run(snapshot);
    });
    this.#clear = db.transaction(() => {
      sql.clearLog.run();
      sql.clearSnapshot.run();
      sql.clearMark.run();
    });
  }

  /** Opens (creating it if need be) the store in `dir`, taking its lock. */
  static open(dir: string, options: SqliteStoreOptions = {}): SqliteStore {
    const abs = resolve(dir);
    makeDirectory(abs);
    const file = join(abs, STORE_FILE);
    let db: Database.Database;
    try {
      // timeout 0: a store held by another opener is refused at once, not after a busy wait.
      db = new Database(file, { timeout: 0 });
    } catch (e) {
      throw sqliteFailure(e, file, "the database file cannot be opened");
    }
    try {
      lockStore(db, abs);
      prepareLayout(db, file);
      if (options.maxBytes !== undefined) capSize(db, options.maxBytes);
      return new SqliteStore(abs, db);
    } catch (e) {
      db.close();
      if (e instanceof StoreLockedError || e instanceof StoreFormatError || e instanceof StoreCorruptError) throw e;
      throw sqliteFailure(e, file, "the store cannot be opened");
    }
  }

  load(): StoredRecord | undefined {
    const sql = this.#sql;
    this.#open("load");
    let snapshotRow: { value: Buffer } | undefined;
    let markRow: { value: Buffer } | undefined;
    let rows: { seq: number; value: Buffer }[];
    try {
      snapshotRow = sql.snapshot.get();
      markRow = sql.mark.get();
      rows = sql.log.all();
    } catch (e) {
      throw sqliteFailure(e, this.file, "reading the store failed");
    }
    if (snapshotRow === undefined && rows.length === 0) return undefined;
    return {
      snapshot: snapshotRow === undefined ? undefined : decodeRecord(snapshotRow.value, this.file, "the snapshot"),
      log: rows.map((r) => decodeRecord(r.value, this.file, `log entry ${r.seq}`)),
      ...(markRow !== undefined ? { mark: decodeRecord(markRow.value, this.file, "the bookmark") } : {}),
    };
  }

  /**
   * One transaction, one fsync. A batch with a snapshot (other than undefined, which stands for "none") stores the
   * snapshot and empties the log. Any failure is a StoreCommitError and leaves the store refusing writes: the caller
   * stops the node, never retries.
   */
  commit(batch: CommitBatch): void {
    this.#writable("commit");
    let entries: Buffer[];
    let snapshot: Buffer | undefined;
    let mark: Buffer | undefined;
    try {
      mark = batch.mark === undefined ? undefined : encodeRecord(batch.mark);
      snapshot = batch.snapshot === undefined ? undefined : encodeRecord(batch.snapshot);
      entries = snapshot === undefined ? batch.entries.map(encodeRecord) : [];
    } catch (e) {
      throw this.#fail(`a value of the batch cannot be encoded (${message(e)})`, e);
    }
    try {
      this.#commit(entries, snapshot, mark);
    } catch (e) {
      throw this.#fail(`the commit of ${batch.entries.length} entries${snapshot === undefined ? "" : " and a snapshot"} failed (${message(e)})`, e);
    }
  }

  clear(): void {
    this.#writable("clear");
    try {
      this.#clear();
    } catch (e) {
      throw this.#fail(`clearing the store failed (${message(e)})`, e);
    }
  }

  close(): void {
    const db = this.#db;
    if (db === undefined) return;
    this.#db = undefined;
    forgetOwner(this.dir);
    try {
      db.close();
    } catch (e) {
      // What was committed is in the WAL already; closing only checkpoints it into the database file.
      throw new StoreCommitError(this.dir, `closing the store failed (${message(e)}); what was committed is kept`, { cause: e });
    }
  }

  #open(operation: string): void {
    if (this.#db === undefined) throw new StoreOpenError(this.file, `${operation} on a closed store; open it again (openNodeStore)`);
  }

  #writable(operation: string): void {
    this.#open(operation);
    if (this.#failed !== undefined) {
      throw new StoreCommitError(this.dir, `${operation} refused: an earlier write failed (${this.#failed.message})`, { cause: this.#failed });
    }
  }

  #fail(what: string, cause: unknown): StoreCommitError {
    this.#failed = new StoreCommitError(this.dir, what, { cause });
    return this.#failed;
  }
}

function message(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const text = e instanceof Error ? e.message : String(e);
  return typeof code === "string" ? `${code}: ${text}` : text;
}

/** Creates `dir` (and its parents) durably: a directory entry not yet fsynced could vanish with the store in it. */
function makeDirectory(dir: string): void {
  let created: string | undefined;
  try {
    created = mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error("it is not a directory"), { code: "ENOTDIR" });
  } catch (e) {
    throw new StoreOpenError(dir, `the directory cannot be created (${message(e)})`, { cause: e });
  }
  if (created === undefined) return;
  try {
    const fd = openSync(dirname(created), "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new StoreOpenError(dir, `the new directory cannot be made durable (fsync of ${dirname(created)}: ${message(e)})`, { cause: e });
  }
}

/** Creates the tables of a new file, checks the layout version and the pages of an existing one. */
function prepareLayout(db: Database.Database, file: string): void {
  const version = db.pragma("user_version", { simple: true });
  if (version === 0) {
    db.transaction(() => {
      db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT");
      db.exec("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, value BLOB NOT NULL) STRICT");
      db.pragma(`user_version = ${LAYOUT_VERSION}`);
    })();
    return;
  }
  if (version !== LAYOUT_VERSION) throw new StoreFormatError(file, String(version), [LAYOUT_VERSION], "the store layout");
  // quick_check reads every page (O(size), and the store is one snapshot plus a log): damage shows at open, named,
  // rather than halfway through a recovery.
  const problems = db.pragma("quick_check") as { quick_check: string }[];
  const bad = problems.map((p) => p.quick_check).filter((p) => p !== "ok");
  if (bad.length > 0) throw new StoreCorruptError(file, `SQLite's quick_check found: ${bad.slice(0, 3).join("; ")}`);
}

function capSize(db: Database.Database, maxBytes: number): void {
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  db.pragma(`max_page_count = ${Math.max(1, Math.floor(maxBytes / pageSize))}`);
}

function prepare(db: Database.Database): Statements {
  return {
    snapshot: db.prepare<[], { value: Buffer }>("SELECT value FROM meta WHERE key = 'snapshot'"),
    log: db.prepare<[], { seq: number; value: Buffer }>("SELECT seq, value FROM log ORDER BY seq"),
    append: db.prepare<[Buffer]>("INSERT INTO log (value) VALUES (?)"),
    putSnapshot: db.prepare<[Buffer]>("INSERT OR REPLACE INTO meta (key, value) VALUES ('snapshot', ?)"),
    clearLog: db.prepare<[]>("DELETE FROM log"),
    clearSnapshot: db.prepare<[]>("DELETE FROM meta WHERE key = 'snapshot'"),
    mark: db.prepare<[], { value: Buffer }>("SELECT value FROM meta WHERE key = 'mark'"),
    putMark: db.prepare<[Buffer]>("INSERT OR REPLACE INTO meta (key, value) VALUES ('mark', ?)"),
    clearMark: db.prepare<[]>("DELETE FROM meta WHERE key = 'mark'"),
  };
}
