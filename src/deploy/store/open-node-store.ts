/**
 * The one way `liveswap node` (and anything else) gets its durable store: the
 * caller names a directory and programs against NodeStore, never against the
 * database behind it, so the choice (STORE-CHOICE.md) can change in one place.
 */
import type { NodeStore } from "../../runtime/node-store.js";
import { SqliteStore } from "./sqlite-store.js";

/**
 * Opens the store in `dir`, creating the directory and an empty store when there is none. Throws StoreLockedError
 * while another opener holds it, StoreCorruptError / StoreFormatError for files it cannot read, StoreOpenError when
 * the directory cannot be used.
 */
export function openNodeStore(dir: string): NodeStore {
  return SqliteStore.open(dir);
}
