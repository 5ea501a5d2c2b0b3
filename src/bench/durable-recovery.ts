/**
 * Recovery of a durable node (wall clock): node b receives a history of pings (each one input committed to its
 * store), is killed with SIGKILL, and is started again: the time from the spawn of its process to its first answer
 * to `status`, and the replay alone as the node logs it ("N log entries replayed in X ms"). Snapshots (every
 * SNAPSHOT_EVERY entries when quiet) bound what a replay reads, whatever the history's length: after the history, b is
 * topped up to SNAPSHOT_EVERY - 1 entries past its last snapshot, so the replay is the longest a quiet node can have. Then the same node is killed again, its store removed, and started empty: the process's start
 * without any recovery, to compare with.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ClusterClient } from "../deploy/cluster-client.js";
import { nodeCommandFor } from "../deploy/cluster-processes.js";
import type { Cluster } from "../deploy/cluster-file.js";
import type { LocalCluster } from "../deploy/local-cluster.js";
import { SNAPSHOT_EVERY } from "../runtime/host-record.js";
import { rmSync } from "node:fs";
import { settled, startPair, storeOf } from "./durable-pair.js";

export interface DurableRecovery {
  /** Log entries node b committed before it was killed (its history). */
  readonly history: number;
  /** From the spawn of the new process to its first answer to `status`. */
  readonly spawnToStatusMs: number;
  /** The same node started with an empty store (no recovery): the process's own start. */
  readonly freshSpawnToStatusMs: number;
  /** NodeHost.recover alone: the snapshot restored and the log replayed. */
  readonly replayMs: number;
  readonly replayedEntries: number;
}

/** Node `id` of `cluster` started in a process of its own, its output kept (it logs its recovery there). */
function startNode(cluster: Cluster, id: string): { readonly child: ChildProcess; readonly output: () => string } {
  const { cmd, args } = nodeCommandFor(cluster);
  const child = spawn(cmd, [...args, "node", "--cluster", cluster.file, "--id", id], { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stdout?.on("data", (b: Buffer) => (text += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (text += b.toString()));
  return { child, output: () => text };
}

async function untilStatus(client: ClusterClient, id: string, child: ChildProcess, output: () => string, withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node "${id}" exited (${child.exitCode}) while recovering:\n${output()}`);
    try {
      await client.status(id);
      return;
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r();
    child.once("exit", () => r());
    child.kill(signal);
  });
}

/** The recovery log line's figures (the daemon's, node-daemon.ts `recover`). */
async function replayLine(output: () => string, withinMs: number): Promise<{ readonly entries: number; readonly ms: number }> {
  const until = Date.now() + withinMs;
  for (;;) {
    const m = /\((\d+) log entries replayed in ([\d.]+) ms\)/.exec(output());
    if (m !== null) return { entries: Number(m[1]), ms: Number(m[2]) };
    if (Date.now() > until) throw new Error(`no recovery line in the node's output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Node b's store filled with about `history` pings, then topped up to SNAPSHOT_EVERY - 1 entries after its last
 * snapshot (its status says how many it has); its entries in all.
 */
async function driveHistory(c: ClusterClient, history: number): Promise<number> {
  await c.request("a", { kind: "pump", n: history }, { timeoutMs: 120_000 });
  await settled(c, ["a", "b"], 30_000);
  const tail = SNAPSHOT_EVERY - 1 - storeOf(await c.status("b")).logEntries;
  if (tail > 0) await c.request("a", { kind: "pump", n: tail }, { timeoutMs: 120_000 });
  await settled(c, ["a", "b"], 30_000);
  return storeOf(await c.status("b")).entries;
}

/** Node b killed with SIGKILL and started again: its new process, output and the ms from spawn to status. */
async function restart(local: LocalCluster, c: ClusterClient, b: ChildProcess, started: ChildProcess[]): Promise<{ readonly output: () => string; readonly ms: number; readonly child: ChildProcess }> {
  await exited(b, "SIGKILL");
  const t0 = performance.now();
  const node = startNode(local.cluster, "b");
  started.push(node.child);
  await untilStatus(c, "b", node.child, node.output, 60_000);
  return { output: node.output, ms: performance.now() - t0, child: node.child };
}

export async function measureRecovery(root: string, history: number): Promise<DurableRecovery> {
  let local: LocalCluster | undefined;
  let c: ClusterClient | undefined;
  const started: ChildProcess[] = [];
  try {
    local = await startPair(join(root, "recovery"), true);
    c = new ClusterClient(local.cluster);
    const entries = await driveHistory(c, history);
    const b = local.nodes.find((n) => n.id === "b");
    if (b === undefined) throw new Error("no node b");
    const recovered = await restart(local, c, b.child, started);
    const replay = await replayLine(recovered.output, 5_000);
    // The baseline: b's process started on an empty store (its old one removed while it is down).
    await exited(recovered.child, "SIGKILL");
    rmSync(join(local.cluster.storeDir ?? "", "b"), { recursive: true, force: true });
    const fresh = await restart(local, c, recovered.child, started);
    return { history: entries, spawnToStatusMs: recovered.ms, freshSpawnToStatusMs: fresh.ms, replayMs: replay.ms, replayedEntries: replay.entries };
  } finally {
    c?.close();
    await Promise.all(started.map((p) => exited(p, "SIGTERM")));
    await local?.stop();
  }
}
