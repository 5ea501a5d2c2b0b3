import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { Packr } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { LiveswapError, StoreCommitError, StoreCorruptError, StoreFormatError, StoreLockedError, StoreOpenError } from "../../core/errors.js";
import type { NodeStore } from "../../runtime/node-store.js";
import { lastBatch, type CrashEntry } from "../../../test/support/store-child.js";
import { openNodeStore } from "./open-node-store.js";
import { SqliteStore, STORE_FILE } from "./sqlite-store.js";
import { LOCK_FILE } from "./store-lock.js";

const CHILD = fileURLToPath(new URL("../../../test/support/store-child.ts", import.meta.url));
const dirs: string[] = [];
const opened: NodeStore[] = [];
const children: ChildProcessByStdio<null, Readable, null>[] = [];

function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), "liveswap-store-"));
  dirs.push(d);
  return join(d, "node-a"); // not there yet: open creates it
}

function open(dir: string): NodeStore {
  const s = openNodeStore(dir);
  opened.push(s);
  return s;
}

afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const s of opened.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function captured(f: () => unknown): LiveswapError {
  try {
    f();
  } catch (e) {
    if (e instanceof LiveswapError) return e;
    throw e;
  }
  throw new Error("expected a throw");
}

describe("SqliteStore: what is committed", () => {
  it("is empty when new, then keeps snapshot and log across close and reopen", () => {
    const dir = freshDir();
    const s = open(dir);
    expect(s.kind).toBe("sqlite");
    expect(s.load()).toBeUndefined();
    s.commit({ entries: [{ e: 1 }, { e: 2 }] });
    s.commit({ entries: [], snapshot: { state: "S1" } });
    s.commit({ entries: [{ e: 3 }] });
    s.commit({ entries: [{ e: 4 }, { e: 5 }] });
    s.close();
    const again = open(dir);
    expect(again.load()).toEqual({ snapshot: { state: "S1" }, log: [{ e: 3 }, { e: 4 }, { e: 5 }] });
  });

  it("a log without a snapshot loads with snapshot undefined", () => {
    const s = open(freshDir());
    s.commit({ entries: ["a"] });
    expect(s.load()).toEqual({ snapshot: undefined, log: ["a"] });
  });

  it("a snapshot commit replaces the snapshot and empties the log (the snapshot covers its own entries)", () => {
    const s = open(freshDir());
    s.commit({ entries: [1, 2], snapshot: { v: 1 } });
    s.commit({ entries: [3, 4] });
    expect(s.load()).toEqual({ snapshot: { v: 1 }, log: [3, 4] });
    s.commit({ entries: [5], snapshot: { v: 2 } });
    expect(s.load()).toEqual({ snapshot: { v: 2 }, log: [] });
  });

  it("Map, Set and undefined survive a reopen", () => {
    const dir = freshDir();
    const s = open(dir);
    const state = { peers: new Map([["b", { seq: 3, pending: new Set([4, 5]) }]]), timer: undefined };
    s.commit({ entries: [{ input: new Set(["x"]), none: undefined }], snapshot: undefined });
    s.commit({ entries: [], snapshot: state });
    s.commit({ entries: [undefined, new Map([[1, undefined]])] });
    s.close();
    const back = open(dir).load();
    expect(back?.snapshot).toEqual(state);
    expect((back?.snapshot as typeof state).peers).toBeInstanceOf(Map);
    expect(back?.log).toEqual([undefined, new Map([[1, undefined]])]);
    expect(back?.log[1]).toBeInstanceOf(Map);
  });

  it("clear() empties the store, durably, and the store goes on", () => {
    const dir = freshDir();
    const s = open(dir);
    s.commit({ entries: [1], snapshot: "S" });
    s.commit({ entries: [2] });
    s.clear();
    expect(s.load()).toBeUndefined();
    s.commit({ entries: ["again"] });
    s.close();
    expect(open(dir).load()).toEqual({ snapshot: undefined, log: ["again"] });
  });
});

describe("SqliteStore: refusals", () => {
  it("refuses a record of an unknown format version with StoreFormatError naming the file, the version and the fix", () => {
    const dir = freshDir();
    open(dir).commit({ entries: ["ok"] });
    opened.pop()?.close();
    const db = new Database(join(dir, STORE_FILE));
    db.prepare("INSERT INTO log (value) VALUES (?)").run(new Packr({ structuredClone: true }).pack([7, "from the future"]));
    db.close();
    const e = captured(() => open(dir).load());
    expect(e).toBeInstanceOf(StoreFormatError);
    expect(e.message).toContain(join(dir, STORE_FILE));
    expect(e.message).toContain("log entry 2 has format version 7");
    expect(e.message).toContain("reads version 1");
  });

  it("refuses a store layout of an unknown version at open", () => {
    const dir = freshDir();
    open(dir);
    opened.pop()?.close();
    const db = new Database(join(dir, STORE_FILE));
    db.pragma("user_version = 9");
    db.close();
    const e = captured(() => open(dir));
    expect(e).toBeInstanceOf(StoreFormatError);
    expect(e.message).toContain("the store layout has format version 9");
  });

  it("names the file of a store that is not a database (StoreCorruptError), never SQLite's text alone", () => {
    const dir = freshDir();
    open(dir);
    opened.pop()?.close();
    writeFileSync(join(dir, STORE_FILE), Buffer.alloc(8192, 0x5a));
    const e = captured(() => open(dir));
    expect(e).toBeInstanceOf(StoreCorruptError);
    expect(e.message).toContain(`store "${join(dir, STORE_FILE)}" is damaged`);
    expect(e.message).toMatch(/Restore the directory from a backup/);
  });

  it("names a directory that cannot be one (StoreOpenError)", () => {
    const dir = freshDir();
    writeFileSync(`${dir}`, "a file where the store should be");
    const e = captured(() => open(dir));
    expect(e).toBeInstanceOf(StoreOpenError);
    expect(e.message).toContain(dir);
    expect(e.message).toMatch(/directory cannot be created/);
  });

  it("a failed commit is a StoreCommitError, and every later write is refused (never retried)", () => {
    const dir = freshDir();
    const s = SqliteStore.open(dir, { maxBytes: 64 * 1024 });
    opened.push(s);
    s.commit({ entries: ["kept"] });
    const e = captured(() => s.commit({ entries: [Buffer.alloc(256 * 1024)] }));
    expect(e).toBeInstanceOf(StoreCommitError);
    expect(e.message).toContain(dir);
    expect(e.message).toMatch(/SQLITE_FULL/);
    expect(e.message).toMatch(/never retry/);
    const later = captured(() => s.commit({ entries: ["small"] }));
    expect(later).toBeInstanceOf(StoreCommitError);
    expect(later.message).toMatch(/earlier write failed/);
    expect(captured(() => s.clear())).toBeInstanceOf(StoreCommitError);
    s.close();
    expect(open(dir).load()).toEqual({ snapshot: undefined, log: ["kept"] });
  });
});

describe("SqliteStore: one opener", () => {
  it("refuses a second opener in the same process, naming the dir and this pid; free again after close", () => {
    const dir = freshDir();
    const first = open(dir);
    const e = captured(() => open(dir));
    expect(e).toBeInstanceOf(StoreLockedError);
    expect((e as StoreLockedError).pid).toBe(process.pid);
    expect(e.message).toContain(dir);
    expect(e.message).toContain(`this process (pid ${process.pid})`);
    first.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    open(dir).commit({ entries: [1] });
  });

  it("refuses an opener while a child process holds the store; takes over once that process is killed", async () => {
    const dir = freshDir();
    const child = startChild(["hold", dir]);
    await lines(child, (l) => l === "open");
    const e = captured(() => open(dir));
    expect(e).toBeInstanceOf(StoreLockedError);
    expect((e as StoreLockedError).pid).toBe(child.pid);
    expect(e.message).toContain(`pid ${child.pid}`);
    await killed(child);
    // The dead owner's pid is still in lock.pid: a stale lock, taken over.
    expect(readFileSync(join(dir, LOCK_FILE), "utf8").trim()).toBe(String(child.pid));
    open(dir).commit({ entries: ["mine"] });
    expect(readFileSync(join(dir, LOCK_FILE), "utf8").trim()).toBe(String(process.pid));
  });
});

describe("SqliteStore: a process killed mid-commit (SIGKILL)", () => {
  it("leaves a prefix of its batches, each whole, every acknowledged one kept; over several crashes", async () => {
    const dir = freshDir();
    const perBatch = 40;
    let acknowledged = -1;
    for (let crash = 0; crash < 4; crash++) {
      const child = startChild(["crash", dir, String(perBatch)]);
      const stopAt = acknowledged + 15 + crash * 7;
      await lines(child, (l) => {
        acknowledged = Math.max(acknowledged, Number(l));
        return acknowledged >= stopAt;
      });
      await killed(child);
      const s = open(dir);
      const last = checkWhole(s, perBatch);
      // Every batch whose commit() returned (and said so) is there. The child may commit a few more between the line
      // that decided the kill and the signal's arrival: no upper bound holds, only that what is there is a whole prefix.
      expect(last).toBeGreaterThanOrEqual(acknowledged);
      acknowledged = last;
      s.close();
      opened.pop();
    }
  });
});

/** Checks the crash child's invariants on what `s` holds; the last batch it covers. */
function checkWhole(s: NodeStore, perBatch: number): number {
  const record = s.load();
  expect(record).toBeDefined();
  const upTo = (record?.snapshot as { upTo: number } | undefined)?.upTo ?? -1;
  const log = (record?.log ?? []) as CrashEntry[];
  expect(log.length % perBatch).toBe(0); // nothing torn
  log.forEach((entry, i) => {
    expect(entry.batch).toBe(upTo + 1 + Math.floor(i / perBatch)); // batches follow the snapshot, in order, none missing
    expect(entry.index).toBe(i % perBatch);
    expect(entry.of).toBe(perBatch);
  });
  // Snapshots are taken at every fifth batch: the log never holds one.
  for (const e of log) expect(e.batch % 5).not.toBe(4);
  return lastBatch(record);
}

function startChild(args: readonly string[]): ChildProcessByStdio<null, Readable, null> {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), CHILD, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return child;
}

/** Resolves when `done` accepts a line the child printed; rejects if the child exits first. */
function lines(child: ChildProcessByStdio<null, Readable, null>, done: (line: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      if (parts.some(done)) {
        child.stdout.off("data", onData);
        child.off("exit", onExit);
        resolve();
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`the store child exited (${code}) before it was expected to`));
    child.stdout.on("data", onData);
    child.once("exit", onExit);
  });
}

function killed(child: ChildProcessByStdio<null, Readable, null>): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}
