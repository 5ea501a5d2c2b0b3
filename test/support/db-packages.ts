import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { keysInit } from "../../src/deploy/keys.js";
import { pack } from "../../src/deploy/update-package.js";

/** The signed replicated-db update packages the e2e tests ship: db@1 -> db@2, its back-out, and a flaky transfer. */
export interface DbPackages {
  readonly keys: string;
  readonly up: string;
  readonly down: string;
  readonly flaky: string;
}

/** A keys directory for the tests' cluster and the packages' file paths in it (packDbPackages fills them). */
export function dbPackagePaths(): DbPackages {
  const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
  return { keys, up: join(keys, "up.lspkg"), down: join(keys, "down.lspkg"), flaky: join(keys, "flaky.lspkg") };
}

/** Make the keys of `ids` (keysInit), then sign and write the packages `which` names: a beforeAll's work (seconds). */
export async function packDbPackages(p: DbPackages, ids: readonly string[], which: readonly ("up" | "down" | "flaky")[] = ["up", "down"]): Promise<void> {
  keysInit(p.keys, [...ids]);
  const key = join(p.keys, "signing.key");
  const entries = {
    up: resolve(import.meta.dirname, "../../src/scenarios/replicated-db/key-update.ts"),
    down: resolve(import.meta.dirname, "db-backout-update.ts"),
    flaky: resolve(import.meta.dirname, "db-flaky-update.ts"),
  };
  for (const w of which) writeFileSync(p[w], JSON.stringify(await pack(entries[w], { key })));
}

/** Poll `probe` every 50 ms until it gives a value (a rejection counts as none); throws naming `what` after `ms`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
