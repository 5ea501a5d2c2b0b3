import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { describeError, LiveswapError, WireFormatError } from "../core/errors.js";
import { parseAddress } from "../network/tcp/sockets.js";
import { holdNats } from "./nats-transport.js";
import { natsName } from "../network/nats/nats-sockets.js";
import { ClusterRunningError } from "./errors.js";
import { checkNodeFiles, type Cluster } from "./cluster-file.js";
import { ClusterClient } from "./cluster-client.js";
import { holdsRecord, readLocations, withLocations, type MovedNode } from "./cluster-locations.js";

/** `cluster up` could not start a node; the message names it and its log. */
export class ClusterStartError extends LiveswapError {
  readonly code = "CLUSTER_START";
  constructor(readonly node: string, detail: string, options?: { cause?: unknown }) {
    super(`node "${node}" ${detail}`, options);
  }
}

/** tsx's loader, resolved from liveswap's own installation (never from the caller's working directory). */
function tsxLoader(): string | undefined {
  try {
    return import.meta.resolve("tsx");
  } catch {
    return undefined;
  }
}

/**
 * How to start `liveswap node` in a child process: the compiled CLI, or the
 * sources through tsx; tsx also when a node's package is TypeScript.
 *
 * LIVESWAP_CHILD_MAIN names a JavaScript CLI script to run instead, and LIVESWAP_CHILD_MAIN_TS the TypeScript one
 * to run through tsx when a package is TypeScript (a package from the sources imports the sources: its node must run
 * them, not a second copy). The tests set both: the sources transpiled once (test/support/child-tree.ts), instead of
 * tsx transforming them again in each process (a second or more of CPU a process on this machine).
 */
export function nodeCommand(typescriptPackages = false): { readonly cmd: string; readonly args: readonly string[] } {
  const here = fileURLToPath(import.meta.url);
  const own = join(dirname(here), "..", "cli", here.endsWith(".ts") ? "main.ts" : "main.js");
  const main = (typescriptPackages ? process.env.LIVESWAP_CHILD_MAIN_TS : process.env.LIVESWAP_CHILD_MAIN) ?? own;
  const loader = typescriptPackages || main.endsWith(".ts") ? tsxLoader() : undefined;
  return { cmd: process.execPath, args: loader !== undefined ? ["--import", loader, main] : [main] };
}

/** How to start the nodes of `cluster` (through tsx when a package of it is TypeScript). */
export function nodeCommandFor(cluster: Cluster): { readonly cmd: string; readonly args: readonly string[] } {
  return nodeCommand(cluster.nodes.some((n) => /\.[cm]?ts$/.test(n.package)));
}

const pidFile = (cluster: Cluster): string => join(dirname(cluster.file), ".liveswap-cluster.json");

/** Environment variables for node processes: the same for all, or chosen per node id. */
export type NodeEnv = Readonly<Record<string, string>> | ((id: string) => Readonly<Record<string, string>>);

export interface StartedNode {
  readonly id: string;
  readonly pid: number;
  readonly child: ChildProcess;
}

/**
 * `liveswap cluster up`: every node of the file as a local child process (for
 * development and tests), logs under `<dir>/.liveswap-logs/`; resolves once
 * every node answers its status.
 */
export async function clusterUp(
  cluster: Cluster,
  opts: {
    readonly only?: readonly string[];
    readonly timeoutMs?: number;
    readonly detached?: boolean;
    readonly unlinked?: boolean;
    /** Added to this process's environment for the nodes (a test's LIVESWAP_FAILPOINTS), the same or per node. */
    readonly env?: NodeEnv;
    /**
     * A command that starts the node's process in its place, the node's command line after it: `ip netns exec NS`
     * runs a node in a network namespace of its own (liveswap chaos). It must exec the node, not fork it, so the PID
     * that answers is the one started.
     */
    readonly prefix?: (id: string) => readonly string[];
    /** More arguments for a node's `liveswap node` command line (`--import FILE`). */
    readonly args?: (id: string) => readonly string[];
    /** The node's process at its old location may still run (ctl move starts the new one beside it). */
    readonly moving?: boolean;
  } = {},
): Promise<StartedNode[]> {
  const { cmd, args } = nodeCommandFor(cluster);
  const logDir = join(dirname(cluster.file), ".liveswap-logs");
  mkdirSync(logDir, { recursive: true });
  const started: StartedNode[] = [];
  const ids = opts.only ?? cluster.nodes.map((n) => n.id);
  // A node that moved (`ctl move`) starts where it went: its address, bind address and store from ctl's address book.
  const book = opts.moving === true ? {} : readLocations(cluster);
  const located = opts.moving === true ? cluster : withLocations(cluster, book);
  const logOf = (id: string): string => join(logDir, logName(id, located, opts.moving === true || book[id] !== undefined));
  // A missing package or certificate is said now, naming the field, rather than by a node process that dies at once.
  for (const id of ids) checkNodeFiles(cluster, id);
  for (const id of ids) assertArrived(cluster, id, book[id]);
  // Starting a node again over a running one would die at once (its address taken) while the running one answered
  // for it, and its PID would replace the live one's: refuse, naming what runs.
  const running = opts.moving === true ? [] : await runningNodes(located, ids);
  if (running.length > 0) throw new ClusterRunningError(running, cluster.file);
  const before = readPids(cluster);
  for (const id of ids) {
    const log = openSync(logOf(id), "w");
    const prefix = opts.prefix?.(id) ?? [];
    const moved = book[id] !== undefined ? movedArgs(book[id]) : [];
    const line = [...prefix, cmd, ...args, "node", "--cluster", cluster.file, "--id", id, ...(opts.unlinked ? ["--unlinked"] : []), ...moved, ...(opts.args?.(id) ?? [])];
    const child = spawn(line[0] as string, line.slice(1), {
      stdio: ["ignore", log, log],
      detached: opts.detached ?? false,
      cwd: process.cwd(),
      env: { ...process.env, ...(typeof opts.env === "function" ? opts.env(id) : opts.env) },
    });
    closeSync(log); // the child has its own descriptor
    if (opts.detached) child.unref();
    started.push({ id, pid: child.pid as number, child });
  }
  writeFileSync(pidFile(cluster), JSON.stringify({ ...before, ...Object.fromEntries(started.map((s) => [s.id, s.pid])) }, null, 2));
  try {
    await awaitAnswers(located, started, logOf, opts.timeoutMs ?? 30_000);
  } catch (e) {
    // Leave nothing half-started behind, and the PID file as it was.
    for (const s of started) s.child.kill("SIGTERM");
    writeFileSync(pidFile(cluster), JSON.stringify(before, null, 2));
    throw e;
  }
  return started;
}

/** Until every started node answers its status (as the process started), or one exits, or the bound passes. */
async function awaitAnswers(cluster: Cluster, started: readonly StartedNode[], logOf: (id: string) => string, timeoutMs: number): Promise<void> {
  const client = new ClusterClient(cluster);
  const deadline = Date.now() + timeoutMs;
  try {
    for (const s of started) {
      for (;;) {
        // Killed by a signal (a crash failpoint: SIGKILL), a child has no exit code, only its signal.
        if (s.child.exitCode !== null || s.child.signalCode !== null) {
          const file = logOf(s.id);
          const tail = readFileSync(file, "utf8").trim().split("\n").slice(-5).join("\n");
          const how = s.child.exitCode !== null ? `code ${s.child.exitCode}` : `killed by ${String(s.child.signalCode)}`;
          throw new ClusterStartError(s.id, `exited (${how}) while starting (its log ${file} ends):\n${tail}`);
        }
        try {
          const answered = await client.status(s.id);
          // Another process answering at its address (started meanwhile, by hand or by another `up`) is not ours.
          if (answered.pid !== s.pid) throw new ClusterStartError(s.id, `cannot start: another process (pid ${answered.pid}) answers at ${nodeAddress(cluster, s.id)}; see \`ctl status\``);
          break;
        } catch (e) {
          if (e instanceof ClusterStartError) throw e;
          // Another wire format does not go away by waiting: say so now.
          if (e instanceof WireFormatError) throw new ClusterStartError(s.id, `started but cannot be controlled: ${e.message}`, { cause: e });
          if (Date.now() > deadline) throw new ClusterStartError(s.id, `did not answer within ${timeoutMs} ms (${describeError(e)}); see ${logOf(s.id)}`, { cause: e });
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  } finally {
    client.close();
  }
}

/**
 * A moved node starts from the record its destination imported: one whose move stopped before that (ctl died) would
 * start empty there, a new node under an old name. Say how to finish the move instead.
 */
function assertArrived(cluster: Cluster, id: string, m: MovedNode | undefined): void {
  if (m === undefined) return;
  const dir = m.store ?? cluster.storeDir;
  if (dir === undefined) return;
  try {
    if (holdsRecord(join(dir, id))) return;
  } catch {
    return; // locked: a process runs on it (the check for running nodes says so), or unreadable (the node will say)
  }
  throw new ClusterStartError(id, `it is moving to ${m.address} and its record is not there yet (${join(dir, id)} holds none); finish the move with \`ctl move ${id} --address ${m.address}${m.listen !== undefined ? ` --listen ${m.listen}` : ""}\` (or give it up: \`ctl move ${id} --cancel\`)`);
}

/** The command line that starts a moved node where ctl's address book says it went. */
function movedArgs(m: MovedNode): readonly string[] {
  return ["--address", m.address, ...(m.listen !== undefined ? ["--listen", m.listen] : []), ...(m.store !== undefined ? ["--store", m.store] : [])];
}

/** A node's log file; a moved node's new process logs beside its old one (both may run for a moment). */
function logName(id: string, cluster: Cluster, moving: boolean): string {
  return moving ? `${id}@${nodeAddress(cluster, id).replace(/[^A-Za-z0-9.-]/g, "_")}.log` : `${id}.log`;
}

/** `liveswap cluster down`: stop the processes `up` started (SIGTERM). */
export function clusterDown(cluster: Cluster): string[] {
  const file = pidFile(cluster);
  if (!existsSync(file)) return [];
  const known = readPids(cluster);
  const stopped: string[] = [];
  for (const [id, pid] of Object.entries(known)) {
    try {
      // The pid may have been reused since `up`: stop it only if it is still this cluster's node.
      if (!isNodeOf(cluster, id, pid)) continue;
      process.kill(pid, "SIGTERM");
      stopped.push(id);
    } catch {
      // already gone
    }
  }
  rmSync(file);
  return stopped;
}

/** The PID file `up` keeps beside the cluster file: node id to process id. */
function readPids(cluster: Cluster): Record<string, number> {
  const file = pidFile(cluster);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, number>;
  } catch {
    return {}; // a torn or hand-edited file: the address probe still finds what runs
  }
}

/** Is `pid` alive and a `liveswap node` of this cluster file with this id (not a process that reused the number)? */
function isNodeOf(cluster: Cluster, id: string, pid: number): boolean {
  if (!existsSync("/proc/self")) {
    // No /proc (not Linux): a live process of that number is all we can tell.
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const proc = `/proc/${pid}/cmdline`;
  if (!existsSync(proc)) return false;
  const argv = readFileSync(proc, "utf8").split("\0");
  return argv.includes(cluster.file) && argv[argv.indexOf("--id") + 1] === id;
}

/**
 * A process that is killed but not gone yet: a zombie, or SIGKILL or SIGTERM pending (sent a moment ago, on a busy
 * machine it may not have run yet). Its listener is still open: it must not count as running.
 */
function dying(pid: number): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return false;
  }
  if (/^State:\s*[ZX]/m.test(status)) return true;
  const KILL_OR_TERM = (1n << 8n) | (1n << 14n); // signals 9 and 15: bit (signal - 1)
  return [...status.matchAll(/^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)/gm)].some((m) => (BigInt(`0x${m[1] ?? "0"}`) & KILL_OR_TERM) !== 0n);
}

/** Where the node binds: its `listen:` when it has one (a proxy or a NAT may sit at `address:`), else its address. */
function nodeAddress(cluster: Cluster, id: string): string {
  const n = cluster.nodes.find((x) => x.id === id);
  return n?.listen ?? n?.address ?? "?";
}

/** Which of `ids` already run: a live process of the PID file, or anything that accepts connections at the node's address. */
async function runningNodes(cluster: Cluster, ids: readonly string[]): Promise<{ readonly id: string; readonly detail: string }[]> {
  const pids = readPids(cluster);
  // Over NATS a node's process may run on any host: one that answers for the node's name on NATS is running.
  const nats = cluster.transport !== undefined ? holdNats(cluster.transport, "cluster up") : undefined;
  try {
    const probe = nats !== undefined ? (address: string) => nats.listening(address) : accepts;
    const found = await Promise.all(ids.map((id) => runningNode(cluster, id, pids[id], probe)));
    return found.filter((f) => f !== undefined);
  } finally {
    await nats?.release();
  }
}

/**
 * Is node `id` running? A process of the PID file on its way out (just destroyed, or killed: the kernel closes its
 * listener after its command line is gone) or on its way in is given a few seconds to settle before it counts.
 * A live, listening process counts only once it stayed so for about a second: one that `ctl destroy` just answered
 * closes its listener a moment after the reply, and a SIGTERM its handler already took is no longer pending, so
 * neither looks like dying at first sight (a `destroy` then `up` at once was refused as running).
 */
async function runningNode(cluster: Cluster, id: string, pid: number | undefined, accepts: (address: string) => Promise<boolean>): Promise<{ readonly id: string; readonly detail: string } | undefined> {
  const address = nodeAddress(cluster, id);
  let steady = 0;
  for (let i = 0; ; i++) {
    const ours = pid !== undefined && isNodeOf(cluster, id, pid) && !dying(pid);
    const exiting = pid !== undefined && !ours && existsSync(`/proc/${pid}`);
    const listening = await accepts(address);
    steady = ours && listening ? steady + 1 : 0;
    const settled = steady >= 8 || (!ours && !exiting);
    if (settled || i >= 50) {
      if (ours && listening) return { id, detail: `is running (pid ${pid}, started by \`cluster up\`)` };
      if (ours) return { id, detail: `has a process (pid ${pid}) that neither listens at ${address} nor exits` };
      return listening ? { id, detail: `has a process listening at its address ${address} (${natsName(address) !== undefined ? "one started by hand, another \`up\`, or one on another host" : "one started by hand, or another \`up\`"})` } : undefined;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Does anything accept a TCP connection at `address` (within a second)? A stopped process still does: the kernel accepts. */
function accepts(address: string): Promise<boolean> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
