/**
 * A core of its own for the process a benchmark measures, as a node has on a machine of its own in production: on a
 * small shared machine (this one has 2 cores for 3 node processes and the client), a node is otherwise descheduled
 * in the middle of a step whenever another process wakes, and a wall-clock tail measures the scheduler, not the node.
 * Linux only, through util-linux's taskset (every thread of each process: V8's GC helpers included). Benchmarks only.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface CpuIsolation {
  /** Whether the measured process has a CPU to itself. */
  readonly isolated: boolean;
  /** The CPU the measured process has to itself (taskset's list syntax), when isolated. */
  readonly cpu?: string;
  /** What was done, or why nothing was. */
  readonly description: string;
  /** Give every process pinned here (this one included) all CPUs again. */
  restore(): void;
}

const NOTHING_TO_RESTORE = (): void => {};

/** Nothing pinned (isolation not asked for). */
export const NOT_ISOLATED: CpuIsolation = { isolated: false, description: "not isolated (isolate: false)", restore: NOTHING_TO_RESTORE };

/** Put every thread of process `pid` on `cpus` (taskset's list syntax); throws where taskset fails. */
export function pin(pid: number, cpus: string): void {
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
}

/**
 * Put `measured` alone on the last CPU and `others` (and this process, the benchmark's client) on the rest. Refuses
 * quietly (isolated: false, and says why) on one CPU, off Linux, or without taskset.
 */
export function isolateCpu(measured: number, others: readonly number[]): CpuIsolation {
  const not = (why: string): CpuIsolation => ({ isolated: false, description: `not isolated: ${why}`, restore: NOTHING_TO_RESTORE });
  const split = splitCpus();
  if (typeof split === "string") return not(split);
  const { all, last, rest } = split;
  const pinned = [measured, ...others, process.pid];
  try {
    pin(measured, last);
    for (const pid of [...others, process.pid]) pin(pid, rest);
  } catch (e) {
    for (const pid of pinned) tryPin(pid, all);
    return not(`taskset failed (${e instanceof Error ? e.message.split("\n")[0] : String(e)}); install util-linux`);
  }
  return {
    isolated: true,
    cpu: last,
    // Alone among this benchmark's processes: whatever else runs on the machine is not moved.
    description: `the measured node on CPU ${last}, the benchmark's other processes (nodes, client) on CPU ${rest} (taskset)`,
    restore: () => {
      for (const pid of pinned) tryPin(pid, all);
    },
  };
}

/** A process may have exited already: nothing to give back then. */
function tryPin(pid: number, cpus: string): void {
  try {
    pin(pid, cpus);
  } catch {
    // gone
  }
}

/** The CPU isolateCpu gives the measured process (the last this process may use), or undefined off Linux or on one CPU. */
export function isolatedCpu(): string | undefined {
  const split = splitCpus();
  return typeof split === "string" ? undefined : split.last;
}

/**
 * This process's CPUs (a container's cpuset need not start at 0: `all` is given back as it was) split into the last,
 * for the measured process, and the rest; or why there is nothing to split.
 */
function splitCpus(): { readonly all: string; readonly last: string; readonly rest: string } | string {
  if (process.platform !== "linux") return `taskset is Linux's (this is ${process.platform})`;
  const all = allowedCpus();
  if (all === undefined) return "no /proc/self/status";
  const cpus = expand(all);
  if (cpus.length < 2) return "one CPU only";
  return { all, last: String(cpus[cpus.length - 1]), rest: cpus.slice(0, -1).join(",") };
}

/** This process's allowed CPUs as Linux lists them ("0-1", "2,4-5"). */
function allowedCpus(): string | undefined {
  try {
    return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

/** "0-2,5" -> [0, 1, 2, 5]. */
export function expand(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(",")) {
    const [lo, hi] = part.split("-").map(Number);
    if (lo === undefined || !Number.isInteger(lo)) continue;
    for (let c = lo; c <= (hi !== undefined && Number.isInteger(hi) ? hi : lo); c++) out.push(c);
  }
  return out;
}
