import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeError, LiveswapError, WireFormatError } from "../core/errors.js";
import type { Cluster } from "./cluster-file.js";
import { ClusterClient } from "./cluster-client.js";

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
 */
export function nodeCommand(typescriptPackages = false): { readonly cmd: string; readonly args: readonly string[] } {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith(".ts");
  const main = join(dirname(here), "..", "cli", fromSource ? "main.ts" : "main.js");
  const loader = fromSource || typescriptPackages ? tsxLoader() : undefined;
  return { cmd: process.execPath, args: loader !== undefined ? ["--import", loader, main] : [main] };
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
  } = {},
): Promise<StartedNode[]> {
  const { cmd, args } = nodeCommand(cluster.nodes.some((n) => /\.[cm]?ts$/.test(n.package)));
  const logDir = join(dirname(cluster.file), ".liveswap-logs");
  mkdirSync(logDir, { recursive: true });
  const started: StartedNode[] = [];
  const ids = opts.only ?? cluster.nodes.map((n) => n.id);
  for (const id of ids) {
    const log = openSync(join(logDir, `${id}.log`), "w");
    const child = spawn(cmd, [...args, "node", "--cluster", cluster.file, "--id", id, ...(opts.unlinked ? ["--unlinked"] : [])], {
      stdio: ["ignore", log, log],
      detached: opts.detached ?? false,
      cwd: process.cwd(),
      env: { ...process.env, ...(typeof opts.env === "function" ? opts.env(id) : opts.env) },
    });
    closeSync(log); // the child has its own descriptor
    if (opts.detached) child.unref();
    started.push({ id, pid: child.pid as number, child });
  }
  const known = existsSync(pidFile(cluster)) ? (JSON.parse(readFileSync(pidFile(cluster), "utf8")) as Record<string, number>) : {};
  for (const s of started) known[s.id] = s.pid;
  writeFileSync(pidFile(cluster), JSON.stringify(known, null, 2));
  const client = new ClusterClient(cluster);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  try {
    for (const s of started) {
      for (;;) {
        if (s.child.exitCode !== null) {
          const tail = readFileSync(join(logDir, `${s.id}.log`), "utf8").trim().split("\n").slice(-5).join("\n");
          throw new ClusterStartError(s.id, `exited (code ${s.child.exitCode}) while starting (its log ${join(logDir, `${s.id}.log`)} ends):\n${tail}`);
        }
        try {
          await client.status(s.id);
          break;
        } catch (e) {
          // Another wire format does not go away by waiting: say so now.
          if (e instanceof WireFormatError) throw new ClusterStartError(s.id, `started but cannot be controlled: ${e.message}`, { cause: e });
          if (Date.now() > deadline) {
            throw new ClusterStartError(s.id, `did not answer within ${opts.timeoutMs ?? 30_000} ms (${describeError(e)}); see ${join(logDir, `${s.id}.log`)}`, { cause: e });
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  } catch (e) {
    // Leave nothing half-started behind.
    for (const s of started) s.child.kill("SIGTERM");
    throw e;
  } finally {
    client.close();
  }
  return started;
}

/** `liveswap cluster down`: stop the processes `up` started (SIGTERM). */
export function clusterDown(cluster: Cluster): string[] {
  const file = pidFile(cluster);
  if (!existsSync(file)) return [];
  const known = JSON.parse(readFileSync(file, "utf8")) as Record<string, number>;
  const stopped: string[] = [];
  for (const [id, pid] of Object.entries(known)) {
    try {
      // The pid may have been reused since `up`: stop it only if it is still this cluster's node.
      const cmdline = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, "utf8") : undefined;
      if (cmdline !== undefined && !cmdline.includes(cluster.file)) continue;
      process.kill(pid, "SIGTERM");
      stopped.push(id);
    } catch {
      // already gone
    }
  }
  rmSync(file);
  return stopped;
}
