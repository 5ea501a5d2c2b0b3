/**
 * The machine's own tail for a step of fixed work: a process alone on a CPU (the one the swap-pause benchmark gives
 * its measured node) runs the same amount of plain computation again and again, idle between, and times each on the
 * wall clock. Nothing of liveswap runs in it, so a slow repetition is the platform's (a virtual CPU descheduled by
 * its host, an interrupt, frequency), and its p99 is a floor under any wall-clock p99 measured on that CPU.
 */
import { spawn } from "node:child_process";
import { latencyStats, type LatencyStats } from "./disruption.js";

export interface NoiseFloor {
  /** The work of one step, as its median wall time (ms). */
  readonly workMs: number;
  readonly steps: LatencyStats;
}

/** The child: calibrates a loop to `workMs`, then `n` steps of exactly that many iterations, `gapMs` apart. */
const CHILD = String.raw`
const [workMs, n, gapMs] = process.argv.slice(1).map(Number);
let sink = 0;
const spin = (k) => { let x = 0; for (let i = 0; i < k; i++) x = (x * 31 + i) % 1000003; sink += x; };
let k = 1000;
for (;;) { const t0 = performance.now(); spin(k); const dt = performance.now() - t0; if (dt > 20) { k = Math.round(k * workMs / dt); break; } k *= 2; }
const out = [];
const step = () => { const t0 = performance.now(); spin(k); out.push(performance.now() - t0); if (out.length < n) setTimeout(step, gapMs); else process.stdout.write(JSON.stringify({ out, sink }) + "\n"); };
setTimeout(step, gapMs);
`;

/**
 * `n` steps of `workMs` of computation in a child pinned to `cpu` (Linux taskset; unpinned elsewhere), `gapMs`
 * apart. Undefined when the child cannot run.
 */
export async function measureNoiseFloor(o: { readonly cpu: string | undefined; readonly workMs: number; readonly n: number; readonly gapMs: number }): Promise<NoiseFloor | undefined> {
  const args = ["-e", CHILD, String(o.workMs), String(o.n), String(o.gapMs)];
  const [cmd, argv]: [string, string[]] = o.cpu !== undefined && process.platform === "linux" ? ["taskset", ["-c", o.cpu, process.execPath, ...args]] : [process.execPath, args];
  // Bounded: the steps and their gaps, ten times over, plus the calibration and the start.
  const limitMs = 10 * o.n * (o.workMs + o.gapMs) + 10_000;
  const text = await new Promise<string | undefined>((resolve) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "ignore"] });
    const limit = setTimeout(() => child.kill("SIGKILL"), limitMs);
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.on("error", () => {
      clearTimeout(limit);
      resolve(undefined);
    });
    // "close", not "exit": the child's stdout is read to its end.
    child.on("close", (code) => {
      clearTimeout(limit);
      resolve(code === 0 ? out : undefined);
    });
  });
  const times = text === undefined ? undefined : stepTimes(text);
  if (times === undefined || times.length === 0) return undefined;
  const stats = latencyStats(times);
  return { workMs: stats.p50, steps: stats };
}

/** The child's step times, or undefined if its output is not what it writes. */
function stepTimes(text: string): number[] | undefined {
  try {
    const out = (JSON.parse(text) as { out?: unknown }).out;
    return Array.isArray(out) && out.every((x) => typeof x === "number") ? (out as number[]) : undefined;
  } catch {
    return undefined;
  }
}
