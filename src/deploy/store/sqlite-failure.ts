/**
 * SQLite's errors, named for a node's operator: SQLite's own text ("file is
 * not a database", "unable to open database file") says neither which store
 * nor what to do, so it only ever appears inside a store error.
 */
import { LiveswapError, StoreCorruptError, StoreOpenError } from "../../core/errors.js";

/** The store error for `e`, raised while `what` ("the store cannot be opened") on `file`. */
export function sqliteFailure(e: unknown, file: string, what: string): LiveswapError {
  if (e instanceof LiveswapError) return e;
  const code = (e as { code?: unknown }).code;
  const text = e instanceof Error ? e.message : String(e);
  const detail = typeof code === "string" ? `${code}: ${text}` : text;
  if (typeof code === "string" && (code.startsWith("SQLITE_NOTADB") || code.startsWith("SQLITE_CORRUPT"))) {
    return new StoreCorruptError(file, `${what}: it is not a readable SQLite database (${detail})`, { cause: e });
  }
  return new StoreOpenError(file, `${what} (${detail})`, { cause: e });
}
