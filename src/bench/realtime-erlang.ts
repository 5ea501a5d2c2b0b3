/**
 * The Erlang/OTP half of the realtime bench: the peer benchmark in ../shared/peers/erlang/ (the paper's experiment,
 * upgraded by OTP's hot code upgrade: sys:suspend / load / sys:change_code / sys:resume), run from a temporary copy
 * so that nothing is ever written beside its sources. Its README defines every figure; this module only builds it,
 * runs one VM per (variant, seed) in the rate200 mode (200 global reads/s, open loop, as the liveswap half) and
 * reads back the Erlang term each run appends to its results file.
 */
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describeError, LiveswapError } from "../core/errors.js";

/** The Erlang/OTP peer could not be built or run, or wrote what it should not; the message names the step. */
export class ErlangPeerError extends LiveswapError {
  readonly code = "ERLANG_PEER";
}

/** OTP's two ways: node by node from the far end with an operator's pause (rolling), or all replicas at once. */
export type ErlangVariant = "rolling" | "all";

/** One run's figures, named as the peer's driver names them (see its README, "What is measured"). */
export interface ErlangRun {
  readonly variant: ErlangVariant;
  readonly seed: number;
  readonly issued: number;
  readonly completed: number;
  readonly nullReads: number;
  readonly thrBefore: number;
  readonly thrDuring: number;
  readonly thrAfter: number;
  readonly doneDuring: number;
  readonly upgradeMs: number;
  readonly maxSuspMs: number;
  readonly maxLatMs: number;
  readonly writesDropped: number;
}

export type ErlangHalf =
  | { readonly kind: "ran"; readonly otp: string; readonly runs: readonly ErlangRun[] }
  | { readonly kind: "missing"; readonly why: string };

/** Where the peer lives: beside the repository, in the steering repo's shared/ (LIVESWAP_ERLANG_PEER overrides it). */
export function erlangPeerDir(): string {
  return process.env.LIVESWAP_ERLANG_PEER ?? resolve(import.meta.dirname, "../../../shared/peers/erlang");
}

const SOURCES = ["replica.erl", "driver.erl"] as const;

/** Why the Erlang half cannot run here (no erl/erlc, no peer sources), or undefined when it can. */
export function erlangMissing(peer = erlangPeerDir()): string | undefined {
  const tools = spawnSync("sh", ["-c", "command -v erl && command -v erlc"], { encoding: "utf8" });
  if (tools.status !== 0) return "erl/erlc are not installed (apt-get install -y erlang-base)";
  const absent = SOURCES.filter((f) => !existsSync(join(peer, f)));
  if (absent.length > 0) return `the Erlang/OTP peer is not at ${peer} (no ${absent.join(", ")}); set LIVESWAP_ERLANG_PEER to its folder`;
  return undefined;
}

/** The OTP release of the installed erl ("25"). */
function otpRelease(): string {
  const r = spawnSync("erl", ["-noshell", "-eval", "io:format(\"~s\", [erlang:system_info(otp_release)]), halt()."], { encoding: "utf8", timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim() : "?";
}

/** Run a command in `cwd`, bounded by `timeoutMs`; rejects with its stderr when it fails. */
function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => void (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new ErlangPeerError(`the Erlang peer: ${cmd} could not start (${describeError(e)}); is erlang-base installed?`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise();
      else reject(new ErlangPeerError(`the Erlang peer: ${cmd} ${args.join(" ")} ${signal !== null ? `was killed (${signal}) after ${timeoutMs} ms` : `exited ${String(code)}`}: ${stderr.trim().slice(0, 500)}`));
    });
  });
}

/** A figure of the run's result map (`#{completed => 1122, thr_after => 200.0, ...}`). */
function field(term: string, name: string): number {
  const m = new RegExp(`\\b${name} => (-?[0-9.]+(?:e[+-]?[0-9]+)?)`).exec(term);
  if (m === null) throw new ErlangPeerError(`the Erlang peer's result has no ${name}: ${term.slice(0, 300)}`);
  return Number(m[1]);
}

/** The runs of a results file: one `{run, Mode, Variant, Seed, #{...}}.` term each. */
export function parseErlangResults(text: string): ErlangRun[] {
  const terms = text.split(/\}\.\s*(?:\n|$)/).filter((t) => t.includes("{run,"));
  return terms.map((term) => {
    const head = /\{run,\s*"([^"]+)",\s*"([^"]+)",\s*(\d+),/.exec(term);
    if (head === null) throw new ErlangPeerError(`not a run of the Erlang peer: ${term.slice(0, 200)}`);
    return {
      variant: head[2] as ErlangVariant,
      seed: Number(head[3]),
      issued: field(term, "issued"),
      completed: field(term, "completed"),
      nullReads: field(term, "null_reads"),
      thrBefore: field(term, "thr_before"),
      thrDuring: field(term, "thr_during"),
      thrAfter: field(term, "thr_after"),
      doneDuring: field(term, "done_during"),
      upgradeMs: field(term, "upgrade_ms"),
      maxSuspMs: field(term, "max_susp_ms"),
      maxLatMs: field(term, "max_lat_ms"),
      writesDropped: field(term, "writes_dropped"),
    };
  });
}

export interface ErlangOptions {
  readonly variants: readonly ErlangVariant[];
  readonly seeds: readonly number[];
  /** The rolling variant's operator pause between two replicas (the peer's PAUSE_MS; its default 100). */
  readonly pauseMs?: number;
  readonly peer?: string;
  /** Global reads a second (the peer's rate<R> mode; default 200). */
  readonly rate?: number;
  readonly onRun?: (variant: ErlangVariant, seed: number) => void;
}

/** Build the peer in a temporary copy and run it: rate<R> mode (200 by default), each variant and seed in a fresh VM. */
export async function runErlangHalf(o: ErlangOptions): Promise<ErlangHalf> {
  const peer = o.peer ?? erlangPeerDir();
  const missing = erlangMissing(peer);
  if (missing !== undefined) return { kind: "missing", why: missing };
  if (o.variants.length === 0 || o.seeds.length === 0) return { kind: "ran", otp: otpRelease(), runs: [] };
  const dir = mkdtempSync(join(tmpdir(), "liveswap-erlang-peer-"));
  try {
    for (const f of SOURCES) copyFileSync(join(peer, f), join(dir, f));
    mkdirSync(join(dir, "ebin"));
    mkdirSync(join(dir, "v2"));
    await run("erlc", ["-Werror", "-o", "ebin", "replica.erl", "driver.erl"], dir, {}, 120_000);
    await run("erlc", ["-Werror", "-DV2", "-o", "v2", "replica.erl"], dir, {}, 120_000);
    const results = join(dir, "results.txt");
    const env = { RESULTS: results, PAUSE_MS: String(o.pauseMs ?? 100) };
    for (const variant of o.variants) {
      for (const seed of o.seeds) {
        o.onRun?.(variant, seed);
        // A run is 3 s of warm-up, the upgrade, 2 s and 1 s of drain: a minute is far beyond it.
        await run("erl", ["-noshell", "-pa", "ebin", "-run", "driver", "run", variant, `rate${o.rate ?? 200}`, String(seed), "-s", "init", "stop"], dir, env, 60_000);
      }
    }
    return { kind: "ran", otp: otpRelease(), runs: parseErlangResults(readFileSync(results, "utf8")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
